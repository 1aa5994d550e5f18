package task_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/ucan"
)

// A handler that runs longer than the lease keeps its task: the runner renews the lease
// every third of it, so another worker finds nothing to claim.
func TestLeaseRenewed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits on real time")
	}
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	id := schedule(t, v.E, task.Task{Cmd: "/test/long"})
	// Long enough that a loaded machine (CI on 2 cores) still renews in time: a renewal is
	// due every lease/3, and b takes the task only after a whole lease without one.
	const lease = 500 * time.Millisecond
	started := make(chan struct{})
	var bCalls atomic.Int32
	a := task.NewRunner(v.E, map[string]task.Handler{"/test/long": func(ctx context.Context, _ *ucan.Token) error {
		close(started)
		select {
		case <-time.After(4 * lease):
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}}, task.RunnerOptions{Owner: "a", Lease: lease})
	b := task.NewRunner(v.E, map[string]task.Handler{"/test/long": func(context.Context, *ucan.Token) error {
		bCalls.Add(1)
		return nil
	}}, task.RunnerOptions{Owner: "b", Lease: lease})
	done := make(chan struct{})
	go func() { defer close(done); a.RunOnce(context.Background()) }()
	<-started
	first := intOf(t, state(t, v.E, id).State, "lease")
	renewed := false
	for {
		select {
		case <-done:
			if n := bCalls.Load(); n != 0 {
				t.Fatalf("b ran the task %d times while a held it", n)
			}
			if st := state(t, v.E, id); st.Status != task.StatusDone {
				t.Fatalf("task is %s", st.Status)
			}
			if !renewed {
				t.Fatal("the lease was never seen renewed")
			}
			return
		case <-time.After(lease / 5):
		}
		if _, err := b.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := state(t, v.E, id); st.Status == task.StatusRunning && intOf(t, st.State, "lease") > first {
			renewed = true
		}
	}
}

// When another worker takes a task over (its clock says the lease expired), the first
// worker's handler is cancelled with ErrLeaseLost at its next renewal and its outcome is
// dropped.
func TestLeaseLost(t *testing.T) {
	if testing.Short() {
		t.Skip("waits on real time")
	}
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	id := schedule(t, v.E, task.Task{Cmd: "/test/long"})
	const lease = 150 * time.Millisecond
	started := make(chan struct{})
	cause := make(chan error, 1)
	a := task.NewRunner(v.E, map[string]task.Handler{"/test/long": func(ctx context.Context, _ *ucan.Token) error {
		close(started)
		select {
		case <-ctx.Done():
			cause <- context.Cause(ctx)
			return errors.New("interrupted")
		case <-time.After(10 * time.Second):
			cause <- nil
			return nil
		}
	}}, task.RunnerOptions{Owner: "a", Lease: lease})
	ahead := func() time.Time { return time.Now().Add(time.Hour) }
	b := task.NewRunner(v.E, map[string]task.Handler{"/test/long": func(context.Context, *ucan.Token) error { return nil }},
		task.RunnerOptions{Owner: "b", Lease: lease, Clock: ahead})
	done := make(chan struct{})
	go func() { defer close(done); a.RunOnce(context.Background()) }()
	<-started
	if _, err := b.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-cause; !errors.Is(err, task.ErrLeaseLost) {
		t.Fatalf("a's handler ended with cause %v, want ErrLeaseLost", err)
	}
	<-done
	if st := state(t, v.E, id); st.Status != task.StatusDone {
		t.Fatalf("task is %s, want done by b", st.Status)
	}
}
