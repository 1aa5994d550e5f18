package client

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/message"
)

// seeds adds the testdata files matching pattern to f's corpus.
func seeds(f *testing.F, pattern string) {
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds %s: %v", pattern, err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

// FuzzReadEvents feeds arbitrary bytes to the SSE parser: it must not panic, and every
// event's receipt, when one was recognised, has a defined CID.
func FuzzReadEvents(f *testing.F) {
	seeds(f, "events-*.txt")
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = ReadEvents(bytes.NewReader(data), func(ev Event, _ time.Duration) error {
			if ev.Receipt != nil && !ev.ReceiptCID.Defined() {
				t.Fatalf("event with a receipt but no CID: %+v", ev)
			}
			return nil
		})
	})
}

// FuzzDecodeTokens feeds arbitrary bytes to the decoder of GET /receipts replies.
func FuzzDecodeTokens(f *testing.F) {
	seeds(f, "reply-*.car")
	seeds(f, "receipt.cbor")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, toks, err := decodeTokens(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidResponse) {
				t.Fatalf("error %v does not wrap ErrInvalidResponse", err)
			}
			return
		}
		for c, tok := range toks {
			if !tok.CID.Equals(c) {
				t.Fatalf("token %s filed under %s", tok.CID, c)
			}
		}
	})
}

// FuzzParsePage decodes arbitrary DAG-CBOR as a select result whose page block is the same
// bytes.
func FuzzParsePage(f *testing.F) {
	f.Add([]byte{0xa1, 0x67, 'e', 'n', 't', 'r', 'i', 'e', 's', 0x80})
	seeds(f, "receipt.cbor")
	f.Fuzz(func(t *testing.T, data []byte) {
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := (dagcbor.DecodeOptions{AllowLinks: true}).Decode(nb, bytes.NewReader(data)); err != nil {
			return
		}
		blk := message.NewBlock(message.CodecDAGCBOR, data)
		p, err := ParsePage(nb.Build(), map[cid.Cid][]byte{blk.CID: data})
		if err == nil && p == nil {
			t.Fatal("no page and no error")
		}
		if err != nil && !errors.Is(err, ErrInvalidResponse) {
			t.Fatalf("error %v does not wrap ErrInvalidResponse", err)
		}
	})
}

func TestSeedsDecode(t *testing.T) {
	_, toks, err := decodeTokens(mustRead(t, "testdata/reply-ok.car"))
	if err != nil || len(toks) != 1 {
		t.Fatalf("reply-ok.car: %d tokens, %v", len(toks), err)
	}
	if _, _, err := decodeTokens(mustRead(t, "testdata/reply-garbage.car")); !errors.Is(err, ErrInvalidResponse) {
		t.Fatalf("reply-garbage.car: %v", err)
	}
	if _, _, err := decodeTokens(mustRead(t, "testdata/reply-truncated.car")); !errors.Is(err, ErrInvalidResponse) {
		t.Fatalf("reply-truncated.car: %v", err)
	}
	var n int
	err = ReadEvents(strings.NewReader(string(mustRead(t, "testdata/events-envelope.txt"))), func(ev Event, _ time.Duration) error {
		n++
		if ev.Receipt == nil || ev.Receipt.Token == nil {
			t.Errorf("envelope event without receipt: %+v", ev)
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("events-envelope.txt: %d events, %v", n, err)
	}
	if err := ReadEvents(bytes.NewReader(mustRead(t, "testdata/events-broken.txt")), func(Event, time.Duration) error { return nil }); err != nil {
		t.Fatalf("events-broken.txt: %v", err)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
