package store

import (
	"context"
	"io"
	"testing"
	"time"
)

// TestInFlight: an upload is counted while Blobs receives it, and InFlight.Wait waits
// for it (here until its context ends), then returns at once when none is in flight.
func TestInFlight(t *testing.T) {
	v := newEnv(t, nil, "", nil, nil)
	f := &InFlight{}
	v.b.o.InFlight = f
	c, _ := realCAR(t, "alpha", "beta")
	res := v.put(newSpace(t), c, int64(len(c.data)))
	u := pendingURL(t, res.Entry.State)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- v.b.Upload(context.Background(), c.cid, pr, int64(len(c.data)), u.Query()) }()
	for deadline := time.Now().Add(10 * time.Second); f.count() != 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the upload is not counted")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	start := time.Now()
	f.Wait(ctx)
	cancel()
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("Wait returned after %v with an upload in flight", d)
	}
	// A Wait under way returns when the upload ends, not YieldMax later.
	waited := make(chan struct{})
	go func() {
		f.Wait(context.Background())
		close(waited)
	}()
	time.Sleep(50 * time.Millisecond)
	select {
	case <-waited:
		t.Fatal("Wait returned with an upload in flight")
	default:
	}
	if _, err := pw.Write(c.data); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	select {
	case <-waited:
	case <-time.After(YieldMax / 2):
		t.Fatal("Wait did not return when the upload ended")
	}
	if n := f.count(); n != 0 {
		t.Fatalf("%d uploads in flight after the upload", n)
	}
	start = time.Now()
	f.Wait(context.Background())
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Wait took %v with nothing in flight", d)
	}
}
