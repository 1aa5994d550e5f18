package dag_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/archive"
	blobmem "github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
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
	msg := message.CID(archive.InvocationMessage(tok.CID, tok.Raw))
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

// checkReply checks that the receipt rcpt of the invocation inv is archived in a reply
// message, {receipts: {inv: rcpt}} and the receipt's block, indexed as
// invocation/<inv>/<msg>.out.
func checkReply(t *testing.T, v *env, a *archive.Archive, inv cid.Cid, rcpt *ucan.Token) {
	t.Helper()
	ctx := context.Background()
	msg := message.CID(archive.ReplyMessage(inv, rcpt.CID, rcpt.Raw))
	got, err := a.Get(ctx, msg)
	if err != nil {
		t.Fatalf("the reply of %s: %v", inv, err)
	}
	m, err := message.Decode(got, message.Limits{})
	if err != nil || len(m.Receipts) != 1 || !m.Receipts[0].Invocation.Equals(inv) || !m.Receipts[0].Receipt.Equals(rcpt.CID) || !bytes.Equal(m.Index()[rcpt.CID], rcpt.Raw) {
		t.Fatalf("reply %s: %+v, %v", msg, m, err)
	}
	err = v.kv.View(ctx, func(kt kv.Tx) error {
		_, err := kt.Get([]byte(archive.InvocationOutKey(inv, msg)))
		return err
	})
	if err != nil {
		t.Fatalf("index of the reply of %s: %v", inv, err)
	}
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
		t.Fatalf("outbox holds %d messages, want 1 (a client's operation gets no reply archived by the engine)", n)
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
	checkReply(t, v, a, tok.CID, res.Receipt)
	// A failure is an error receipt, whose reply is archived too.
	bad := v.path("notes/bad-value")
	tokBad := must(v.e.Invoke("/dag/put", pathArgs(bad, note("b"))))
	resBad := must(v.e.Put(ctx, tokBad, bad, basicnode.NewString("not a note")))
	if resBad.Err == nil {
		t.Fatal("a string put as a note: want an error receipt")
	}
	checkArchived(t, v, a, tokBad.CID)
	checkReply(t, v, a, tokBad.CID, resBad.Receipt)
	if n := pending(t, a); n != 4 {
		t.Fatalf("outbox holds %d messages, want 4 (two invocations, two replies)", n)
	}
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

func (failingArchiver) ArchiveReply(kv.Tx, cid.Cid, cid.Cid, []byte) (cid.Cid, error) {
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

func TestSelfNonce(t *testing.T) {
	c1, c2 := rawCID("one"), rawCID("two")
	base := dag.SelfNonce(7, c1, 0)
	if len(base) != dag.SelfNonceSize {
		t.Fatalf("nonce of %d bytes", len(base))
	}
	if !bytes.Equal(base, dag.SelfNonce(7, c1, 0)) {
		t.Fatal("the same inputs gave another nonce")
	}
	for name, other := range map[string][]byte{
		"seq":      dag.SelfNonce(8, c1, 0),
		"cause":    dag.SelfNonce(7, c2, 0),
		"no cause": dag.SelfNonce(7, cid.Undef, 0),
		"rank":     dag.SelfNonce(7, c1, 1),
	} {
		if bytes.Equal(base, other) {
			t.Errorf("another %s gave the same nonce", name)
		}
	}
}

// TestSelfInvocationsReplay runs the same client invocations, in the same order, on two
// engines of the same service key over empty stores: the invocations machines make with
// Tx.Invoke are the same, byte for byte, and so are the receipts listing them.
func TestSelfInvocationsReplay(t *testing.T) {
	svc := must(did.GenerateEd25519())
	at := time.UnixMilli(1765000000000)
	keyed := func(o *dag.Options) { o.Signer = svc; o.Clock = func() time.Time { return at } }
	m1 := &effects{attempts: map[string][]cid.Cid{}}
	m2 := &effects{attempts: map[string][]cid.Cid{}}
	v1 := newEnv(t, nil, keyed, withMachine("notes", m1))
	v2 := newEnv(t, nil, keyed, withMachine("notes", m2))
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		p := v1.path("notes/" + k)
		inv := v1.inv(v1.agent, v1.space, "/dag/put", pathArgs(p, note(k)))
		r1 := must(v1.e.Put(ctx, inv, p, note(k)))
		r2 := must(v2.e.Put(ctx, inv, p, note(k)))
		if !r1.Receipt.CID.Equals(r2.Receipt.CID) {
			t.Fatalf("%s: receipts %s and %s", k, r1.Receipt.CID, r2.Receipt.CID)
		}
		if !m1.attempts[k][0].Equals(m2.attempts[k][0]) {
			t.Fatalf("%s: self-issued invocations %s and %s", k, m1.attempts[k][0], m2.attempts[k][0])
		}
	}
	if m1.attempts["a"][0].Equals(m1.attempts["b"][0]) {
		t.Fatal("two operations made the same invocation")
	}
}
