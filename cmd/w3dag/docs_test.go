package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/internal/fixtures"
)

// TestConfigurationDocumented checks that docs/configuration.md names every flag of every
// command that declares its flags with the flag package, and the flag's W3DAG_* twin.
func TestConfigurationDocumented(t *testing.T) {
	clearEnv(t)
	doc, err := os.ReadFile(filepath.Join(fixtures.Root(t), "docs", "configuration.md"))
	if err != nil {
		t.Fatal(err)
	}
	flagLine := regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`)
	checked := 0
	for name := range commands {
		_, stderr, _ := cli(t, name, "-h")
		for _, m := range flagLine.FindAllStringSubmatch(stderr, -1) {
			flag := m[1]
			for _, want := range []string{"`--" + flag + "`", "`" + envName(flag) + "`"} {
				if !strings.Contains(string(doc), want) {
					t.Errorf("docs/configuration.md does not mention %s (flag of `w3dag %s`)", want, name)
				}
			}
			checked++
		}
	}
	if checked < 30 {
		t.Errorf("only %d flags found in the commands' usage; the test is not reading them", checked)
	}
}
