package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/w3dag/w3dag/blob"
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

// TestOwnOutboxScanBeforeHint: with OwnOutbox, the mover may scan a message out of the
// outbox after its transaction committed and before its hint is given (committed, or
// Put's after its Commit returned). The hint given after that scan must not move the
// message a second time (a second copy in a second segment, its index moved to it). It
// fails on a mover that takes every committed hint's bytes without knowing of that scan.
func TestOwnOutboxScanBeforeHint(t *testing.T) {
	ctx := context.Background()
	store := kvmem.New()
	var a *Archive
	var scanned atomic.Int64
	commit := func(ctx context.Context, fn func(kv.Tx) error) error {
		if err := store.Update(ctx, fn); err != nil {
			return err
		}
		// The mover runs between the commit and Put's hint: no hints, so a scan.
		n, err := a.Flush(ctx)
		scanned.Add(int64(n))
		return err
	}
	blobs := mem.New()
	a = New(blobs, Options{Outbox: store, Commit: commit, OwnOutbox: true})
	defer a.Close()

	// Stage: the scan runs between the staged write's commit and committed.
	data := []byte("a staged request")
	_, write, committed, ok := a.Stage(message.CodecCAR, data)
	if !ok {
		t.Fatal("Stage declined")
	}
	if err := store.Update(ctx, write); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("the scan moved %d, %v; want the staged message", n, err)
	}
	committed()
	if n, err := a.Flush(ctx); err != nil || n != 0 {
		t.Fatalf("after the scan, the staged message's hint moved %d, %v; want 0 (moved twice)", n, err)
	}

	// Put: the scan runs inside Commit, after the commit and before Put's hint.
	msg, err := a.Put(ctx, message.CodecCAR, []byte("a put request"))
	if err != nil {
		t.Fatal(err)
	}
	if scanned.Load() != 1 {
		t.Fatalf("the scan in Commit moved %d messages, want 1", scanned.Load())
	}
	if n, err := a.Flush(ctx); err != nil || n != 0 {
		t.Fatalf("after the scan, Put's hint moved %d, %v; want 0 (moved twice)", n, err)
	}
	if got, err := a.Get(ctx, msg); err != nil || string(got) != "a put request" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if segs := countBlobs(t, blobs, SegmentPrefix); segs != 2 {
		t.Fatalf("%d segments written, want 2 (one for each message)", segs)
	}
}

// pausingBlobs holds the first segment write until resume is closed, signalling paused
// when it starts waiting: a mover round stopped between taking its hints and its commit.
type pausingBlobs struct {
	blob.Store
	once   sync.Once
	paused chan struct{}
	resume chan struct{}
}

func (p *pausingBlobs) Put(ctx context.Context, key string, r io.Reader, opts blob.PutOptions) error {
	if strings.HasPrefix(key, SegmentPrefix) {
		p.once.Do(func() {
			close(p.paused)
			<-p.resume
		})
	}
	return p.Store.Put(ctx, key, r, opts)
}

// TestOwnOutboxSameMessageTwice: with OwnOutbox, a message two requests put (the same
// bytes, one row) before the mover moved it is moved once, whether the second hint is
// given while the first waits in the hints or while a round that took it runs. It fails
// on a mover whose rounds move every hint's bytes without knowing that an earlier round
// moved the message (a second copy in a second segment).
func TestOwnOutboxSameMessageTwice(t *testing.T) {
	ctx := context.Background()
	store := kvmem.New()
	commit := func(ctx context.Context, fn func(kv.Tx) error) error { return store.Update(ctx, fn) }
	blobs := &pausingBlobs{Store: mem.New(), paused: make(chan struct{}), resume: make(chan struct{})}
	a := New(blobs, Options{Outbox: store, Commit: commit, OwnOutbox: true})
	defer a.Close()
	stage := func(data []byte) func() {
		t.Helper()
		_, write, committed, ok := a.Stage(message.CodecCAR, data)
		if !ok {
			t.Fatal("Stage declined")
		}
		if err := store.Update(ctx, write); err != nil {
			t.Fatal(err)
		}
		return committed
	}

	// The second hint while a round that took the first runs.
	twice := []byte("a request sent twice")
	stage(twice)()
	moved := make(chan int, 1)
	go func() {
		n, _, err := a.moveRound(ctx)
		if err != nil {
			t.Error(err)
		}
		moved <- n
	}()
	<-blobs.paused
	stage(twice)() // committed before the round's commit deletes the row
	close(blobs.resume)
	if n := <-moved; n != 1 {
		t.Fatalf("the round moved %d, want 1", n)
	}
	if n, err := a.Flush(ctx); err != nil || n != 0 {
		t.Fatalf("the second hint moved %d more, %v; want 0 (moved twice)", n, err)
	}

	// The second hint while the first waits, a round of other messages between them.
	again := []byte("another request sent twice")
	stage(again)()
	for i := range moveRound {
		stage(fmt.Appendf(nil, "message %d", i))()
	}
	stage(again)()
	if n, err := a.Flush(ctx); err != nil || n != moveRound+1 {
		t.Fatalf("Flush moved %d, %v; want %d (each message once)", n, err, moveRound+1)
	}
	if segs := countBlobs(t, blobs, SegmentPrefix); segs != 3 {
		t.Fatalf("%d segments, want 3", segs)
	}
}
