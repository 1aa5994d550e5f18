package archive

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/kv"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
)

func TestArchiveInvocation(t *testing.T) {
	ctx := context.Background()
	inv := message.Sum(message.CodecDAGCBOR, []byte("an invocation"))
	raw := []byte("an invocation")
	cases := []struct {
		name   string
		opts   func(kv.Store) Options
		direct bool // Put writes blob storage
		err    bool
	}{
		{name: "outbox", opts: func(s kv.Store) Options { return Options{Outbox: s} }},
		{name: "direct", opts: func(s kv.Store) Options { return Options{Outbox: s, Direct: true} }, direct: true},
		{name: "no outbox", opts: func(kv.Store) Options { return Options{} }, direct: true, err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store, blobs := kvmem.New(), mem.New()
			a := New(blobs, tc.opts(store))
			defer a.Close()
			var msg, msg2 any
			err := store.Update(ctx, func(tx kv.Tx) error {
				m, err := a.ArchiveInvocation(tx, inv, raw)
				msg = m
				if err != nil {
					return err
				}
				m2, err := a.ArchiveInvocation(tx, inv, raw) // again: the same message
				msg2 = m2
				return err
			})
			if tc.err {
				if !errors.Is(err, ErrWrite) {
					t.Fatalf("err = %v, want ErrWrite", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := InvocationMessage(inv, raw)
			if msg != msg2 || msg != message.CID(want) {
				t.Fatalf("messages %v, %v, want %s", msg, msg2, message.CID(want))
			}
			if n, err := a.Pending(ctx); err != nil || n != 1 {
				t.Fatalf("Pending = %d, %v", n, err)
			}
			if n, err := a.Flush(ctx); err != nil || n != 1 {
				t.Fatalf("Flush = %d, %v", n, err)
			}
			got, err := a.Get(ctx, message.CID(want))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Get = %d bytes, %v", len(got), err)
			}
			m, err := message.Decode(got, message.Limits{})
			if err != nil || len(m.Invocations) != 1 || !m.Invocations[0].Equals(inv) || !bytes.Equal(m.Index()[inv], raw) {
				t.Fatalf("message %+v, %v", m, err)
			}
			// Client messages: through the outbox, or straight to blob storage with Direct.
			body := []byte("a client's message")
			c, err := a.Put(ctx, message.CodecCAR, body)
			if err != nil {
				t.Fatal(err)
			}
			_, err = blobs.Stat(ctx, WorkflowKey(c))
			if tc.direct != (err == nil) || (err != nil && !errors.Is(err, blob.ErrNotFound)) {
				t.Fatalf("direct %v: Stat(%s) = %v", tc.direct, WorkflowKey(c), err)
			}
			if got, err := a.Get(ctx, c); err != nil || !bytes.Equal(got, body) {
				t.Fatalf("Get(client message) = %q, %v", got, err)
			}
			// Refusal records: in kv with the outbox, blobs with Direct.
			r, err := a.PutRefusal(ctx, message.CodecCAR, []byte("refused"), 1, "did:key:z", []string{"InvalidSignature"})
			if err != nil {
				t.Fatal(err)
			}
			_, err = blobs.Stat(ctx, RefusedBlobPrefix+r.String())
			if tc.direct != (err == nil) {
				t.Fatalf("direct %v: refusal blob: %v", tc.direct, err)
			}
			if got, err := a.Refused(ctx, r); err != nil || got.Invocations != 1 {
				t.Fatalf("Refused = %+v, %v", got, err)
			}
		})
	}
}

// TestOneMessageBytes: the messages InvocationMessage and ReplyMessage write directly are
// byte for byte what message.Encode makes of the same messages, for blocks and CIDs of
// several sizes (lengths around the CBOR and varint size steps).
func TestOneMessageBytes(t *testing.T) {
	for _, n := range []int{0, 1, 23, 24, 100, 255, 256, 450, 4096, 65536} {
		raw := bytes.Repeat([]byte{byte(n)}, n)
		for _, c := range []cid.Cid{message.Sum(message.CodecDAGCBOR, raw), message.Sum(message.CodecRaw, raw), message.CID(raw)} {
			got := InvocationMessage(c, raw)
			want, err := message.Encode(&message.Message{Invocations: []cid.Cid{c}, Blocks: []message.Block{{CID: c, Data: raw}}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("InvocationMessage(%s, %d bytes) differs from message.Encode:\n%x\n%x", c, n, got, want)
			}
			inv := message.Sum(message.CodecDAGCBOR, append(raw, 1))
			got = ReplyMessage(inv, c, raw)
			want, err = message.Encode(&message.Message{Receipts: []message.Receipt{{Invocation: inv, Receipt: c}}, Blocks: []message.Block{{CID: c, Data: raw}}})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("ReplyMessage(%s, %d bytes) differs from message.Encode:\n%x\n%x", c, n, got, want)
			}
			m, err := message.Decode(got, message.Limits{})
			if err != nil || len(m.Receipts) != 1 || !m.Receipts[0].Receipt.Equals(c) {
				t.Fatalf("ReplyMessage does not decode: %+v %v", m, err)
			}
		}
	}
}
