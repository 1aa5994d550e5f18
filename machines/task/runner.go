package task

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/failrun"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/ucan"
)

// Runner defaults (the zero values of RunnerOptions).
const (
	// DefaultMaxAttempts is how many times a task is tried before it fails.
	DefaultMaxAttempts = 8
	// DefaultBaseBackoff is the wait before the second attempt; each further attempt
	// waits twice as long as the one before, up to DefaultMaxBackoff.
	DefaultBaseBackoff = 2 * time.Second
	// DefaultMaxBackoff bounds the wait between attempts.
	DefaultMaxBackoff = 10 * time.Minute
	// DefaultLease is how long a claimed task is its worker's; the worker renews it every
	// third of it while the handler runs, and another worker may claim the task once it
	// has expired.
	DefaultLease = 2 * time.Minute
	// MinLease is the shortest lease worth configuring: renewals come every third of
	// the lease, and each is a kv transaction that must finish well within it.
	MinLease = time.Second
	// DefaultPollInterval is how often Run looks for due tasks.
	DefaultPollInterval = time.Second
	// DefaultConcurrency is how many handlers one Runner runs at once.
	DefaultConcurrency = 4
	// MaxErrorLength is the most bytes of a handler's error kept in a failed state.
	MaxErrorLength = 1024
	// finishTimeout bounds recording a task's outcome after the runner's context ended.
	finishTimeout = 5 * time.Second
)

// Handler runs a task: inv is the task's self-issued invocation (its Args carry the
// task's arguments, and "path" when Task.Path was set). A nil error marks the task done;
// an error is retried with backoff, unless marked with Permanent, up to MaxAttempts
// attempts (past them for as long as it is marked with KeepTrying). Handlers may run more
// than once for one task (a crash, an expired lease), so their effects must be
// idempotent; going through the engine with inv makes them so.
type Handler func(ctx context.Context, inv *ucan.Token) error

// RunnerOptions configure a Runner. Every zero value means the documented default.
type RunnerOptions struct {
	// Owner names this worker in running states; "" is "<hostname>/<pid>/<random>".
	Owner string
	// Lease is how long a claim lasts without renewal; zero is DefaultLease.
	Lease time.Duration
	// PollInterval is how often Run looks for due tasks; zero is DefaultPollInterval.
	PollInterval time.Duration
	// Concurrency bounds the handlers running at once; zero is DefaultConcurrency.
	Concurrency int
	// MaxAttempts bounds the attempts of a task; zero is DefaultMaxAttempts. An attempt
	// that fails with a KeepTrying error is retried whatever the count.
	MaxAttempts int
	// BaseBackoff and MaxBackoff shape the retry waits; zero is DefaultBaseBackoff and
	// DefaultMaxBackoff.
	BaseBackoff time.Duration
	MaxBackoff  time.Duration
	// Clock tells the time for due times and leases; nil is time.Now. Workers sharing a
	// store compare leases by it, so their clocks should agree within a lease.
	Clock func() time.Time
	// Logger receives task failures; nil discards.
	Logger *slog.Logger
}

// Runner claims and runs due tasks of one engine. Several runners (in one process or in
// several sharing the store) may run at once: leases keep a task with one of them.
type Runner struct {
	e        *dag.Engine
	handlers map[string]Handler
	o        RunnerOptions
	wake     chan struct{}
}

