package dag_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/receipts"
)

// effects lists a self-issued invocation in the fx of every start's receipt (twice, to
// check that an effect is listed once), records the invocations each attempt made, fails
// internally for keys starting with "bad", and sleeps in the first attempt of keys
// starting with "slow" so that a bad operation queued meanwhile joins its batch.
type effects struct {
	dag.RecordMachine
	mu       sync.Mutex
	attempts map[string][]cid.Cid
}

func (m *effects) Start(tx *dag.Tx, p dag.Path, in datamodel.Node, prev *dag.Entry) (datamodel.Node, error) {
	if strings.HasPrefix(p.Key, "bad") {
		return nil, errors.New("disk on fire")
	}
	inv, err := tx.Invoke("/notes/effect", must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "key", qp.String(p.Key))
	})))
	if err != nil {
		return nil, err
	}
	tx.Effect(inv.CID)
	tx.Effect(inv.CID)
	tx.Effect(cid.Undef)
	m.mu.Lock()
	m.attempts[p.Key] = append(m.attempts[p.Key], inv.CID)
	first := len(m.attempts[p.Key]) == 1
	m.mu.Unlock()
	if first && strings.HasPrefix(p.Key, "slow") {
		time.Sleep(200 * time.Millisecond)
	}
	return m.RecordMachine.Start(tx, p, in, prev)
}

// Same lists an effect but changes nothing: the head receipt comes back without it.
func (m *effects) Same(tx *dag.Tx, e *dag.Entry) (datamodel.Node, bool, error) {
	inv, err := tx.Invoke("/notes/effect", nil)
	if err != nil {
		return nil, false, err
	}
	tx.Effect(inv.CID)
	return nil, false, nil
}

func TestEffects(t *testing.T) {
	m := &effects{attempts: map[string][]cid.Cid{}}
	v := newEnv(t, nil, withMachine("notes", m))
	ctx := context.Background()
	res := v.put(v.path("notes/a"), note("a"))
	r := must(receipts.Parse(res.Receipt))
	if len(r.Fx) != 1 || !r.Fx[0].Equals(m.attempts["a"][0]) {
		t.Fatalf("fx %v, want [%s]", r.Fx, m.attempts["a"][0])
	}
	// The effect resolves: a stored self-issued invocation.
	inv := must(v.e.Receipt(ctx, r.Fx[0]))
	if inv.Invocation == nil || inv.Invocation.Command != "/notes/effect" || inv.Invocation.Issuer != v.e.Service() {
		t.Fatalf("fx names %+v", inv.Invocation)
	}
	// A put that changes nothing returns the head receipt, with the fx it had.
	again := v.put(v.path("notes/a"), note("a"))
	if again.Receipt.CID != res.Receipt.CID {
		t.Fatalf("same-value put issued %s", again.Receipt.CID)
	}
	// Receipts of other writes carry none: remove has no effects.
	rm := must(receipts.Parse(v.remove(v.path("notes/a")).Receipt))
	if len(rm.Fx) != 0 {
		t.Fatalf("remove fx %v", rm.Fx)
	}
}

