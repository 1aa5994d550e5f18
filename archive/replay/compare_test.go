package replay

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
)

// TestCompare: Compare finds the first key that differs (value, missing, extra) across
// page boundaries, ignores the Skipped prefixes (even a page holding nothing else), and
// answers nil for stores that hold the same keys and values.
func TestCompare(t *testing.T) {
	ctx := context.Background()
	common := map[string]string{}
	for i := range 2*comparePage + 5 {
		common[fmt.Sprintf("k/%05d", i)] = fmt.Sprint(i)
	}
	skippedOnly := map[string]string{}
	for i := range comparePage + 3 {
		skippedOnly[fmt.Sprintf("archive/%05d", i)] = "x"
	}
	skippedOnly["outbox/1"] = "a"
	skippedOnly["logs/pos"] = "b"
	entryKey := dag.EntryPrefix + "did:key:z6Mk/upload/a"
	tests := []struct {
		name      string
		want, got []map[string]string
		diff      string // Diff.Key; "" for none
		wantV     string // prefix of Diff.Want
		gotV      string // prefix of Diff.Got
	}{
		{name: "same", want: []map[string]string{common}, got: []map[string]string{common}},
		{name: "skipped prefixes ignored", want: []map[string]string{common, skippedOnly}, got: []map[string]string{common, {"logs/pos": "c"}}},
		{name: "value differs", want: []map[string]string{common}, got: []map[string]string{common, {"k/01500": "other"}},
			diff: "k/01500", wantV: "4 bytes sha256:", gotV: "5 bytes sha256:"},
		{name: "missing in got", want: []map[string]string{common, skippedOnly, {"z": "1"}}, got: []map[string]string{common},
			diff: "z", wantV: "1 bytes sha256:", gotV: "(none)"},
		{name: "extra in got", want: []map[string]string{common}, got: []map[string]string{common, {"k/00002x": "1"}},
			diff: "k/00002x", wantV: "(none)", gotV: "1 bytes sha256:"},
		{name: "entry record", want: []map[string]string{{entryKey: "junk"}}, got: []map[string]string{{entryKey: "junk2"}},
			diff: entryKey, wantV: "(undecodable", gotV: "(undecodable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, g := fill(t, tc.want...), fill(t, tc.got...)
			d, err := Compare(ctx, w, g)
			if err != nil {
				t.Fatal(err)
			}
			if tc.diff == "" {
				if d != nil {
					t.Fatalf("Compare found %s, want no difference", d)
				}
				return
			}
			if d == nil {
				t.Fatalf("Compare found no difference, want key %q", tc.diff)
			}
			if d.Key != tc.diff || !strings.HasPrefix(d.Want, tc.wantV) || !strings.HasPrefix(d.Got, tc.gotV) {
				t.Fatalf("Compare found key %q (want %q, got %q), want key %q (%q…, %q…)", d.Key, d.Want, d.Got, tc.diff, tc.wantV, tc.gotV)
			}
			if strings.HasPrefix(d.Key, dag.EntryPrefix) && d.Path == "" {
				t.Errorf("entry key %q described without a path", d.Key)
			}
		})
	}
}

// fill returns a memory store holding the union of maps (later ones win).
func fill(t *testing.T, maps ...map[string]string) kv.Store {
	t.Helper()
	s := mem.New()
	err := s.Update(context.Background(), func(tx kv.Tx) error {
		for _, m := range maps {
			for k, v := range m {
				if err := tx.Put([]byte(k), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
