package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestBenchCPUProfile runs bench against a real service, single and batched, and checks
// its summary and that --cpuprofile writes a profile (gzipped protobuf, what go tool pprof
// reads) of bench's own process.
func TestBenchCPUProfile(t *testing.T) {
	clearEnv(t)
	url := startServer(t)
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	t.Setenv("W3DAG_URL", url)
	for _, perMessage := range []string{"1", "7"} {
		prof := filepath.Join(t.TempDir(), "bench.pprof")
		out, errb, code := cli(t, "bench", "--count", "30", "--concurrency", "3", "--per-message", perMessage,
			"--cpuprofile", prof, "--json")
		if code != 0 {
			t.Fatalf("bench --per-message %s: exit %d: %s", perMessage, code, errb)
		}
		var res benchResult
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("bench --json printed %q: %v", out, err)
		}
		if res.Invocations != 30 || res.ErrorReceipts != 0 || res.FailedMessages != 0 || !res.PreSigned {
			t.Fatalf("bench --per-message %s: %+v", perMessage, res)
		}
		data, err := os.ReadFile(prof)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) < 2 || !bytes.Equal(data[:2], []byte{0x1f, 0x8b}) {
			t.Fatalf("--cpuprofile wrote %d bytes, not a gzipped profile", len(data))
		}
	}
	if _, errb, code := cli(t, "bench", "--count", "1", "--cpuprofile", filepath.Join(t.TempDir(), "no", "such", "dir")); code == 0 {
		t.Fatal("bench with an unwritable --cpuprofile succeeded")
	} else if !bytes.Contains([]byte(errb), []byte("--cpuprofile")) {
		t.Fatalf("unwritable --cpuprofile: %s", errb)
	}
}