// NewRunner returns a Runner of the tasks of e, running handlers by command.
func NewRunner(e *dag.Engine, handlers map[string]Handler, opts RunnerOptions) *Runner {
	if opts.Owner == "" {
		host, _ := os.Hostname()
		var b [4]byte
		_, _ = rand.Read(b[:])
		opts.Owner = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.BaseBackoff <= 0 {
		opts.BaseBackoff = DefaultBaseBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	hs := make(map[string]Handler, len(handlers))
	for k, h := range handlers {
		hs[k] = h
	}
	return &Runner{e: e, handlers: hs, o: opts, wake: make(chan struct{}, 1)}
}

// Owner returns the name this runner claims tasks under.
func (r *Runner) Owner() string { return r.o.Owner }

// Backoff returns the wait after the attempt-th failed attempt (1 for the first):
// BaseBackoff doubled attempt-1 times, at most MaxBackoff.
func (r *Runner) Backoff(attempt int64) time.Duration {
	d := r.o.BaseBackoff
	for i := int64(1); i < attempt && d < r.o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, r.o.MaxBackoff)
}

// Wake makes Run look for due tasks now rather than at its next poll.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs due tasks until ctx ends, looking for them every PollInterval (and
// when Wake is called or a handler finishes). When ctx ends it stops claiming, lets the
// running handlers see the cancellation, puts their tasks back in the queue without
// counting the attempt, and returns nil. It returns an error only when the engine is
// closed; other failures are logged and retried at the next poll.
func (r *Runner) Run(ctx context.Context) error {
	slots := make(chan struct{}, r.o.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	// The poll runs every PollInterval: a store that stays down is logged once, then
	// once a minute (failrun), not at every poll.
	claimFails := failrun.Log{What: "task: claiming due tasks"}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-r.wake:
		}
		free := r.o.Concurrency - len(slots)
		if free > 0 {
			claims, err := r.claim(ctx, free)
			if errors.Is(err, dag.ErrClosed) {
				return err
			}
			switch {
			case err != nil && ctx.Err() == nil:
				claimFails.Failed(ctx, r.o.Logger, err, time.Now())
			case err == nil:
				claimFails.Succeeded(ctx, r.o.Logger, time.Now())
			}
			for _, c := range claims {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					r.execute(ctx, c)
					<-slots
					r.Wake()
				}()
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(r.o.PollInterval)
	}
}

// RunOnce claims the tasks due now (up to Concurrency), runs them and waits for them. It
// returns how many it ran.
func (r *Runner) RunOnce(ctx context.Context) (int, error) {
	claims, err := r.claim(ctx, r.o.Concurrency)
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, c := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.execute(ctx, c)
		}()
	}
	wg.Wait()
	return len(claims), nil
}

// claim is one task this runner holds the lease of.
type claim struct {
	task     cid.Cid
	attempts int64 // attempts made before this one
	lease    int64
}

