package archive

import (
	"context"
	"errors"
	"testing"

	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/kv"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
)

// TestStage: a staged message is written by the caller's transaction (nothing before it
// commits, nothing if it does not), found by Get once it has, and moved by a round that
// reads its hint (given by committed), not by a scan; archives that write no message in
// their callers' transactions decline.
func TestStage(t *testing.T) {
	ctx := context.Background()
	store := &scanCountingKV{Store: kvmem.New()}
	commit := func(ctx context.Context, fn func(kv.Tx) error) error { return store.Update(ctx, fn) }
	a := New(mem.New(), Options{Outbox: store, Commit: commit})
	defer a.Close()

	data := []byte("a staged request")
	msg, write, committed, ok := a.Stage(message.CodecCAR, data)
	if !ok || !msg.Equals(message.Sum(message.CodecCAR, data)) {
		t.Fatalf("Stage = %s, %v", msg, ok)
	}
	if has, err := a.Has(ctx, msg); has || err != nil {
		t.Fatalf("staged message archived before any transaction: %v, %v", has, err)
	}
	// A transaction that does not commit leaves nothing.
	abort := errors.New("the operation failed")
	if err := store.Update(ctx, func(kt kv.Tx) error {
		if err := write(kt); err != nil {
			return err
		}
		return abort
	}); !errors.Is(err, abort) {
		t.Fatal(err)
	}
	if has, err := a.Has(ctx, msg); has || err != nil {
		t.Fatalf("staged message archived by a transaction that did not commit: %v, %v", has, err)
	}
	if err := store.Update(ctx, write); err != nil {
		t.Fatal(err)
	}
	committed()
	if got, err := a.Get(ctx, msg); err != nil || string(got) != string(data) {
		t.Fatalf("Get = %q, %v", got, err)
	}
	scans := store.scans.Load()
	if n, _, err := a.moveRound(ctx); err != nil || n != 1 || store.scans.Load() != scans {
		t.Fatalf("a round moved %d, %v, with %d scans; want the staged message by its hint", n, err, store.scans.Load()-scans)
	}
	if got, err := a.Get(ctx, msg); err != nil || string(got) != string(data) {
		t.Fatalf("Get after moving = %q, %v", got, err)
	}
	// With OwnOutbox, the mover takes the committed message's bytes without reading its row.
	own := New(mem.New(), Options{Outbox: store, Commit: commit, OwnOutbox: true})
	defer own.Close()
	data = []byte("another staged request")
	msg, write, committed, _ = own.Stage(message.CodecCAR, data)
	if err := store.Update(ctx, write); err != nil {
		t.Fatal(err)
	}
	committed()
	if h := own.ob.takeHints(maxHints); len(h) != 1 || !h[0].msg.Equals(msg) || string(h[0].data) != string(data) {
		t.Fatalf("hints after a committed staged message: %+v", h)
	}

	for name, b := range map[string]*Archive{
		"no outbox":            New(mem.New(), Options{}),
		"an outbox of its own": New(mem.New(), Options{Outbox: store}),
		"direct":               New(mem.New(), Options{Outbox: store, Commit: commit, Direct: true}),
	} {
		if _, _, _, ok := b.Stage(message.CodecCAR, data); ok {
			t.Errorf("%s: Stage accepted", name)
		}
		b.Close()
	}
	if _, _, _, ok := a.Stage(message.CodecCAR, make([]byte, kv.MaxValueSize+1)); ok {
		t.Error("Stage accepted a message larger than a kv value")
	}
}
