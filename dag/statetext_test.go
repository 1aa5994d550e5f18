package dag_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/w3dag/w3dag/dag"
)

// StateText makes text a state can hold: valid UTF-8, cut at a character boundary to the
// limit.
func TestStateText(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		limit    int
		want     string
	}{
		{"short", "fine", 10, "fine"},
		{"at the limit", "abcd", 4, "abcd"},
		{"over it", "abcdef", 4, "abcd"},
		{"invalid sequences", "a\xffb\xfe\xfdc", 100, "a\uFFFDb\uFFFDc"},
		{"cut inside a character", "ab€", 4, "ab"},
		{"cut after a character", "ab€", 5, "ab€"},
		{"invalid, then cut", "ab\xff", 4, "ab"},
		{"zero limit", "abc", 0, ""},
		{"negative limit", "abc", -1, ""},
		{"empty", "", 4, ""},
	} {
		got := dag.StateText(tc.in, tc.limit)
		if got != tc.want || !utf8.ValidString(got) || len(got) > max(tc.limit, 0) {
			t.Errorf("%s: StateText(%q, %d) = %q, want %q", tc.name, tc.in, tc.limit, got, tc.want)
		}
	}
	if got := dag.StateText(strings.Repeat("€", 1000), 1000); len(got) != 999 || !utf8.ValidString(got) {
		t.Errorf("1,000 euro signs cut to 1,000 bytes: %d bytes, valid %v; want 333 signs", len(got), utf8.ValidString(got))
	}
}
