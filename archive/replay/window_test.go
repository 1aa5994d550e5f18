package replay

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/ucan"
)

// execFunc runs fn for each write, with the index of its step (its message is msgs[i]).
type execFunc struct {
	msgs map[cid.Cid]int
	fn   func(i int) error
}

func (*execFunc) NewBudget() *ops.Budget { return nil }

func (*execFunc) Check(*ucan.Token, ucan.Loader, *ops.Budget) *ops.Checked {
	return &ops.Checked{}
}

func (r *execFunc) ExecWith(_ context.Context, _ *ops.Checked, msg cid.Cid, _ ...dag.OpOption) (ops.Outcome, error) {
	return ops.Outcome{Receipt: &ucan.Token{CID: msg}}, r.fn(r.msgs[msg])
}

// TestWindowSlides: with Window writes in flight, the next starts once the oldest is
// done, not once all of them are: a write held until the one Window places after the
// first has started does not hold the replay up.
func TestWindowSlides(t *testing.T) {
	steps := make([]Step, Window+2)
	r := &execFunc{msgs: map[cid.Cid]int{}}
	for i := range steps {
		c := message.Sum(message.CodecRaw, fmt.Appendf(nil, "step %d", i))
		steps[i] = Step{Msg: c, Inv: &ucan.Token{CID: c, Invocation: &ucan.Invocation{Command: ops.CmdPut}}, Seq: uint64(i + 1), Change: true, TS: int64(i)}
		r.msgs[c] = i
	}
	started := make(chan struct{})
	var once sync.Once
	r.fn = func(i int) error {
		switch i {
		case Window: // the first write past the window
			once.Do(func() { close(started) })
		case 1: // the window's second write waits for it
			select {
			case <-started:
			case <-time.After(10 * time.Second):
				return errors.New("the write past the window did not start while the window's second was running")
			}
		}
		return nil
	}
	res, err := Run(context.Background(), &Plan{Steps: steps}, Options{Runner: r, Store: noStore{}, SetClock: func(time.Time) {}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != len(steps) {
		t.Fatalf("%d steps ran, want %d", res.Steps, len(steps))
	}
}
