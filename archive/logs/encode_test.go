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

// TestAppendMatchesEncodingJSON: the hand-written lines are byte for byte what
// encoding/json writes for the same values.
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
	msg := "bafy…msg"
	aud := "did:key:aud"
	origin := "bafy…origin"
	c := Common{Seq: 42, TS: -5, Date: "2026-06-01", Message: &msg, Task: "t", Iss: strs[3], Aud: &aud,
		Sub: "s", Cmd: "/dag/put", Op: "put", Out: json.RawMessage(`{"ok":{"status":"done"}}`), Status: "done"}
	for _, r := range []Receipt{
		{Type: TypeReceipt, Receipt: "r", Ran: "i", Path: "/a/b/c", Subject: "a", Collection: "b", Key: "c", Common: c, Origin: &origin, Fx: []string{"x", strs[2]}},
		{Type: TypeReceipt, Common: Common{Out: json.RawMessage(`{"error":{"message":"m","name":"N"}}`)}, Fx: []string{}},
	} {
		if got, want := r.appendJSON(nil), stdJSON(t, r); !bytes.Equal(got, want) {
			t.Fatalf("receipt line\n got %s\nwant %s", got, want)
		}
	}
	w := Workflow{Type: TypeWorkflow, Invocation: "i", Receipt: "r", Path: "/a/b/c", Subject: "a", Collection: "b", Key: "c", Common: c, Args: json.RawMessage(`{"path":"b/c"}`)}
	if got, want := w.appendJSON(nil), stdJSON(t, w); !bytes.Equal(got, want) {
		t.Fatalf("workflow line\n got %s\nwant %s", got, want)
	}
}
