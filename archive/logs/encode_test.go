package logs

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func stdJSON(t *testing.T, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestAppendMatchesEncodingJSON: the strings of the hand-written lines are byte for byte
// what encoding/json writes for them (TestLinesMatchEncodingJSON checks whole lines).
func TestAppendMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", `quote " and \ back`, "nl\n cr\r tab\t nul\x00 esc\x1b del\x7f",
		"<html>&", "é ünï 世界", "\u2028\u2029", "bad \xff\xfe utf8 \xc3", "did:key:z6Mk…/store/bag"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		strs = append(strs, string(b))
	}
	for _, s := range strs {
		got := appendString(nil, s)
		want := bytes.TrimSuffix(stdJSON(t, s), []byte("\n"))
		if !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	}
	for _, s := range strs {
		got := appendString(nil, []byte(s))
		want := bytes.TrimSuffix(stdJSON(t, s), []byte("\n"))
		if !bytes.Equal(got, want) {
			t.Fatalf("%q as bytes: got %s, want %s", s, got, want)
		}
		// An error's out is written as json.Marshal writes it: HTML escaping on.
		got = appendQuoted(nil, s, quoteHTML)
		if want, _ = json.Marshal(s); !bytes.Equal(got, want) {
			t.Fatalf("%q HTML-escaped: got %s, want %s", s, got, want)
		}
	}
}
