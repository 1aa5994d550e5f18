package task

import "errors"

var (
	// ErrInvalidTask is returned by Schedule for a task it cannot schedule.
	ErrInvalidTask = errors.New("task: invalid task")
	// ErrCorrupt is returned when a stored task or queue key cannot be decoded.
	ErrCorrupt = errors.New("task: corrupt stored data")
	// ErrNoHandler is the failure of an attempt of a task whose command has no handler.
	ErrNoHandler = errors.New("task: no handler for command")
	// ErrLeaseLost is the cause of the handler context's cancellation when another
	// worker took the task over.
	ErrLeaseLost = errors.New("task: lease lost")
)

// permanent marks an error that no retry can fix.
type permanent struct{ err error }

func (p *permanent) Error() string { return p.err.Error() }
func (p *permanent) Unwrap() error { return p.err }

// Permanent wraps err so the runner fails the task at once instead of retrying it.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanent{err: err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *permanent
	return errors.As(err, &p)
}
