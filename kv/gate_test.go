package kv_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv"
)

func TestGate(t *testing.T) {
	var g kv.Gate
	ctx := context.Background()
	if err := g.Enter(ctx); err != nil {
		t.Fatalf("Enter on an open gate: %v", err)
	}
	closed := make(chan bool)
	go func() { closed <- g.Close() }()
	select {
	case <-closed:
		t.Fatal("Close returned while a transaction was still inside the gate")
	case <-time.After(20 * time.Millisecond):
	}
	g.Leave()
	if first := <-closed; !first {
		t.Fatal("the first Close reported the gate already closed")
	}
	if g.Close() {
		t.Fatal("a second Close reported that it closed the gate")
	}
	if err := g.Enter(ctx); !errors.Is(err, kv.ErrClosed) {
		t.Fatalf("Enter after Close = %v, want kv.ErrClosed", err)
	}
	var open kv.Gate
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := open.Enter(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Enter with a cancelled context = %v, want context.Canceled", err)
	}
	if !open.Close() {
		t.Fatal("Close after a refused Enter did not close the gate")
	}
}
