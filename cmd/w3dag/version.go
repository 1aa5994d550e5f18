package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// runVersion implements `w3dag version` and `w3dag --version`: the main module's version and,
// when the binary was built from a VCS checkout, the revision, its time and whether the tree
// was modified, then the Go version.
func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("w3dag version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: w3dag version [--json]   (or w3dag --version)")
		fs.PrintDefaults()
	}
	asJSON := fs.Bool("json", false, "print JSON instead of readable text")
	if _, code, ok := parseArgs(fs, args, 0, 0); !ok {
		return code
	}
	bi, _ := debug.ReadBuildInfo() // nil when the binary carries none
	v := versionOf(bi)
	if *asJSON {
		b, _ := json.Marshal(v)
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	fmt.Fprint(stdout, v.String())
	return 0
}

// buildVersion is what `w3dag version` reports.
type buildVersion struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Time     string `json:"time,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

// versionOf reads bi (nil when the binary carries no build information).
func versionOf(bi *debug.BuildInfo) buildVersion {
	v := buildVersion{Module: "github.com/w3dag/w3dag", Version: "(unknown)", Go: runtime.Version()}
	if bi == nil {
		return v
	}
	if bi.Main.Path != "" {
		v.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	if bi.GoVersion != "" {
		v.Go = bi.GoVersion
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the readable form: "w3dag <version>", then a line for each of revision (with
// "(modified)" when the tree was), time and Go.
func (v buildVersion) String() string {
	s := fmt.Sprintf("w3dag %s\n", v.Version)
	if v.Revision != "" {
		mod := ""
		if v.Modified {
			mod = " (modified)"
		}
		s += fmt.Sprintf("revision %s%s\n", v.Revision, mod)
	}
	if v.Time != "" {
		s += fmt.Sprintf("time     %s\n", v.Time)
	}
	return s + fmt.Sprintf("go       %s\n", v.Go)
}
