package ucan

import (
	"fmt"
	"strings"
)

// ValidateCommand checks the shape of a command: it begins with "/", has no trailing slash
// (except "/" itself), no empty segments, and is lower case.
func ValidateCommand(cmd string) error {
	switch {
	case cmd == "":
		return fmt.Errorf("command is empty")
	case cmd[0] != '/':
		return fmt.Errorf("command %q does not begin with /", cmd)
	case cmd == "/":
		return nil
	case strings.HasSuffix(cmd, "/"):
		return fmt.Errorf("command %q has a trailing slash", cmd)
	case strings.Contains(cmd, "//"):
		return fmt.Errorf("command %q has an empty segment", cmd)
	case strings.ToLower(cmd) != cmd:
		return fmt.Errorf("command %q is not lower case", cmd)
	}
	return nil
}

// CommandCovers reports whether a delegation of parent grants child: "/" covers everything,
// otherwise parent must equal child or be a whole-segment prefix of it ("/crypto" covers
// "/crypto/sign" but not "/cryptocurrency").
func CommandCovers(parent, child string) bool {
	if parent == "/" {
		return strings.HasPrefix(child, "/")
	}
	if !strings.HasPrefix(child, parent) {
		return false
	}
	return len(child) == len(parent) || child[len(parent)] == '/'
}