// claim takes up to n due tasks (queued and due, or running with an expired lease).
func (r *Runner) claim(ctx context.Context, n int) ([]claim, error) {
	var claims []claim
	err := r.e.Update(ctx, func(tx *dag.Tx) error {
		claims = claims[:0]
		now := r.o.Clock().UnixMilli()
		kt, err := tx.KV(QueuePrefix)
		if err != nil {
			return err
		}
		type due struct {
			key  []byte
			at   int64 // the key's due time
			task cid.Cid
		}
		var dues []due
		var bad [][]byte
		err = kt.Scan(scanDue(now, n), func(k, _ []byte) error {
			at, c, err := parseQueueKey(k)
			if err != nil {
				bad = append(bad, append([]byte(nil), k...))
				return nil
			}
			dues = append(dues, due{key: append([]byte(nil), k...), at: at, task: c})
			return nil
		})
		if err != nil {
			return fmt.Errorf("scanning due tasks: %w", err)
		}
		for _, k := range bad {
			r.o.Logger.Error("task: dropping an undecodable queue key", "key", fmt.Sprintf("%x", k))
			if err := kt.Delete(k); err != nil {
				return err
			}
		}
		for _, d := range dues {
			p := entryPath(tx.Service(), d.task)
			ent, err := tx.Entry(p)
			if errors.Is(err, dag.ErrNotFound) {
				if err := kt.Delete(d.key); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			st, err := parseState(ent.State)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrCorrupt, p, err)
			}
			switch {
			case ent.Status == StatusQueued:
			case ent.Status == StatusRunning && st.lease <= now:
			case ent.Status == StatusRunning:
				// renewed meanwhile: its index key is at the new lease end
				if err := kt.Delete(d.key); err != nil {
					return err
				}
				if err := kt.Put(queueKey(st.lease, d.task), nil); err != nil {
					return err
				}
				continue
			default: // done, failed: nothing left to do
				if err := kt.Delete(d.key); err != nil {
					return err
				}
				continue
			}
			lease := now + r.o.Lease.Milliseconds()
			// record moves the key from where the entry's state puts it; a key found
			// elsewhere (left stale) is dropped here, not deleted twice when it is that one.
			at, ok, err := dueAt(ent.Status, ent.State)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", ErrCorrupt, p, err)
			}
			if !ok || at != d.at {
				if err := kt.Delete(d.key); err != nil {
					return err
				}
			}
			if _, err := record(tx, ClaimCommand, p, d.task, ent, runningState(lease, r.o.Owner, st.attempts)); err != nil {
				return err
			}
			claims = append(claims, claim{task: d.task, attempts: st.attempts, lease: lease})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// execute runs the handler of c's task while renewing its lease, then records the outcome.
func (r *Runner) execute(ctx context.Context, c claim) {
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var mu sync.Mutex
	lease := c.lease
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(r.o.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-hctx.Done():
				return
			case <-t.C:
			}
			mu.Lock()
			l, err := r.renew(hctx, c, lease)
			if err == nil {
				lease = l
			}
			mu.Unlock()
			if errors.Is(err, ErrLeaseLost) {
				cancel(ErrLeaseLost)
				return
			}
			if err != nil && hctx.Err() == nil {
				r.o.Logger.Log(hctx, dag.LogLevel(err), "task: renewing lease", "task", c.task, "err", err)
			}
		}
	}()
	herr := r.handle(hctx, c)
	close(stop)
	<-renewed
	mu.Lock()
	c.lease = lease
	mu.Unlock()
	if errors.Is(context.Cause(hctx), ErrLeaseLost) {
		r.o.Logger.Warn("task: lease lost while running; another worker has it", "task", c.task)
		return
	}
	// The outcome is recorded even when the runner is stopping, whether ctx ended before or
	// ends while it is recorded (checking ctx first and then recording under it lost
	// outcomes to that race), for at most finishTimeout after ctx ended. A handler cut short
	// is put back without counting the attempt.
	fctx, cancelF := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelF()
	defer context.AfterFunc(ctx, func() { time.AfterFunc(finishTimeout, cancelF) })()
	if ctx.Err() != nil && herr != nil {
		herr = errStopped
	}
	if err := r.finish(fctx, c, herr); err != nil && !errors.Is(err, dag.ErrClosed) {
		r.o.Logger.Log(fctx, dag.LogLevel(err), "task: recording outcome", "task", c.task, "err", err)
	}
}

var errStopped = errors.New("task: runner stopped")

func (r *Runner) handle(ctx context.Context, c claim) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("task handler panicked: %v", p)
		}
	}()
	inv, err := r.e.Receipt(ctx, c.task)
	if err != nil {
		return fmt.Errorf("loading the task's invocation: %w", err)
	}
	if inv.Invocation == nil {
		return Permanent(fmt.Errorf("%w: %s is not an invocation", ErrCorrupt, c.task))
	}
	h, ok := r.handlers[inv.Invocation.Command]
	if !ok {
		return fmt.Errorf("%w %s", ErrNoHandler, inv.Invocation.Command)
	}
	return h(ctx, inv)
}

// holds reports whether the entry is still running under c's lease by this runner.
func (r *Runner) holds(ent *dag.Entry, lease int64) (taskState, bool, error) {
	st, err := parseState(ent.State)
	if err != nil {
		return st, false, fmt.Errorf("%w: %s: %w", ErrCorrupt, ent.Path, err)
	}
	return st, ent.Status == StatusRunning && st.owner == r.o.Owner && st.lease == lease, nil
}

