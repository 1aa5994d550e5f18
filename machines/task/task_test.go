package task_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/task"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock               { return &clock{now: time.UnixMilli(1_700_000_000_000)} }
func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }
func opts(c *clock, owner string) task.RunnerOptions {
	return task.RunnerOptions{Owner: owner, Clock: c.Now, Lease: time.Minute, BaseBackoff: time.Second, MaxBackoff: 5 * time.Second, MaxAttempts: 3}
}

func schedule(t *testing.T, e *dag.Engine, tk task.Task) cid.Cid {
	t.Helper()
	var c cid.Cid
	if err := e.Update(context.Background(), func(tx *dag.Tx) error {
		var err error
		c, err = task.Schedule(tx, tk)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return c
}

func taskPath(e *dag.Engine, c cid.Cid) dag.Path {
	return dag.Path{Subject: e.Service(), Collection: task.Name, Key: c.String()}
}

func state(t *testing.T, e *dag.Engine, c cid.Cid) *dag.Entry {
	t.Helper()
	ent, err := e.Entry(context.Background(), taskPath(e, c))
	if err != nil {
		t.Fatal(err)
	}
	return ent
}

func intOf(t *testing.T, n datamodel.Node, k string) int64 {
	t.Helper()
	v, err := n.LookupByString(k)
	if err != nil {
		return -1
	}
	i, err := v.AsInt()
	if err != nil {
		t.Fatalf("%s is not an int", k)
	}
	return i
}

func runOnce(t *testing.T, r *task.Runner, want int) {
	t.Helper()
	n, err := r.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("ran %d tasks, want %d", n, want)
	}
}

func TestScheduleRollback(t *testing.T) {
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	boom := errors.New("cause failed")
	var c cid.Cid
	err := v.E.Update(context.Background(), func(tx *dag.Tx) error {
		var err error
		if c, err = task.Schedule(tx, task.Task{Cmd: "/test/x"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if st := v.Status(taskPath(v.E, c)); st != "" {
		t.Fatalf("rolled back task exists (%s)", st)
	}
	ran := 0
	r := task.NewRunner(v.E, map[string]task.Handler{"/test/x": func(context.Context, *ucan.Token) error { ran++; return nil }}, task.RunnerOptions{})
	runOnce(t, r, 0)
}

func TestScheduleInvalid(t *testing.T) {
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	p := machinestest.Path(machinestest.Signer(t).DID(), "store", machinestest.CAR(t).String())
	withPath, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "path", qp.String("x")) })
	for _, tk := range []task.Task{
		{Cmd: ""},
		{Cmd: "nope"},
		{Cmd: "/"},
		{Cmd: "/x", Args: basicnode.NewString("not a map")},
		{Cmd: "/x", Args: withPath, Path: p},
	} {
		err := v.E.Update(context.Background(), func(tx *dag.Tx) error { _, err := task.Schedule(tx, tk); return err })
		if !errors.Is(err, task.ErrInvalidTask) {
			t.Errorf("%+v: got %v, want ErrInvalidTask", tk, err)
		}
	}
}

// A task runs once due, with its path in the invocation args, and every state of its
// entry is a verifiable receipt that ran the task's invocation.
func TestRunDue(t *testing.T) {
	c := newClock()
	v := machinestest.Open(t, mem.New(), nil, nil, c.Now)
	p := machinestest.Path(machinestest.Signer(t).DID(), "store", machinestest.CAR(t).String())
	args, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "n", qp.Int(7)) })
	id := schedule(t, v.E, task.Task{Cmd: "/test/run", Args: args, RunAt: c.Now().Add(10 * time.Second), Path: p})
	var got []dag.Path
	r := task.NewRunner(v.E, map[string]task.Handler{"/test/run": func(_ context.Context, inv *ucan.Token) error {
		if !inv.CID.Equals(id) || inv.Invocation.Issuer != v.E.Service() {
			t.Errorf("handler got %s by %s", inv.CID, inv.Invocation.Issuer)
		}
		if n := intOf(t, inv.Invocation.Args, "n"); n != 7 {
			t.Errorf("arg n = %d", n)
		}
		tp, err := task.PathOf(inv.Invocation.Args)
		if err != nil {
			return err
		}
		got = append(got, tp)
		return nil
	}}, opts(c, "a"))
	if st := state(t, v.E, id); st.Status != task.StatusQueued {
		t.Fatalf("scheduled task is %s", st.Status)
	}
	runOnce(t, r, 0)
	c.Add(9999 * time.Millisecond)
	runOnce(t, r, 0)
	c.Add(time.Millisecond)
	runOnce(t, r, 1)
	runOnce(t, r, 0)
	if len(got) != 1 || got[0].String() != p.String() {
		t.Fatalf("handler saw paths %v", got)
	}
	st := state(t, v.E, id)
	if st.Status != task.StatusDone {
		t.Fatalf("status %s", st.Status)
	}
	var statuses []string
	want := map[string]string{task.StatusDone: task.FinishCommand, task.StatusRunning: task.ClaimCommand}
	err := v.E.Chain(context.Background(), st.Head, func(_ *ucan.Token, r *receipts.Receipt) error {
		s, _ := r.Out.Ok.LookupByString("status")
		ss, _ := s.AsString()
		statuses = append(statuses, ss)
		if ss == task.StatusQueued {
			if !r.Ran.Equals(id) {
				t.Errorf("queued receipt ran %s, want the task %s", r.Ran, id)
			}
			return nil
		}
		// the runner's writes ran invocations of its own, naming the entry and the state
		inv, err := v.E.Receipt(context.Background(), r.Ran)
		if err != nil || inv.Invocation == nil || inv.Invocation.Command != want[ss] || inv.Invocation.Issuer != v.E.Service() {
			t.Fatalf("%s receipt ran %s (%v), want a %s invocation of the service", ss, r.Ran, err, want[ss])
		}
		if tp, err := task.PathOf(inv.Invocation.Args); err != nil || tp.String() != taskPath(v.E, id).String() {
			t.Errorf("%s invocation names %s (%v), want %s", ss, tp, err, taskPath(v.E, id))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(statuses, ",") != "done,running,queued" {
		t.Fatalf("chain %v", statuses)
	}
}

// The store-like machine schedules an expiry with the queued entry; the handler expires
// it through Engine.Transition with the task's invocation, whose receipt the done task
// links. An entry done meanwhile has nothing to expire.
func TestExpiryThroughTransition(t *testing.T) {
	c := newClock()
	v := machinestest.Open(t, mem.New(), nil, nil, c.Now)
	ctx := context.Background()
	owner := machinestest.Signer(t)
	a, b := machinestest.CAR(t), machinestest.CAR(t)
	pa, pb := machinestest.Path(owner.DID(), "store", a.String()), machinestest.Path(owner.DID(), "store", b.String())
	machinestest.MustOK(t, v.Put(owner, pa, machinestest.StoreValue(a, 10)))
	machinestest.MustOK(t, v.Put(owner, pb, machinestest.StoreValue(b, 20)))
	machinestest.MustOK(t, v.Put(owner, pb, machinestest.StoreValue(b, 20))) // bytes arrived: done
	r := task.NewRunner(v.E, map[string]task.Handler{machinestest.ExpireCmd: machinestest.ExpireHandler(v.E)}, opts(c, "a"))
	runOnce(t, r, 0)
	c.Add(machinestest.ExpireAfter)
	runOnce(t, r, 2)
	if st := v.Status(pa); st != dag.StatusExpired {
		t.Fatalf("a is %s, want expired", st)
	}
	if st := v.Status(pb); st != dag.StatusDone {
		t.Fatalf("b is %s, want done", st)
	}
	ent, err := v.E.Entry(ctx, pa)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := v.E.Receipt(ctx, ent.Head)
	if err != nil {
		t.Fatal(err)
	}
	r0, err := receipts.Verify(tok, v.E.Service())
	if err != nil {
		t.Fatal(err)
	}
	// the expiry receipt ran the task's invocation, and the done task links it
	st := state(t, v.E, r0.Ran)
	if st.Status != task.StatusDone {
		t.Fatalf("task %s is %s", r0.Ran, st.Status)
	}
	rl, err := st.State.LookupByString("receipt")
	if err != nil {
		t.Fatal("done task without receipt")
	}
	if l, _ := rl.AsLink(); l.(cidlink.Link).Cid != ent.Head {
		t.Fatalf("task receipt %s, want the expiry %s", l, ent.Head)
	}
}

func TestBackoff(t *testing.T) {
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	r := task.NewRunner(v.E, nil, task.RunnerOptions{BaseBackoff: time.Second, MaxBackoff: 5 * time.Second})
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if got := r.Backoff(int64(i + 1)); got != w {
			t.Errorf("attempt %d: %s, want %s", i+1, got, w)
		}
	}
	d := task.NewRunner(v.E, nil, task.RunnerOptions{})
	if d.Backoff(1) != task.DefaultBaseBackoff || d.Backoff(100) != task.DefaultMaxBackoff {
		t.Errorf("defaults: %s %s", d.Backoff(1), d.Backoff(100))
	}
}

func TestRetries(t *testing.T) {
	c := newClock()
	v := machinestest.Open(t, mem.New(), nil, nil, c.Now)
	id := schedule(t, v.E, task.Task{Cmd: "/test/flaky"})
	calls := 0
	r := task.NewRunner(v.E, map[string]task.Handler{"/test/flaky": func(context.Context, *ucan.Token) error {
		calls++
		return errors.New("try later")
	}}, opts(c, "a"))
	runOnce(t, r, 1)
	st := state(t, v.E, id)
	if st.Status != task.StatusQueued || intOf(t, st.State, "attempts") != 1 || intOf(t, st.State, "notBefore") != c.Now().Add(time.Second).UnixMilli() {
		t.Fatalf("after attempt 1: %s %v", st.Status, st.State)
	}
	c.Add(999 * time.Millisecond)
	runOnce(t, r, 0)
	c.Add(time.Millisecond)
	runOnce(t, r, 1)
	st = state(t, v.E, id)
	if intOf(t, st.State, "attempts") != 2 || intOf(t, st.State, "notBefore") != c.Now().Add(2*time.Second).UnixMilli() {
		t.Fatalf("after attempt 2: %v", st.State)
	}
	c.Add(2 * time.Second)
	runOnce(t, r, 1)
	st = state(t, v.E, id)
	if st.Status != task.StatusFailed || intOf(t, st.State, "attempts") != 3 {
		t.Fatalf("after attempt 3: %s %v", st.Status, st.State)
	}
	if e, _ := st.State.LookupByString("error"); e == nil {
		t.Fatal("failed without error")
	} else if s, _ := e.AsString(); s != "try later" {
		t.Fatalf("error %q", s)
	}
	c.Add(time.Hour)
	runOnce(t, r, 0)
	if calls != 3 {
		t.Fatalf("%d calls", calls)
	}
}

func TestPermanentAndNoHandler(t *testing.T) {
	c := newClock()
	v := machinestest.Open(t, mem.New(), nil, nil, c.Now)
	perm := schedule(t, v.E, task.Task{Cmd: "/test/perm"})
	none := schedule(t, v.E, task.Task{Cmd: "/test/unknown"})
	o := opts(c, "a")
	o.MaxAttempts = 1
	r := task.NewRunner(v.E, map[string]task.Handler{"/test/perm": func(context.Context, *ucan.Token) error {
		return task.Permanent(errors.New("cannot ever work"))
	}}, o)
	runOnce(t, r, 2)
	for _, tc := range []struct {
		id  cid.Cid
		msg string
	}{{perm, "cannot ever work"}, {none, "no handler for command /test/unknown"}} {
		st := state(t, v.E, tc.id)
		e, _ := st.State.LookupByString("error")
		var s string
		if e != nil {
			s, _ = e.AsString()
		}
		if st.Status != task.StatusFailed || intOf(t, st.State, "attempts") != 1 || !strings.Contains(s, tc.msg) {
			t.Errorf("%s: %s %q", tc.id, st.Status, s)
		}
	}
}

// A lease that expires lets another worker (here another engine over the same store, as
// another process would) claim the task; the first worker's late outcome is dropped.
func TestLeaseExpiry(t *testing.T) {
	c := newClock()
	st := mem.New()
	v := machinestest.Open(t, st, nil, nil, c.Now)
	v2 := machinestest.Open(t, st, v.Service, nil, c.Now)
	id := schedule(t, v.E, task.Task{Cmd: "/test/slow"})
	started, release := make(chan struct{}), make(chan struct{})
	var aCalls, bCalls atomic.Int32
	a := task.NewRunner(v.E, map[string]task.Handler{"/test/slow": func(context.Context, *ucan.Token) error {
		aCalls.Add(1)
		close(started)
		<-release
		return errors.New("late failure")
	}}, opts(c, "worker-a"))
	b := task.NewRunner(v2.E, map[string]task.Handler{"/test/slow": func(context.Context, *ucan.Token) error {
		bCalls.Add(1)
		return nil
	}}, opts(c, "worker-b"))
	done := make(chan struct{})
	go func() { defer close(done); a.RunOnce(context.Background()) }()
	<-started
	ent := state(t, v.E, id)
	if ent.Status != task.StatusRunning {
		t.Fatalf("claimed task is %s", ent.Status)
	}
	if o, _ := ent.State.LookupByString("owner"); o == nil {
		t.Fatal("running without owner")
	} else if s, _ := o.AsString(); s != "worker-a" {
		t.Fatalf("owner %q", s)
	}
	runOnce(t, b, 0) // lease held
	c.Add(time.Minute)
	runOnce(t, b, 1) // lease expired: b takes over
	close(release)
	<-done
	ent = state(t, v.E, id)
	if ent.Status != task.StatusDone {
		t.Fatalf("task is %s after a's late failure, want done", ent.Status)
	}
	if aCalls.Load() != 1 || bCalls.Load() != 1 {
		t.Fatalf("calls a %d b %d", aCalls.Load(), bCalls.Load())
	}
}

// Queued tasks and tasks whose worker died survive a restart over the same store.
func TestRestartResumes(t *testing.T) {
	c := newClock()
	st := mem.New()
	v := machinestest.Open(t, st, nil, nil, c.Now)
	crashed := schedule(t, v.E, task.Task{Cmd: "/test/x"})
	started, release := make(chan struct{}), make(chan struct{})
	a := task.NewRunner(v.E, map[string]task.Handler{"/test/x": func(context.Context, *ucan.Token) error {
		close(started)
		<-release
		return nil
	}}, opts(c, "a"))
	done := make(chan struct{})
	go func() { defer close(done); a.RunOnce(context.Background()) }()
	<-started
	queued := schedule(t, v.E, task.Task{Cmd: "/test/x", RunAt: c.Now().Add(time.Second)})
	v.Reopen(st) // the worker's process "dies": its engine is gone
	defer func() { close(release); <-done }()

	var ran []cid.Cid
	var mu sync.Mutex
	b := task.NewRunner(v.E, map[string]task.Handler{"/test/x": func(_ context.Context, inv *ucan.Token) error {
		mu.Lock()
		ran = append(ran, inv.CID)
		mu.Unlock()
		return nil
	}}, opts(c, "b"))
	runOnce(t, b, 0)
	c.Add(time.Second)
	runOnce(t, b, 1)
	if len(ran) != 1 || !ran[0].Equals(queued) {
		t.Fatalf("ran %v, want the queued task", ran)
	}
	c.Add(time.Minute)
	runOnce(t, b, 1)
	if len(ran) != 2 || !ran[1].Equals(crashed) {
		t.Fatalf("ran %v, want the crashed task second", ran)
	}
	for _, id := range []cid.Cid{queued, crashed} {
		if s := state(t, v.E, id).Status; s != task.StatusDone {
			t.Fatalf("%s is %s", id, s)
		}
	}
}

// Run polls, runs due tasks, and on cancellation returns nil with its running task put
// back in the queue without counting the attempt.
func TestRunStops(t *testing.T) {
	c := newClock()
	v := machinestest.Open(t, mem.New(), nil, nil, c.Now)
	quick := schedule(t, v.E, task.Task{Cmd: "/test/quick"})
	blocking := schedule(t, v.E, task.Task{Cmd: "/test/block"})
	started := make(chan struct{})
	o := opts(c, "a")
	o.PollInterval = 10 * time.Millisecond
	r := task.NewRunner(v.E, map[string]task.Handler{
		"/test/quick": func(context.Context, *ucan.Token) error { return nil },
		"/test/block": func(ctx context.Context, _ *ucan.Token) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		},
	}, o)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	<-started
	deadline := time.Now().Add(5 * time.Second)
	for state(t, v.E, quick).Status != task.StatusDone {
		if time.Now().After(deadline) {
			t.Fatal("quick task not done")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
	st := state(t, v.E, blocking)
	if st.Status != task.StatusQueued || intOf(t, st.State, "attempts") != -1 {
		t.Fatalf("stopped task is %s %v", st.Status, st.State)
	}
}

// TestKeepTrying: a task failing with KeepTrying errors is retried past MaxAttempts with
// the backoff capped at MaxBackoff, until it succeeds; one whose error then turns
// permanent fails at once; a plain error after many KeepTrying attempts fails.
func TestKeepTrying(t *testing.T) {
	c := newClock()
	v := machinestest.Open(t, mem.New(), nil, nil, c.Now)
	ok := schedule(t, v.E, task.Task{Cmd: "/test/ok"})
	perm := schedule(t, v.E, task.Task{Cmd: "/test/perm"})
	plain := schedule(t, v.E, task.Task{Cmd: "/test/plain"})
	// The runner runs the three tasks' handlers concurrently: calls is shared.
	var mu sync.Mutex
	calls := map[string]int{}
	const away = 10 // attempts that fail with KeepTrying, past MaxAttempts (3)
	handler := func(cmd string, last error) task.Handler {
		return func(context.Context, *ucan.Token) error {
			mu.Lock()
			calls[cmd]++
			n := calls[cmd]
			mu.Unlock()
			if n <= away {
				return task.KeepTrying(errors.New("broker away"))
			}
			return last
		}
	}
	o := opts(c, "a")
	o.MaxAttempts = 3
	o.MaxBackoff = 4 * time.Second
	r := task.NewRunner(v.E, map[string]task.Handler{
		"/test/ok":    handler("ok", nil),
		"/test/perm":  handler("perm", task.Permanent(errors.New("refused"))),
		"/test/plain": handler("plain", errors.New("plain failure")),
	}, o)
	for i := 1; i <= away; i++ {
		runOnce(t, r, 3)
		for _, id := range []cid.Cid{ok, perm, plain} {
			st := state(t, v.E, id)
			if st.Status != task.StatusQueued || intOf(t, st.State, "attempts") != int64(i) {
				t.Fatalf("after attempt %d: %s %v", i, st.Status, st.State)
			}
			if wait := intOf(t, st.State, "notBefore") - c.Now().UnixMilli(); wait > o.MaxBackoff.Milliseconds() {
				t.Fatalf("after attempt %d: waits %d ms, more than MaxBackoff", i, wait)
			}
		}
		c.Add(o.MaxBackoff)
	}
	runOnce(t, r, 3)
	for _, tc := range []struct {
		id     cid.Cid
		status string
	}{{ok, task.StatusDone}, {perm, task.StatusFailed}, {plain, task.StatusFailed}} {
		if st := state(t, v.E, tc.id); st.Status != tc.status {
			t.Errorf("%s: %s %v, want %s", tc.id, st.Status, st.State, tc.status)
		}
	}
	c.Add(time.Hour)
	runOnce(t, r, 0)
	mu.Lock()
	defer mu.Unlock()
	if calls["ok"] != away+1 || calls["perm"] != away+1 || calls["plain"] != away+1 {
		t.Fatalf("calls %v", calls)
	}
}
