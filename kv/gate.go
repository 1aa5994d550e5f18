package kv

import (
	"context"
	"sync"
)

// Gate is the close gate a backend puts in front of its transactions: Enter
// admits a transaction unless the store is closed, Leave ends it, and Close
// shuts the gate and waits for every admitted transaction to Leave. The zero
// value is an open gate. It is safe for concurrent use and must not be copied.
type Gate struct {
	mu       sync.Mutex // guards closed
	closed   bool
	inflight sync.WaitGroup // transactions that passed the gate
}

// Enter admits one transaction: it returns ctx's error if ctx is done,
// ErrClosed once Close has been called, and otherwise nil, after which the
// caller must call Leave exactly once.
func (g *Gate) Enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.inflight.Add(1)
	return nil
}

// Leave ends a transaction that Enter admitted.
func (g *Gate) Leave() { g.inflight.Done() }

// Close shuts the gate, so later Enter calls return ErrClosed, and waits for
// the admitted transactions to Leave. It reports whether this call closed
// the gate: false means it was already closed and the caller has nothing to
// release.
func (g *Gate) Close() bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.closed = true
	g.mu.Unlock()
	g.inflight.Wait()
	return true
}
