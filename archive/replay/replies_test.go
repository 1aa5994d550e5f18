package replay

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
)

// TestRecordReplies: Run records every reply of the plan (each invocation's .out index
// names its reply), several replies to one transaction of the engine instead of one each.
func TestRecordReplies(t *testing.T) {
	ctx := context.Background()
	store := mem.New()
	e, _ := openEngine(t, store)
	const replies, perReply = 2000, 3
	plan := &Plan{Replies: map[cid.Cid][]cid.Cid{}}
	for r := range replies {
		msg := message.Sum(message.CodecCAR, fmt.Appendf(nil, "reply %d", r))
		for i := range perReply {
			plan.Replies[msg] = append(plan.Replies[msg], message.Sum(message.CodecRaw, fmt.Appendf(nil, "invocation %d.%d", r, i)))
		}
	}
	before := e.Stats().Commits
	if _, err := Run(ctx, plan, Options{Runner: nopRunner{}, Store: e, SetClock: func(time.Time) {}}); err != nil {
		t.Fatal(err)
	}
	if n := e.Stats().Commits - before; n >= replies {
		t.Errorf("%d replies recorded in %d transactions, want fewer (group commit)", replies, n)
	}
	err := store.View(ctx, func(tx kv.Tx) error {
		for msg, invs := range plan.Replies {
			for _, inv := range invs {
				v, err := tx.Get([]byte(archive.InvocationOutKey(inv, msg)))
				if err != nil {
					return fmt.Errorf("reply %s of %s: %w", msg, inv, err)
				}
				if got, err := cid.Cast(v); err != nil || !got.Equals(msg) {
					return fmt.Errorf("reply of %s: %s, want %s (%v)", inv, got, msg, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// failStore fails to record one reply.
type failStore struct{ noStore }

var errRecord = errors.New("record failed")

func (failStore) RecordReply(_ context.Context, msg cid.Cid, _ []cid.Cid, _ ...dag.OpOption) error {
	if msg.Equals(message.Sum(message.CodecCAR, []byte("reply 7"))) {
		return errRecord
	}
	return nil
}

// TestRecordRepliesError: a reply that cannot be recorded fails Run, naming it.
func TestRecordRepliesError(t *testing.T) {
	plan := &Plan{Replies: map[cid.Cid][]cid.Cid{}}
	for r := range 20 {
		msg := message.Sum(message.CodecCAR, fmt.Appendf(nil, "reply %d", r))
		plan.Replies[msg] = []cid.Cid{message.Sum(message.CodecRaw, fmt.Appendf(nil, "invocation %d", r))}
	}
	bad := message.Sum(message.CodecCAR, []byte("reply 7"))
	_, err := Run(context.Background(), plan, Options{Runner: nopRunner{}, Store: failStore{}, SetClock: func(time.Time) {}})
	if !errors.Is(err, errRecord) || !strings.Contains(err.Error(), bad.String()) {
		t.Fatalf("Run: %v, want %v naming %s", err, errRecord, bad)
	}
}