// TestEffectsAcrossRetries makes the group commit retry a batch (an operation fails with
// an internal error after another ran): the retried operation's receipt lists the
// effect of the attempt that committed, once, and that effect is the invocation the
// rolled-back attempt made too (deterministic nonces).
func TestEffectsAcrossRetries(t *testing.T) {
	m := &effects{attempts: map[string][]cid.Cid{}}
	v := newEnv(t, nil, withMachine("notes", m))
	ctx := context.Background()
	slow := v.path("notes/slow")
	done := make(chan *dag.Result, 1)
	go func() {
		r, err := v.e.Put(ctx, v.inv(v.agent, v.space, "/dag/put", pathArgs(slow, note("s"))), slow, note("s"))
		if err != nil {
			t.Error(err)
		}
		done <- r
	}()
	for {
		m.mu.Lock()
		n := len(m.attempts["slow"])
		m.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	bad := v.path("notes/bad")
	if _, err := v.e.Put(ctx, v.inv(v.agent, v.space, "/dag/put", pathArgs(bad, note("b"))), bad, note("b")); err == nil {
		t.Fatal("bad put: want an internal error")
	}
	res := <-done
	if res == nil || res.Err != nil {
		t.Fatalf("slow put: %+v", res)
	}
	m.mu.Lock()
	tries := m.attempts["slow"]
	m.mu.Unlock()
	if len(tries) != 2 {
		t.Fatalf("the slow put ran %d times; the bad one did not join its batch", len(tries))
	}
	r := must(receipts.Parse(res.Receipt))
	if len(r.Fx) != 1 || !r.Fx[0].Equals(tries[1]) {
		t.Fatalf("fx %v, want only the committed attempt's %s (attempts %v)", r.Fx, tries[1], tries)
	}
	// Tx.Invoke's nonces are derived from the commit sequence, the operation's invocation
	// and the call's rank: the retried attempt made the very invocation the rolled-back
	// one had made (a replay makes it too).
	if !tries[0].Equals(tries[1]) {
		t.Fatalf("the attempts made different invocations %s and %s", tries[0], tries[1])
	}
	if _, err := v.e.Receipt(ctx, tries[1]); err != nil {
		t.Fatalf("the committed attempt's invocation: %v", err)
	}
}

// putEffects writes, for each note started, a note at the key's "-fx" twin as the whole
// work of a self-issued invocation (Tx.PutEffect).
type putEffects struct {
	dag.RecordMachine
	mu   sync.Mutex
	invs map[string]cid.Cid
}

func (m *putEffects) Start(tx *dag.Tx, p dag.Path, in datamodel.Node, prev *dag.Entry) (datamodel.Node, error) {
	if strings.HasSuffix(p.Key, "-fx") {
		return m.RecordMachine.Start(tx, p, in, prev)
	}
	state, err := m.RecordMachine.Start(tx, p, in, prev)
	if err != nil {
		return nil, err
	}
	inv, err := tx.Invoke("/notes/effect", nil)
	if err != nil {
		return nil, err
	}
	twin := p
	twin.Key += "-fx"
	if _, err := tx.PutEffect(twin, inv, state); err != nil {
		return nil, err
	}
	if _, err := tx.PutEffect(twin, nil, state); !errors.Is(err, dag.ErrInvalidWrite) {
		return nil, fmt.Errorf("PutEffect without an invocation: %v, want ErrInvalidWrite", err)
	}
	m.mu.Lock()
	m.invs[p.Key] = inv.CID
	m.mu.Unlock()
	return state, nil
}

// TestPutEffect: the operation's receipt lists the invocation in its fx, and the
// invocation's task result is the head of the entry written under it.
func TestPutEffect(t *testing.T) {
	m := &putEffects{invs: map[string]cid.Cid{}}
	v := newEnv(t, nil, withMachine("notes", m))
	ctx := context.Background()
	r := must(receipts.Parse(v.put(v.path("notes/a"), note("a")).Receipt))
	inv := m.invs["a"]
	if len(r.Fx) != 1 || !r.Fx[0].Equals(inv) {
		t.Fatalf("fx %v, want [%s]", r.Fx, inv)
	}
	tok := must(v.e.Receipt(ctx, inv))
	task := must(tok.Invocation.Task())
	head := must(v.e.Entry(ctx, v.path("notes/a-fx"))).Head
	if got := must(v.e.TaskResult(ctx, task)); !got.Equals(head) {
		t.Fatalf("the effect's task result %s, want the head %s of the entry it wrote", got, head)
	}
	ran := must(receipts.Parse(must(v.e.Receipt(ctx, head))))
	if !ran.Ran.Equals(inv) {
		t.Fatalf("the written entry's receipt ran %s, want the effect %s", ran.Ran, inv)
	}
}
