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

// keepTrying marks an error worth retrying however many attempts it took.
type keepTrying struct{ err error }

func (k *keepTrying) Error() string { return k.err.Error() }
func (k *keepTrying) Unwrap() error { return k.err }

// KeepTrying wraps err so the runner retries the task past RunnerOptions.MaxAttempts,
// with the backoff capped at MaxBackoff, for as long as attempts fail this way: for an
// effect that must happen eventually and whose failure is another party being away (a
// broker down, overloaded, timing out). Permanent wins over KeepTrying.
func KeepTrying(err error) error {
	if err == nil {
		return nil
	}
	return &keepTrying{err: err}
}

// IsKeepTrying reports whether err was marked with KeepTrying.
func IsKeepTrying(err error) bool {
	var k *keepTrying
	return errors.As(err, &k)
}
