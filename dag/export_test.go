package dag

import (
	"context"
	"testing"

	"github.com/w3dag/w3dag/kv"
)

// LogFor exposes Engine.logFor (one page) to the external tests.
func LogFor(e *Engine, ctx context.Context, prefix Path, after uint64) ([]Event, uint64, error) {
	return e.logFor(ctx, prefix, after, logPage)
}

// ForgetSpaceLog makes e's store look as if records up to from were committed before it
// had a space log: their space-log copies are deleted and meta/spacelog-from set.
func ForgetSpaceLog(t testing.TB, e *Engine, from uint64) {
	t.Helper()
	err := e.kv.Update(context.Background(), func(kt kv.Tx) error {
		evs, err := readLog(kt, 0, int(from))
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if err := kt.Delete(spaceLogKey(ev.Path.Subject, ev.Seq)); err != nil {
				return err
			}
		}
		return kt.Put([]byte(keySpaceLogFrom), be64(from))
	})
	if err != nil {
		t.Fatal(err)
	}
}
