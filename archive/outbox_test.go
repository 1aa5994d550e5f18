package archive

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/kv"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
)

// countingKV counts Update calls; its first Update waits until gate returns true, so that
// the puts arriving meanwhile queue up for the next commit.
type countingKV struct {
	kv.Store
	updates atomic.Int64
	gate    func() bool
	entered chan struct{} // closed when the first Update starts (if not nil)
}

func (c *countingKV) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if c.updates.Add(1) == 1 && c.gate != nil {
		if c.entered != nil {
			close(c.entered)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !c.gate() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	return c.Store.Update(ctx, fn)
}

// TestOutbox runs the outbox over blob/mem and blob/fs: puts group-commit, and Flush
// packs a round into one segment.
func TestOutbox(t *testing.T) {
	t.Run("mem", func(t *testing.T) { testOutbox(t, mem.New()) })
	t.Run("fs", func(t *testing.T) {
		blobs, err := blobfs.Open(t.TempDir(), blobfs.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { blobs.Close() })
		testOutbox(t, blobs)
	})
}

func testOutbox(t *testing.T, blobs blob.Store) {
	ctx := context.Background()
	ob := &countingKV{Store: kvmem.New(), entered: make(chan struct{})}
	a := New(blobs, Options{Outbox: ob})
	defer a.Close()
	const n = 64
	ob.gate = func() bool { return len(a.ob.queue) == n-1 }

	msgs := make([]cid.Cid, n)
	var wg sync.WaitGroup
	put := func(i int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := a.Put(ctx, message.CodecCAR, []byte(fmt.Sprintf("message %d", i)))
			if err != nil {
				t.Error(err)
			}
			msgs[i] = c
		}()
	}
	// The first put's commit starts alone (and waits at the gate); the others queue
	// behind it meanwhile, however loaded the machine.
	put(0)
	<-ob.entered
	for i := 1; i < n; i++ {
		put(i)
	}
	wg.Wait()
	if u := ob.updates.Load(); u != 2 {
		t.Errorf("%d puts took %d commits, want 2 (the first, then all the others together)", n, u)
	}
	if p, err := a.Pending(ctx); err != nil || p != n {
		t.Fatalf("pending = %d, %v; want %d", p, err, n)
	}
	// Readable while still in the outbox, not yet in blob storage.
	if data, err := a.Get(ctx, msgs[3]); err != nil || string(data) != "message 3" {
		t.Fatalf("Get from the outbox = %q, %v", data, err)
	}
	if ok, err := a.Has(ctx, msgs[3]); !ok || err != nil {
		t.Fatalf("Has = %v, %v", ok, err)
	}
	if _, err := blobs.Stat(ctx, WorkflowKey(msgs[3])); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("message in blob storage before Flush: %v", err)
	}
	listed := 0
	if err := a.Messages(ctx, func(cid.Cid) error { listed++; return nil }); err != nil || listed != n {
		t.Fatalf("Messages listed %d, %v", listed, err)
	}
	moved, err := a.Flush(ctx)
	if err != nil || moved != n {
		t.Fatalf("Flush moved %d, %v", moved, err)
	}
	if p, _ := a.Pending(ctx); p != 0 {
		t.Fatalf("pending after Flush = %d", p)
	}
	// One segment for the round, no file per message, every message read back from it.
	if segs := countBlobs(t, blobs, SegmentPrefix); segs != 1 {
		t.Errorf("Flush of %d messages wrote %d segments, want 1", n, segs)
	}
	if files := countBlobs(t, blobs, WorkflowPrefix); files != 0 {
		t.Errorf("Flush wrote %d message files, want 0", files)
	}
	for i, c := range msgs {
		data, err := a.Get(ctx, c)
		if err != nil {
			t.Fatalf("Get %s after Flush: %v", c, err)
		}
		if want := fmt.Sprintf("message %d", i); string(data) != want {
			t.Fatalf("Get %s = %q, want %q", c, data, want)
		}
		if ok, err := a.Has(ctx, c); !ok || err != nil {
			t.Fatalf("Has %s after Flush = %v, %v", c, ok, err)
		}
	}
	listed = 0
	if err := a.Messages(ctx, func(cid.Cid) error { listed++; return nil }); err != nil || listed != n {
		t.Fatalf("Messages after Flush listed %d, %v", listed, err)
	}
}

