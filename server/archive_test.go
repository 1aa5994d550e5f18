package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
)

// archivedBytes is everything the archive keeps: the bytes of every blob and of every kv
// value under its prefixes.
func archivedBytes(t *testing.T, blobs blob.Store, store kv.Store) int64 {
	t.Helper()
	ctx := context.Background()
	var n int64
	if err := blobs.List(ctx, "", func(i blob.Info) error { n += i.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{archive.KVPrefix, archive.IndexPrefix} {
		if err := store.View(ctx, func(tx kv.Tx) error {
			return tx.Scan(kv.ScanOptions{Start: []byte(p), End: kv.PrefixEnd([]byte(p))}, func(k, v []byte) error {
				n += int64(len(k) + len(v))
				return nil
			})
		}); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// forge returns tok with one byte of its signature changed: a token that decodes but
// whose signature does not verify.
func forge(t *testing.T, tok *ucan.Token) *ucan.Token {
	t.Helper()
	raw := append([]byte(nil), tok.Raw...)
	raw[10] ^= 0xff // inside the 64-byte signature, after the envelope's array and bytes heads
	f, err := ucan.Decode(raw)
	if err != nil {
		t.Fatalf("forged token does not decode: %v", err)
	}
	return f
}

// TestArchiveWhatRan: the archive flood of issue 10 (a forged signature plus 9,000
// unrelated blocks, 3.2 MB archived a request before) now archives nothing (400: the
// blocks are not used by any invocation); a message whose every invocation is refused
// leaves only a small refusal record; a message in which anything runs is archived whole.
func TestArchiveWhatRan(t *testing.T) {
	ctx := context.Background()
	store := kvmem.New()
	var arch *archive.Archive
	h := newHarness(t, harnessOptions{archive: func(_ *dag.Engine, blobs blob.Store) Archive {
		arch = archive.New(blobs, archive.Options{Outbox: store})
		t.Cleanup(func() { arch.Close() })
		return arch
	}})
	forged := forge(t, h.put("a", "forged"))

	// The flood.
	var unrelated []*ucan.Token
	for range 9000 {
		unrelated = append(unrelated, delegate(t, h.space, h.space.DID(), h.space.DID(), "/dag/get"))
	}
	flood := encode(t, []*ucan.Token{forged}, unrelated...)
	resp := h.post(message.ContentTypeCAR, flood)
	checkJSONError(t, resp, http.StatusBadRequest, NameMalformed)
	if n := archivedBytes(t, h.blobs, store); n != 0 {
		t.Fatalf("a %d-byte flood archived %d bytes, want 0", len(flood), n)
	}

	// Every invocation refused: a record, not the message.
	body := encode(t, []*ucan.Token{forged})
	resp = h.post(message.ContentTypeCAR, body)
	reply := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("forged invocation: %d %s", resp.StatusCode, reply)
	}
	rcpt := h.replyReceipts(reply, []*ucan.Token{forged})[forged.CID]
	if rcpt.Out.Err == nil || rcpt.Out.Err.Name != ucan.InvalidSignature {
		t.Fatalf("forged invocation's receipt: %+v", rcpt.Out)
	}
	msg := message.CID(body)
	if ok, err := arch.Has(ctx, msg); ok || err != nil {
		t.Fatalf("refused message archived whole: %v, %v", ok, err)
	}
	rec, err := arch.Refused(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Size != len(body) || rec.Invocations != 1 || rec.Sender != h.space.DID() || fmt.Sprint(rec.Refusals) != "["+ucan.InvalidSignature+"]" {
		t.Fatalf("refusal record %+v", rec)
	}
	h.srv.Wait() // no reply is archived for it either
	if _, err := arch.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := archivedBytes(t, h.blobs, store); n > 512 {
		t.Fatalf("a refused %d-byte message archived %d bytes, want at most 512", len(body), n)
	}

	// One invocation runs: the whole message is archived, refusals and all.
	mixed := encode(t, []*ucan.Token{forged, h.put("b", "real")})
	resp = h.post(message.ContentTypeCAR, mixed)
	if reply := readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("mixed message: %d %s", resp.StatusCode, reply)
	}
	if got, err := arch.Get(ctx, message.CID(mixed)); err != nil || len(got) != len(mixed) {
		t.Fatalf("mixed message archived: %d bytes, %v", len(got), err)
	}
	if _, err := arch.Refused(ctx, message.CID(mixed)); !errors.Is(err, archive.ErrNotFound) {
		t.Fatalf("refusal record of a message that ran: %v", err)
	}
}
