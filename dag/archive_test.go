package dag_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive"
	blobmem "github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/receipts"
)

// withArchive archives the engine's own invocations in a.
func withArchive(a *archive.Archive) envOpt { return func(o *dag.Options) { o.Archive = a } }

// newArchived returns an engine over a fresh kv store whose own invocations are archived
// through an outbox in that store, and the archive.
func newArchived(t *testing.T, opts ...envOpt) (*env, *archive.Archive) {
	t.Helper()
	store := mem.New()
	a := archive.New(blobmem.New(), archive.Options{Outbox: store})
	t.Cleanup(func() { a.Close() })
	return newEnv(t, store, append([]envOpt{withArchive(a)}, opts...)...), a
}

// checkArchived checks that the invocation inv (stored as a block) is archived as the only
// invocation of an agent message, indexed as invocation/<inv>/<msg>.in and
// task/<task>/<inv>.invocation, and returns the message's CID.
func checkArchived(t *testing.T, v *env, a *archive.Archive, inv cid.Cid) cid.Cid {
	t.Helper()
	ctx := context.Background()
	tok, err := v.e.Receipt(ctx, inv)
	if err != nil {
		t.Fatalf("invocation %s: %v", inv, err)
	}
	data, err := archive.InvocationMessage(tok.CID, tok.Raw)
	if err != nil {
		t.Fatal(err)
	}
	msg := message.CID(data)
	got, err := a.Get(ctx, msg)
	if err != nil {
		t.Fatalf("the message of %s (%s %s): %v", tok.Invocation.Command, inv, msg, err)
	}
	m, err := message.Decode(got, message.Limits{})
	if err != nil {
		t.Fatalf("archived message %s: %v", msg, err)
	}
	if len(m.Invocations) != 1 || !m.Invocations[0].Equals(inv) || len(m.Blocks) != 1 || !bytes.Equal(m.Blocks[0].Data, tok.Raw) {
		t.Fatalf("archived message %s holds %v, want the invocation %s alone", msg, m.Invocations, inv)
	}
	task := must(tok.Invocation.Task())
	err = v.kv.View(ctx, func(kt kv.Tx) error {
		for _, k := range []string{archive.InvocationInKey(inv, msg), archive.TaskInvocationKey(task, inv)} {
			if _, err := kt.Get([]byte(k)); err != nil {
				return errors.Join(err, errors.New(k))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("index of %s: %v", inv, err)
	}
	return msg
}

func pending(t *testing.T, a *archive.Archive) int {
	t.Helper()
	return must(a.Pending(context.Background()))
}

// TestArchiveTxInvoke: an invocation a machine issues in its transaction (Tx.Invoke) is
// archived in it; the invocation of an attempt the group commit rolled back is not.
func TestArchiveTxInvoke(t *testing.T) {
	m := &effects{attempts: map[string][]cid.Cid{}}
	v, a := newArchived(t, withMachine("notes", m))
	res := v.put(v.path("notes/a"), note("a"))
	r := must(receipts.Parse(res.Receipt))
	if len(r.Fx) != 1 {
		t.Fatalf("fx %v", r.Fx)
	}
	checkArchived(t, v, a, r.Fx[0])
	if n := pending(t, a); n != 1 {
		t.Fatalf("outbox holds %d messages, want 1", n)
	}
	// Moved to a segment, it is still found.
	if n, err := a.Flush(context.Background()); err != nil || n != 1 {
		t.Fatalf("Flush = %d, %v", n, err)
	}
	checkArchived(t, v, a, r.Fx[0])
}

func TestArchiveAcrossRetries(t *testing.T) {
	m := &effects{attempts: map[string][]cid.Cid{}}
	v, a := newArchived(t, withMachine("notes", m))
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
	if res := <-done; res == nil || res.Err != nil {
		t.Fatalf("slow put: %+v", res)
	}
	m.mu.Lock()
	tries := m.attempts["slow"]
	m.mu.Unlock()
	if len(tries) != 2 {
		t.Fatalf("the slow put ran %d times", len(tries))
	}
	checkArchived(t, v, a, tries[1])
	if n := pending(t, a); n != 1 {
		t.Fatalf("outbox holds %d messages, want only the committed attempt's", n)
	}
}

// TestArchiveSelfOperation: an operation run with the service's own invocation made
// outside a transaction (Engine.Invoke), with no message, archives it in the operation's
// transaction, once; one that came in a message is not archived again; an engine
// without an Archiver archives nothing.
func TestArchiveSelfOperation(t *testing.T) {
	ctx := context.Background()
	v, a := newArchived(t)
	p := v.path("notes/self")
	tok := must(v.e.Invoke("/dag/put", pathArgs(p, note("s"))))
	res := must(v.e.Put(ctx, tok, p, note("s")))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	checkArchived(t, v, a, tok.CID)
	if _, err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// The same invocation again (a re-run): its stored result, nothing archived again.
	again := must(v.e.Put(ctx, tok, p, note("s")))
	if !again.Repeat || pending(t, a) != 0 {
		t.Fatalf("re-run: repeat %v, %d messages archived again", again.Repeat, pending(t, a))
	}
	// Arrived in a message: the message is the client's, archived before it ran.
	q := v.path("notes/msg")
	tok2 := must(v.e.Invoke("/dag/put", pathArgs(q, note("m"))))
	msg := message.CID([]byte("the request"))
	if res := must(v.e.Put(ctx, tok2, q, note("m"), dag.WithMessage(msg))); res.Err != nil {
		t.Fatal(res.Err)
	}
	if n := pending(t, a); n != 0 {
		t.Fatalf("an invocation that came in a message was archived again (%d)", n)
	}
	// No Archiver: nothing is written for the service's own invocations.
	plain := newEnv(t, nil)
	tok3 := must(plain.e.Invoke("/dag/put", pathArgs(plain.path("notes/x"), note("x"))))
	if res := must(plain.e.Put(ctx, tok3, plain.path("notes/x"), note("x"))); res.Err != nil {
		t.Fatal(res.Err)
	}
	err := plain.kv.View(ctx, func(kt kv.Tx) error {
		return kt.Scan(kv.ScanOptions{Start: []byte("outbox/"), End: kv.PrefixEnd([]byte("outbox/"))}, func(k, _ []byte) error {
			return errors.New("outbox key " + string(k))
		})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// failingArchiver fails every write: the operation fails with it and commits nothing.
type failingArchiver struct{}

func (failingArchiver) ArchiveInvocation(kv.Tx, cid.Cid, []byte) (cid.Cid, error) {
	return cid.Undef, errors.New("outbox on fire")
}

func TestArchiveFailure(t *testing.T) {
	ctx := context.Background()
	m := &effects{attempts: map[string][]cid.Cid{}}
	v := newEnv(t, nil, withMachine("notes", m), func(o *dag.Options) { o.Archive = failingArchiver{} })
	p := v.path("notes/a")
	_, err := v.e.Put(ctx, v.inv(v.agent, v.space, "/dag/put", pathArgs(p, note("a"))), p, note("a"))
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("outbox on fire")) {
		t.Fatalf("err = %v, want the archive's failure", err)
	}
	if _, err := v.e.Entry(ctx, p); !errors.Is(err, dag.ErrNotFound) {
		t.Fatalf("the entry was written without its invocation archived: %v", err)
	}
}
