package archive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/message"
)

// failing is a blob.Store whose writes fail.
// failing is an in-memory blob store whose Puts fail ("disk on fire") while down is set,
// as it is when newFailing returns it.
type failing struct {
	blob.Store
	down atomic.Bool
}

func newFailing() *failing {
	f := &failing{Store: mem.New()}
	f.down.Store(true)
	return f
}

func (f *failing) Put(ctx context.Context, key string, r io.Reader, o blob.PutOptions) error {
	if f.down.Load() {
		return errors.New("disk on fire")
	}
	return f.Store.Put(ctx, key, r, o)
}

func TestKeys(t *testing.T) {
	inv := message.Sum(message.CodecDAGCBOR, []byte("inv"))
	msg := message.CID([]byte("msg"))
	task := message.Sum(message.CodecDAGCBOR, []byte("task"))
	cases := []struct{ got, want string }{
		{WorkflowKey(msg), "workflow/" + msg.String() + "/" + msg.String()},
		{InvocationInKey(inv, msg), "invocation/" + inv.String() + "/" + msg.String() + ".in"},
		{InvocationOutKey(inv, msg), "invocation/" + inv.String() + "/" + msg.String() + ".out"},
		{TaskInvocationKey(task, inv), "task/" + task.String() + "/" + inv.String() + ".invocation"},
		{TaskResultKey(task), "task/" + task.String() + "/" + task.String() + ".result"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("key %q, want %q", tc.got, tc.want)
		}
		if !blob.ValidKey(tc.got) {
			t.Errorf("key %q is not a valid blob key", tc.got)
		}
	}
	if !strings.HasPrefix(msg.String(), "bag") {
		t.Errorf("car message CID %s does not start with bag", msg)
	}
}

func TestPutGet(t *testing.T) {
	ctx := context.Background()
	store := mem.New()
	a := New(store, Options{})
	data := []byte("a CAR, as received")
	msg, err := a.Put(ctx, message.CodecCAR, data)
	if err != nil {
		t.Fatal(err)
	}
	if !msg.Equals(message.CID(data)) {
		t.Fatalf("msg = %s, want %s", msg, message.CID(data))
	}
	got, err := a.Get(ctx, msg)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if ok, err := a.Has(ctx, msg); !ok || err != nil {
		t.Fatalf("Has = %v, %v", ok, err)
	}
	other := message.CID([]byte("never stored"))
	if _, err := a.Get(ctx, other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(missing) err = %v", err)
	}
	if ok, err := a.Has(ctx, other); ok || err != nil {
		t.Fatalf("Has(missing) = %v, %v", ok, err)
	}
	// A container body is archived with the raw codec.
	raw, err := a.Put(ctx, message.CodecRaw, []byte{0x40, 0xa0})
	if err != nil || raw.Type() != message.CodecRaw {
		t.Fatalf("raw put = %s, %v", raw, err)
	}
	var listed []cid.Cid
	if err := a.Messages(ctx, func(c cid.Cid) error { listed = append(listed, c); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 2 {
		t.Fatalf("Messages listed %v", listed)
	}
}

func TestCorrupt(t *testing.T) {
	ctx := context.Background()
	store := mem.New()
	a := New(store, Options{})
	msg := message.CID([]byte("original"))
	if err := store.Put(ctx, WorkflowKey(msg), strings.NewReader("tampered"), blob.PutOptions{Size: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, msg); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
}

func TestWriteFailure(t *testing.T) {
	a := New(newFailing(), Options{})
	_, err := a.Put(context.Background(), message.CodecCAR, []byte("x"))
	if !errors.Is(err, ErrWrite) || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
}
