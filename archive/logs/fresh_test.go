package logs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/archive/logs"
	blobmem "github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
)

// testArchiver archives the service's own invocations under keys of its own
// (test-archive/<msg>), a message per invocation whose CID is derived from it: the same
// invocation gives the same message, as archive.Archive's does.
type testArchiver struct{}

func testMessage(kind string, c cid.Cid) cid.Cid {
	sum := sha256.Sum256(append([]byte(kind), c.Bytes()...))
	mh, err := multihash.Encode(sum[:], multihash.SHA2_256)
	if err != nil {
		panic(err)
	}
	return cid.NewCidV1(cid.Raw, mh)
}

func (testArchiver) ArchiveInvocation(kt kv.Tx, inv cid.Cid, raw []byte) (cid.Cid, error) {
	msg := testMessage("in", inv)
	return msg, kt.Put([]byte("test-archive/"+msg.String()), raw)
}

func (testArchiver) ArchiveReply(kt kv.Tx, inv, rcpt cid.Cid, raw []byte) (cid.Cid, error) {
	msg := testMessage("out", rcpt)
	return msg, kt.Put([]byte("test-archive/"+msg.String()), raw)
}

// lookupKV counts the exporter's per-invocation reads: Gets of logs/ran/<inv> and Scans
// of invocation/<inv>/.
type lookupKV struct {
	kv.Store
	mu            sync.Mutex
	gets, scans   int
	viewsWithRead int
	views         int
}

type lookupTx struct {
	kv.Tx
	s    *lookupKV
	read bool
}

func (s *lookupKV) View(ctx context.Context, fn func(kv.Tx) error) error {
	s.mu.Lock()
	s.views++
	s.mu.Unlock()
	return s.Store.View(ctx, func(kt kv.Tx) error {
		t := &lookupTx{Tx: kt, s: s}
		err := fn(t)
		if t.read {
			s.mu.Lock()
			s.viewsWithRead++
			s.mu.Unlock()
		}
		return err
	})
}

func (t *lookupTx) Get(k []byte) ([]byte, error) {
	if bytes.HasPrefix(k, []byte(logs.Prefix+"ran/")) {
		t.s.mu.Lock()
		t.s.gets++
		t.s.mu.Unlock()
		t.read = true
	}
	return t.Tx.Get(k)
}

func (t *lookupTx) Scan(opts kv.ScanOptions, fn func(k, v []byte) error) error {
	if bytes.HasPrefix(opts.Start, []byte(archive.InvocationPrefix)) {
		t.s.mu.Lock()
		t.s.scans++
		t.s.mu.Unlock()
		t.read = true
	}
	return t.Tx.Scan(opts, fn)
}

// openEngine opens an engine on an empty kvmem store under a new service key, with the
// built-in collections and the returned clock's time (from 2026-03-01 22:00 UTC); the
// engine is closed when t ends, an error closing it failing t.
func openEngine(t *testing.T) (*machinestest.Env, *clock) {
	t.Helper()
	st := kvmem.New()
	clk := &clock{now: time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)}
	sch, err := schema.Load()
	if err != nil {
		t.Fatal(err)
	}
	v := &machinestest.Env{T: t, KV: st, Service: machinestest.Signer(t), Collections: machinestest.Collections(nil), Clock: clk.Now}
	v.E, err = dag.Open(context.Background(), dag.Options{KV: st, Signer: v.Service, Schema: sch, Collections: v.Collections, Clock: clk.Now, Archive: testArchiver{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := v.E.Close(); err != nil {
			t.Error(err)
		}
	})
	return v, clk
}