// renew extends the lease of c (whose current lease end is lease) and returns the new end.
func (r *Runner) renew(ctx context.Context, c claim, lease int64) (int64, error) {
	var next int64
	err := r.e.Update(ctx, func(tx *dag.Tx) error {
		p := entryPath(tx.Service(), c.task)
		ent, err := tx.Entry(p)
		if err != nil {
			return err
		}
		st, ok, err := r.holds(ent, lease)
		if err != nil {
			return err
		}
		if !ok {
			return ErrLeaseLost
		}
		next = r.o.Clock().UnixMilli() + r.o.Lease.Milliseconds()
		_, err = record(tx, RenewCommand, p, c.task, ent, runningState(next, r.o.Owner, st.attempts))
		return err
	})
	return next, err
}

// finish records the outcome of c: done, failed, or queued again after a backoff.
func (r *Runner) finish(ctx context.Context, c claim, herr error) error {
	var result cid.Cid
	if herr == nil {
		if inv, err := r.e.Receipt(ctx, c.task); err == nil && inv.Invocation != nil {
			if task, err := inv.Invocation.Task(); err == nil {
				if rc, err := r.e.TaskResult(ctx, task); err == nil {
					result = rc
				}
			}
		}
	}
	return r.e.Update(ctx, func(tx *dag.Tx) error {
		p := entryPath(tx.Service(), c.task)
		ent, err := tx.Entry(p)
		if err != nil {
			return err
		}
		_, ok, err := r.holds(ent, c.lease)
		if err != nil {
			return err
		}
		if !ok {
			return nil // another worker took it over; its outcome counts
		}
		now := r.o.Clock().UnixMilli()
		attempts := c.attempts + 1
		var state datamodel.Node
		switch {
		case herr == nil:
			state = doneState(result)
		case errors.Is(herr, errStopped):
			state = queuedState(c.attempts, now)
		case IsPermanent(herr) || (attempts >= int64(r.o.MaxAttempts) && !IsKeepTrying(herr)):
			// dag.StateText: an error may quote bytes from elsewhere (a broker's answer),
			// and a state that cannot be encoded could not be written: the task would be
			// claimed and run again and again.
			state = failedState(attempts, dag.StateText(herr.Error(), MaxErrorLength))
		default:
			state = queuedState(attempts, now+r.Backoff(attempts).Milliseconds())
		}
		if herr != nil && !errors.Is(herr, errStopped) {
			r.o.Logger.Warn("task: attempt failed", "task", c.task, "attempt", attempts, "err", herr)
		}
		_, err = record(tx, FinishCommand, p, c.task, ent, state)
		return err
	})
}

func doneState(receipt cid.Cid) datamodel.Node {
	n, _ := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusDone))
		if receipt.Defined() {
			qp.MapEntry(ma, "receipt", qp.Link(cidlink.Link{Cid: receipt}))
		}
	})
	return n
}

// taskState is what the runner reads of a task state.
type taskState struct {
	attempts int64
	lease    int64
	owner    string
}

func parseState(n datamodel.Node) (taskState, error) {
	var st taskState
	if n == nil || n.Kind() != datamodel.Kind_Map {
		return st, errors.New("state is not a map")
	}
	intOf := func(name string) (int64, error) {
		v, err := n.LookupByString(name)
		if err != nil || v == nil || v.IsAbsent() {
			return 0, nil
		}
		i, err := v.AsInt()
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", name)
		}
		return i, nil
	}
	var err error
	if st.attempts, err = intOf("attempts"); err != nil {
		return st, err
	}
	if st.lease, err = intOf("lease"); err != nil {
		return st, err
	}
	if v, err := n.LookupByString("owner"); err == nil && v != nil && !v.IsAbsent() {
		if st.owner, err = v.AsString(); err != nil {
			return st, errors.New(`"owner" is not a string`)
		}
	}
	return st, nil
}

// scanDue selects the first n queue keys due at or before now (unix ms).
func scanDue(now int64, n int) kv.ScanOptions {
	return kv.ScanOptions{Start: []byte(QueuePrefix), End: queueEnd(now), Limit: n}
}