// countBlobs counts the blobs under prefix.
func countBlobs(t *testing.T, blobs blob.Store, prefix string) int {
	t.Helper()
	n := 0
	if err := blobs.List(context.Background(), prefix, func(blob.Info) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOutboxRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	blobs := mem.New()
	a := New(blobs, Options{Outbox: kvmem.New(), MovePoll: 10 * time.Millisecond})
	defer a.Close()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	c, err := a.Put(ctx, message.CodecCAR, []byte("moved by Run"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if p, err := a.Pending(ctx); err == nil && p == 0 && countBlobs(t, blobs, SegmentPrefix) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not move the message")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if data, err := a.Get(context.Background(), c); err != nil || string(data) != "moved by Run" {
		t.Fatalf("Get after Run = %q, %v", data, err)
	}
}

func TestOutboxFailures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		blobs   blob.Store
		reports int // how often Flush's error carries the store's
	}{
		{"segment", newFailing(), 1}, // the round's one segment write
	} {
		a := New(tc.blobs, Options{Outbox: kvmem.New()})
		c, err := a.Put(ctx, message.CodecCAR, []byte("stuck"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Put(ctx, message.CodecCAR, []byte("stuck too")); err != nil {
			t.Fatal(err)
		}
		n, err := a.Flush(ctx)
		if n != 0 || err == nil {
			t.Fatalf("%s: Flush with failing blobs = %d, %v", tc.name, n, err)
		}
		if got := strings.Count(err.Error(), "disk on fire"); got != tc.reports {
			t.Errorf("%s: Flush's error reports the store's %d times, want %d: %v", tc.name, got, tc.reports, err)
		}
		if n, err := a.Pending(ctx); n != 2 || err != nil {
			t.Fatalf("%s: Pending after a failed move = %d, %v", tc.name, n, err)
		}
		if data, err := a.Get(ctx, c); err != nil || string(data) != "stuck" {
			t.Fatalf("%s: message lost after a failed move: %q %v", tc.name, data, err)
		}
		a.Close()
	}
	a := New(newFailing(), Options{Outbox: kvmem.New()})
	a.Close()
	if _, err := a.Put(ctx, message.CodecCAR, []byte("late")); !errors.Is(err, ErrWrite) {
		t.Fatalf("Put after Close: %v", err)
	}
	// A closed kv store fails Puts with ErrWrite: nothing may run.
	store := kvmem.New()
	store.Close()
	b := New(mem.New(), Options{Outbox: store})
	defer b.Close()
	if _, err := b.Put(ctx, message.CodecCAR, []byte("x")); !errors.Is(err, ErrWrite) {
		t.Fatalf("Put with a closed outbox: %v", err)
	}
}

func TestOutboxCommitHook(t *testing.T) {
	ctx := context.Background()
	store := kvmem.New()
	var calls atomic.Int64
	commit := func(ctx context.Context, fn func(kv.Tx) error) error {
		calls.Add(1)
		return store.Update(ctx, fn)
	}
	a := New(mem.New(), Options{Outbox: store, Commit: commit})
	defer a.Close()
	c, err := a.Put(ctx, message.CodecCAR, []byte("through the hook"))
	if err != nil || calls.Load() != 1 {
		t.Fatalf("Put = %v with %d hook calls", err, calls.Load())
	}
	if data, err := a.Get(ctx, c); err != nil || string(data) != "through the hook" {
		t.Fatalf("Get = %q, %v", data, err)
	}
	failing := New(mem.New(), Options{Outbox: store, Commit: func(context.Context, func(kv.Tx) error) error {
		return errors.New("engine closed")
	}})
	defer failing.Close()
	if _, err := failing.Put(ctx, message.CodecCAR, []byte("x")); !errors.Is(err, ErrWrite) {
		t.Fatalf("failed commit: %v", err)
	}
}

func TestOutboxLargeMessage(t *testing.T) {
	ctx := context.Background()
	blobs := mem.New()
	a := New(blobs, Options{Outbox: kvmem.New()})
	defer a.Close()
	big := make([]byte, kv.MaxValueSize+1)
	c, err := a.Put(ctx, message.CodecCAR, big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := blobs.Stat(ctx, WorkflowKey(c)); err != nil {
		t.Fatalf("a message too large for the outbox is not in blob storage: %v", err)
	}
}

// TestOutboxQuarantine: outbox entries whose key is not a CID or whose bytes do not hash to
// it are set aside under QuarantinePrefix, and the good messages around them still move; a
// corrupt entry left in place would take a slot of every round for good.
func TestOutboxQuarantine(t *testing.T) {
	ctx := context.Background()
	blobs := mem.New()
	store := kvmem.New()
	a := New(blobs, Options{Outbox: store})
	defer a.Close()
	good, err := a.Put(ctx, message.CodecCAR, []byte("a good message"))
	if err != nil {
		t.Fatal(err)
	}
	tampered, err := a.Put(ctx, message.CodecCAR, []byte("soon tampered"))
	if err != nil {
		t.Fatal(err)
	}
	badKey := append([]byte(OutboxPrefix), "not a cid"...)
	if err := store.Update(ctx, func(tx kv.Tx) error {
		if err := tx.Put(outboxKey(tampered), []byte("other bytes")); err != nil {
			return err
		}
		return tx.Put(badKey, []byte("x"))
	}); err != nil {
		t.Fatal(err)
	}
	moved, err := a.Flush(ctx)
	if err != nil || moved != 1 {
		t.Fatalf("Flush moved %d, %v; want 1 (the good message), nil", moved, err)
	}
	if data, err := a.Get(ctx, good); err != nil || string(data) != "a good message" {
		t.Fatalf("good message after Flush = %q, %v", data, err)
	}
	if ok, err := a.Has(ctx, tampered); ok || err != nil {
		t.Fatalf("tampered message archived: %v, %v", ok, err)
	}
	if p, err := a.Pending(ctx); err != nil || p != 0 {
		t.Fatalf("pending after Flush = %d, %v; want 0", p, err)
	}
	if err := store.View(ctx, func(tx kv.Tx) error {
		for _, k := range [][]byte{outboxKey(tampered), badKey} {
			v, err := tx.Get(append([]byte(QuarantinePrefix), k...))
			if err != nil {
				return fmt.Errorf("quarantined %q: %w", k, err)
			}
			if len(v) == 0 {
				return fmt.Errorf("quarantined %q is empty", k)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// scanCountingKV counts the scans of the outbox its read transactions make.
type scanCountingKV struct {
	kv.Store
	scans atomic.Int64
	gets  atomic.Int64 // point reads of outbox rows
}

func (s *scanCountingKV) View(ctx context.Context, fn func(kv.Tx) error) error {
	return s.Store.View(ctx, func(tx kv.Tx) error { return fn(&scanCountingTx{Tx: tx, kv: s}) })
}

type scanCountingTx struct {
	kv.Tx
	kv *scanCountingKV
}

func (t *scanCountingTx) Scan(opts kv.ScanOptions, fn func(k, v []byte) error) error {
	if strings.HasPrefix(string(opts.Start), OutboxPrefix) {
		t.kv.scans.Add(1)
	}
	return t.Tx.Scan(opts, fn)
}

func (t *scanCountingTx) Get(key []byte) ([]byte, error) {
	if strings.HasPrefix(string(key), OutboxPrefix) {
		t.kv.gets.Add(1)
	}
	return t.Tx.Get(key)
}

// TestOwnOutboxMovesWithoutReads: with OwnOutbox, the mover moves what Put committed from
// the bytes Put was given (no point read of its row), never twice (a scan that moved a
// message drops its hint), and a message whose bytes the caller changed after Put is
// moved from its row, not quarantined; messages written in a caller's transaction
// (ArchiveInvocation, not known to commit) are still read back.
func TestOwnOutboxMovesWithoutReads(t *testing.T) {
	ctx := context.Background()
	blobs := mem.New()
	store := &scanCountingKV{Store: kvmem.New()}
	a := New(blobs, Options{Outbox: store, OwnOutbox: true})
	defer a.Close()

	const n = 2*moveRound + 10
	var msgs []cid.Cid
	var changed []byte
	for i := range n {
		data := fmt.Appendf(nil, "message %d", i)
		c, err := a.Put(ctx, message.CodecCAR, data)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, c)
		if i == 5 {
			changed = data
		}
	}
	copy(changed, "MESSAGE") // the caller's bug: the row holds the bytes as they were
	var self cid.Cid
	if err := store.Update(ctx, func(tx kv.Tx) error {
		var err error
		self, err = a.ArchiveInvocation(tx, msgs[0], []byte("a self-issued invocation"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	msgs = append(msgs, self)

	// One scan round first: it moves the first moveRound messages in key order, whose
	// hints must then be dropped.
	a.ob.hinted.Store(scanEvery)
	moved, handled, err := a.moveRound(ctx)
	if err != nil || moved != moveRound || handled != moveRound {
		t.Fatalf("scan round moved %d, handled %d, %v; want %d", moved, handled, err, moveRound)
	}
	rest, err := a.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if total := moved + rest; total != len(msgs) {
		t.Errorf("moved %d messages in all, want %d (none twice)", total, len(msgs))
	}
	if g := store.gets.Load(); g != 1 {
		t.Errorf("the mover read %d outbox rows back, want 1 (the self-issued invocation's)", g)
	}
	for i, c := range msgs {
		data, err := a.Get(ctx, c)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if i == 5 && string(data) != "message 5" {
			t.Fatalf("message 5 archived as %q", data)
		}
	}
	if p, err := a.Pending(ctx); err != nil || p != 0 {
		t.Fatalf("pending after Flush = %d, %v", p, err)
	}
	if q := countKeys(t, store, QuarantinePrefix); q != 0 {
		t.Errorf("%d entries quarantined, want 0", q)
	}
	if h := a.ob.takeHints(maxHints); len(h) != 0 {
		t.Fatalf("%d hints left after Flush", len(h))
	}
}

// countKeys counts the keys of store under prefix.
func countKeys(t *testing.T, store kv.Store, prefix string) int {
	t.Helper()
	n := 0
	if err := store.View(context.Background(), func(tx kv.Tx) error {
		p := []byte(prefix)
		return tx.Scan(kv.ScanOptions{Start: p, End: kv.PrefixEnd(p)}, func(k, v []byte) error { n++; return nil })
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestOutboxHints: the mover reads what this process put by its keys, rounds of them
// without scanning the outbox, and scans once at the end for the rest: messages written
// into the outbox without a hint (another process's), hints dropped beyond maxHints, and
// hints whose message another process moved first are all handled.
func TestOutboxHints(t *testing.T) {
	ctx := context.Background()
	blobs := mem.New()
	store := &scanCountingKV{Store: kvmem.New()}
	a := New(blobs, Options{Outbox: store})
	defer a.Close()
	other := New(blobs, Options{Outbox: store}) // another process on the same stores
	defer other.Close()

	const n = 3*moveRound + 10
	a.ob.maxHints = n + 2 - 5 // the last five puts are not hinted
	var msgs []cid.Cid
	for i := range n {
		c, err := a.Put(ctx, message.CodecCAR, []byte(fmt.Sprintf("message %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, c)
		if i == 7 || i == 300 { // the same message again: one key, two hints, moved once
			if again, err := a.Put(ctx, message.CodecCAR, []byte(fmt.Sprintf("message %d", i))); err != nil || again != c {
				t.Fatalf("put again: %s, %v", again, err)
			}
		}
	}
	for i := range 3 {
		c, err := other.Put(ctx, message.CodecCAR, []byte(fmt.Sprintf("other's message %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, c)
	}
	other.ob.takeHints(maxHints) // other's hints are its own: a's mover must find its puts by a scan
	moved, err := a.Flush(ctx)
	if err != nil || moved != len(msgs) {
		t.Fatalf("Flush moved %d, %v; want %d", moved, err, len(msgs))
	}
	// 4 rounds by hints, then one scan round for the 8 without (and a last scan finding
	// none); without hints each of the 5 rounds and the last would scan.
	if s := store.scans.Load(); s != 2 {
		t.Errorf("Flush of %d messages scanned the outbox %d times, want 2", len(msgs), s)
	}
	if p, err := a.Pending(ctx); err != nil || p != 0 {
		t.Fatalf("pending after Flush = %d, %v", p, err)
	}
	for i, c := range msgs {
		if ok, err := a.Has(ctx, c); !ok || err != nil {
			t.Fatalf("message %d not archived after Flush: %v, %v", i, ok, err)
		}
	}

	// Hints of messages another process moved first are dropped, not moved twice.
	var late []cid.Cid
	for i := range 5 {
		c, err := a.Put(ctx, message.CodecCAR, []byte(fmt.Sprintf("late message %d", i)))
		if err != nil {
			t.Fatal(err)
		}
		late = append(late, c)
	}
	if moved, err := other.Flush(ctx); err != nil || moved != len(late) {
		t.Fatalf("other's Flush moved %d, %v; want %d", moved, err, len(late))
	}
	if moved, err := a.Flush(ctx); err != nil || moved != 0 {
		t.Fatalf("Flush after another process moved everything moved %d, %v; want 0", moved, err)
	}
	if h := a.ob.takeHints(maxHints); len(h) != 0 {
		t.Fatalf("%d hints left after Flush", len(h))
	}
	for _, c := range late {
		if data, err := a.Get(ctx, c); err != nil || !strings.HasPrefix(string(data), "late message") {
			t.Fatalf("late message %s = %q, %v", c, data, err)
		}
	}
	if segs := countBlobs(t, blobs, SegmentPrefix); segs != 6 {
		t.Errorf("%d segments, want 6 (4 rounds by hints, 1 by scan, other's 1)", segs)
	}
}

// TestOutboxScansUnderLoad: while this process keeps putting (a hint for every round),
// a message without a hint (another process's) is still moved, by the scan that at least
// one round in scanEvery makes, not left until the puts stop.
func TestOutboxScansUnderLoad(t *testing.T) {
	ctx := context.Background()
	blobs := mem.New()
	store := kvmem.New()
	a := New(blobs, Options{Outbox: store})
	defer a.Close()
	other := New(blobs, Options{Outbox: store})
	defer other.Close()
	unhinted, err := other.Put(ctx, message.CodecCAR, []byte("other's message"))
	if err != nil {
		t.Fatal(err)
	}
	other.ob.takeHints(maxHints)
	for round := range scanEvery {
		if _, err := a.Put(ctx, message.CodecCAR, fmt.Appendf(nil, "message %d", round)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := a.moveRound(ctx); err != nil {
			t.Fatal(err)
		}
		err := store.View(ctx, func(tx kv.Tx) error {
			_, err := tx.Get(outboxKey(unhinted))
			return err
		})
		if err != nil && !errors.Is(err, kv.ErrNotFound) {
			t.Fatal(err)
		}
		if err != nil { // moved out of the outbox
			if round != scanEvery-1 {
				t.Fatalf("moved in round %d, want the scan of round %d (the others read by hints)", round, scanEvery-1)
			}
			return
		}
	}
	t.Fatalf("a message without a hint was not moved in %d rounds while hints were left", scanEvery)
}