// TestExportFreshMatchesFallback: with clients' invocations arriving in messages (some
// messages carrying several) and the service's own archived, the exporter takes what the
// engine's records say of each invocation (dag.Record.Fresh: first record, message) instead
// of reading kv, reads kv only for the invocations whose records do not say (a receipt
// that ran an invocation of an earlier transaction), and writes byte for byte the files
// an export that reads everything from kv writes, chunks cutting through transactions.
func TestExportFreshMatchesFallback(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.v, w.clk = openEngine(t)
	e, st, clk := w.v.E, w.v.KV, w.clk

	want := map[string]string{} // invocation → the message it was sent in
	send := func(msg cid.Cid, invs []*ucan.Token, runs []func() error) {
		t.Helper()
		for i := range invs {
			want[invs[i].CID.String()] = msg.String()
		}
		for _, f := range runs {
			if err := f(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := range 30 {
		clk.Add(time.Duration(w.rng.IntN(3*3600)) * time.Second)
		msg := machinestest.Link(t)
		s := w.spaces[w.rng.IntN(len(w.spaces))]
		var invs []*ucan.Token
		var runs []func() error
		for range 1 + round%3 { // one to three invocations a message
			if len(w.stored) > 0 && w.rng.IntN(4) == 0 {
				i := w.rng.IntN(len(w.stored))
				p := w.stored[i]
				w.stored = append(w.stored[:i], w.stored[i+1:]...)
				inv := machinestest.Invocation(t, w.owner(p), "/dag/remove", p, nil)
				invs = append(invs, inv)
				runs = append(runs, func() error { _, err := e.Remove(ctx, inv, p, dag.WithMessage(msg)); return err })
				continue
			}
			p := machinestest.Path(s.DID(), "store", machinestest.CAR(t).String())
			val := machinestest.StoreValue(mustCID(p.Key), int64(1+w.rng.IntN(1<<20)))
			inv := machinestest.Invocation(t, s, "/dag/put", p, val)
			invs = append(invs, inv)
			w.stored = append(w.stored, p)
			runs = append(runs, func() error { _, err := e.Put(ctx, inv, p, val, dag.WithMessage(msg)); return err })
		}
		send(msg, invs, runs)
		switch round {
		case 10:
			inv := w.systemWrites(cid.Undef) // made in the transaction: two records, fresh
			w.systemWrites(inv)              // an earlier transaction's: the exporter reads kv
			want[inv.String()] = testMessage("in", inv).String()
		}
	}
	last, err := e.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const chunk = 3
	fast := &lookupKV{Store: st}
	fromMemory := blobmem.New()
	x, err := logs.New(logs.Options{Source: e, KV: fast, Blobs: fromMemory, Chunk: chunk})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := x.Export(ctx); err != nil || s.Position != last {
		t.Fatalf("Export: %+v, %v; want position %d", s, err, last)
	}
	// Only the invocation of the second systemWrites is looked up: once, in the chunk of
	// its first record there; its logs/ran marker, written by the chunk of its workflow
	// line, holds its message, so the index is not scanned.
	if fast.gets != 1 || fast.scans != 0 || fast.viewsWithRead != 1 {
		t.Fatalf("the export from memory read kv for %d invocations' workflow lines and %d messages in %d transactions; want 1, 0, 1", fast.gets, fast.scans, fast.viewsWithRead)
	}
	check(t, w, fromMemory)
	// Caught up: the next export reads the last sequence and nothing of kv.
	fast.views = 0
	if s, err := x.Export(ctx); err != nil || s.Position != last || s.Records != 0 {
		t.Fatalf("Export again: %+v, %v; want position %d and nothing exported", s, err, last)
	}
	if fast.views != 0 {
		t.Fatalf("an export with nothing new opened %d transactions of the exporter's kv, want none", fast.views)
	}

	resetExport(t, st)
	slow := &lookupKV{Store: st}
	fromLog := blobmem.New()
	x, err = logs.New(logs.Options{Source: logSource{e}, KV: slow, Blobs: fromLog, Chunk: chunk})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := x.Export(ctx); err != nil || s.Position != last {
		t.Fatalf("Export from the log: %+v, %v; want position %d", s, err, last)
	}
	if slow.gets == 0 || slow.scans == 0 {
		t.Fatalf("the export from the log read no invocation from kv")
	}
	a := sameFiles(t, fromMemory, fromLog)

	// Every line of a client's invocation or of the sweep names the message it was sent
	// (or archived) in.
	named := 0
	for k, body := range a {
		for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
			var line struct {
				Type, Invocation, Ran string
				Message               *string
			}
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			inv := line.Invocation + line.Ran
			m, ok := want[inv]
			if !ok {
				continue // the service's own (metrics), checked against the log above
			}
			if line.Message == nil || *line.Message != m {
				t.Fatalf("%s: %s line of %s names message %v, want %s", k, line.Type, inv, line.Message, m)
			}
			named++
		}
	}
	if named < len(want) {
		t.Fatalf("%d lines name a message, want at least %d", named, len(want))
	}
}

// TestExportCrashSameMessage: a chunk exported again after a crash names the messages its
// first attempt named, although in between the invocation was indexed in another message
// that sorts first (sent again) and the records now come from kv, not from the engine's
// memory: the files are the same, byte for byte (docs/logs.md, "Which message").
func TestExportCrashSameMessage(t *testing.T) {
	ctx := context.Background()
	v, _ := openEngine(t)
	e, st := v.E, v.KV
	var first, again cid.Cid // the message the invocation ran in, and one sorting before it
	for !first.Defined() {
		a, b := machinestest.Link(t), machinestest.Link(t)
		if b.String() < a.String() {
			first, again = a, b
		}
	}
	s := machinestest.Signer(t)
	p := machinestest.Path(s.DID(), "store", machinestest.CAR(t).String())
	val := machinestest.StoreValue(mustCID(p.Key), 1234)
	inv := machinestest.Invocation(t, s, "/dag/put", p, val)
	if _, err := e.Put(ctx, inv, p, val, dag.WithMessage(first)); err != nil {
		t.Fatal(err)
	}

	blobs := newCounting(blobmem.New())
	blobs.failAt = 2 // the first file is written, then the exporter "crashes"
	x, err := logs.New(logs.Options{Source: e, KV: st, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Export(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("Export: %v, want the injected failure", err)
	}
	if len(blobs.puts) != 1 {
		t.Fatalf("%d files before the failure, want 1", len(blobs.puts))
	}
	var name string
	var body []byte
	for k, p := range blobs.puts {
		name, body = k, p[0]
	}
	if !bytes.Contains(body, []byte(`"message":"`+first.String()+`"`)) {
		t.Fatalf("%s does not name the message %s: %s", name, first, body)
	}

	// The invocation is sent again in another message, which sorts first in its index.
	err = st.Update(ctx, func(kt kv.Tx) error {
		return kt.Put([]byte(archive.InvocationInKey(inv.CID, again)), again.Bytes())
	})
	if err != nil {
		t.Fatal(err)
	}
	// The restarted exporter reads the records and the invocation's history from kv.
	blobs.failAt = 0
	x, err = logs.New(logs.Options{Source: logSource{e}, KV: st, Blobs: blobs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Export(ctx); err != nil {
		t.Fatal(err)
	}
	if p := blobs.puts[name]; len(p) != 2 || !bytes.Equal(p[1], body) {
		t.Fatalf("%s rewritten %d times; again:\n%s\nfirst:\n%s", name, len(p)-1, p[len(p)-1], body)
	}
	for k, p := range blobs.puts {
		if bytes.Contains(p[len(p)-1], []byte(again.String())) {
			t.Fatalf("%s names the message the invocation was sent in again", k)
		}
	}
}
