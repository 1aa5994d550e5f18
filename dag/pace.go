package dag

import "context"

// paceKey is the context key of WithPace.
type paceKey struct{}

// WithPace returns a context under which every write the engine commits for the caller
// (Update, Put, Remove, Transition, Fail) first calls pace, before it joins the commit
// queue (and no longer counts as an operation about to be queued); an error from pace is
// the write's. A replay of the archive uses it to run a task that wrote in several
// transactions with each transaction at its own place among the other writes.
func WithPace(ctx context.Context, pace func(context.Context) error) context.Context {
	return context.WithValue(ctx, paceKey{}, pace)
}

// pace runs the pace function of ctx (WithPace), if any, for the job j.
func pace(ctx context.Context, j *job) error {
	p, ok := ctx.Value(paceKey{}).(func(context.Context) error)
	if !ok {
		return nil
	}
	// While it waits its turn, the committer must not wait for it to be queued.
	j.gate.leave()
	return p(ctx)
}
