package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false},
		{"1763700000123", 1763700000123, false},
		{"2026-11-01T00:00:00Z", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), false},
		{"2026-11-01T01:00:00.5+01:00", time.Date(2026, 11, 1, 0, 0, 0, 500e6, time.UTC).UnixMilli(), false},
		{"2026-11-01", 0, true},
		{"yesterday", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := parseTime(tt.in)
		if tt.err {
			if !errors.Is(err, errTime) {
				t.Errorf("%q: got %v, want errTime", tt.in, err)
			}
			continue
		}
		if err != nil || got.UnixMilli() != tt.want {
			t.Errorf("%q: %v %v, want %d", tt.in, got.UnixMilli(), err, tt.want)
		}
	}
	if got := monthStart(time.Date(2026, 11, 21, 5, 6, 7, 8, time.FixedZone("x", 3600*5))); !got.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("monthStart: %s", got)
	}
}

// TestUsageCommand stores a CAR, removes it and stores it again against an in-process
// service, and checks the report `w3dag usage` computes from the space's usage records.
func TestUsageCommand(t *testing.T) {
	clearEnv(t)
	url := startServer(t)
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	t.Setenv("W3DAG_URL", url)
	out, stderr, code := cli(t, "space", "new")
	if code != 0 {
		t.Fatalf("space new: %d %s", code, stderr)
	}
	space := strings.TrimSpace(out)
	file := filepath.Join(t.TempDir(), "a.car")
	data := make([]byte, 4321)
	fillCAR(t, data)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	link := carOf(data)
	size := int64(len(data))
	store := func() {
		t.Helper()
		var so, se bytes.Buffer
		if code := runStore(context.Background(), []string{file}, &so, &se); code != 0 {
			t.Fatalf("store: exit %d: %s", code, se.String())
		}
	}
	type report struct {
		Space   string
		From    int64
		To      int64
		Initial int64
		Final   int64
		ByteMs  string
		Events  []struct {
			Key, Blob, Cause, Receipt string
			Delta, TS                 int64
		}
	}
	usage := func(args ...string) report {
		t.Helper()
		out, stderr, code := cli(t, append([]string{"usage", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("usage %v: exit %d: %s", args, code, stderr)
		}
		var r report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("usage --json printed %q: %v", out, err)
		}
		return r
	}

	store()
	r := usage("--from", "0", "--to", fmt.Sprint(time.Now().Add(time.Hour).UnixMilli()))
	if r.Space != space || r.Initial != 0 || r.Final != size || len(r.Events) != 1 {
		t.Fatalf("after store: %+v", r)
	}
	added := r.Events[0]
	if added.Blob != link.String() || added.Delta != size || added.Cause == "" || added.Receipt == "" {
		t.Fatalf("event %+v", added)
	}
	// The window [added.TS, added.TS+1000) holds size bytes for 1000 ms.
	r = usage("--from", fmt.Sprint(added.TS), "--to", fmt.Sprint(added.TS+1000))
	if r.ByteMs != fmt.Sprint(size*1000) || r.Initial != 0 || r.Final != size {
		t.Fatalf("window of 1 s: %+v", r)
	}
	// The default window is this month so far: it has the store (unless the month just
	// turned, when the store was last month).
	if r := usage(); r.Final != size {
		t.Fatalf("default window: %+v", r)
	}

	if _, stderr, code := cli(t, "rm", "store/"+link.String()); code != 0 {
		t.Fatalf("rm: %s", stderr)
	}
	store() // stored again: counted again
	to := time.Now().Add(time.Hour).UnixMilli()
	r = usage("--from", "0", "--to", fmt.Sprint(to))
	if len(r.Events) != 3 || r.Final != size {
		t.Fatalf("after rm and store: %+v", r)
	}
	removed, again := r.Events[1], r.Events[2]
	if removed.Delta != -size || again.Delta != size || removed.TS < added.TS || again.TS < removed.TS {
		t.Fatalf("events %+v", r.Events)
	}
	want := new(big.Int).SetInt64(size * ((removed.TS - added.TS) + (to - again.TS)))
	if r.ByteMs != want.String() {
		t.Fatalf("byte·ms %s, want %s", r.ByteMs, want)
	}

	// The counters read over HTTP with dag/get on /<space>/metrics/<name>.
	for name, want := range map[string]int64{"store/add-total": 2, "store/remove-total": 1, "store/add-size-total": 2 * size} {
		out, stderr, code := cli(t, "get", "metrics/"+name+"/value", "--json")
		if code != 0 || !strings.Contains(out, fmt.Sprintf(`"value":%d}`, want)) {
			t.Errorf("get metrics/%s: exit %d %q %q, want value %d", name, code, out, stderr, want)
		}
	}
	// Text output.
	out, stderr, code = cli(t, "usage", "--from", "0", "--to", fmt.Sprint(to))
	if code != 0 || !strings.Contains(out, "final    "+fmt.Sprint(size)+" bytes") || !strings.Contains(out, "events   3") || !strings.Contains(out, link.String()) {
		t.Fatalf("text: %d %q %q", code, out, stderr)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--from", "yesterday"}, 2, "--from"},
		{[]string{"--to", "x"}, 2, "--to"},
		{[]string{"--from", "10", "--to", "10"}, 2, "before"},
		{[]string{"--space", "did:web:example.com"}, 2, "did:key"},
		{[]string{"extra"}, 2, "usage:"},
	} {
		_, stderr, code := cli(t, append([]string{"usage"}, tc.args...)...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("usage %q: exit %d %q; want %d mentioning %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
