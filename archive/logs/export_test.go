package logs_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/archive/logs"
	"github.com/w3dag/w3dag/blob"
	blobmem "github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/logtest"
	"github.com/w3dag/w3dag/kv"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/usage"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan/did"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type world struct {
	t      testing.TB
	v      *machinestest.Env
	clk    *clock
	spaces []did.Signer
	rng    *rand.Rand
	stored []dag.Path
}

func newWorld(t *testing.T) *world {
	clk := &clock{now: time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)}
	w := &world{t: t, clk: clk, rng: rand.New(rand.NewPCG(1, 2))}
	w.v = machinestest.Open(t, kvmem.New(), nil, nil, clk.Now)
	for range 3 {
		w.spaces = append(w.spaces, machinestest.Signer(t))
	}
	return w
}

// run does n random operations: stores done at once (odd sizes) or after a second put
// (even sizes), removals, repeats; the clock moves up to 3 h between them, so the
// workload spans several days.
func (w *world) run(n int) {
	w.t.Helper()
	for range n {
		w.clk.Add(time.Duration(w.rng.IntN(3*3600)) * time.Second)
		s := w.spaces[w.rng.IntN(len(w.spaces))]
		switch k := w.rng.IntN(10); {
		case k < 6 || len(w.stored) == 0:
			p := machinestest.Path(s.DID(), "store", machinestest.CAR(w.t).String())
			size := int64(1 + w.rng.IntN(1<<20))
			val := machinestest.StoreValue(mustCID(p.Key), size)
			machinestest.MustOK(w.t, w.v.Put(s, p, val))
			if size%2 == 0 {
				machinestest.MustOK(w.t, w.v.Put(s, p, val))
			}
			w.stored = append(w.stored, p)
		case k < 8:
			i := w.rng.IntN(len(w.stored))
			p := w.stored[i]
			w.stored = append(w.stored[:i], w.stored[i+1:]...)
			owner := w.owner(p)
			machinestest.MustOK(w.t, w.v.Remove(owner, p))
		default:
			p := machinestest.Path(s.DID(), "upload", machinestest.Link(w.t).String())
			// an upload of a missing shard fails: an error receipt, nothing in the log
			w.v.Put(s, p, machinestest.UploadValue(mustCID(p.Key), machinestest.CAR(w.t)))
		}
	}
}

// systemWrites writes usage records of delta 0 in two spaces under one self-issued
// invocation, in two transactions (as a task that moves many entries does): the log then
// holds several receipts that ran one invocation, which gets one workflow line.
func (w *world) systemWrites(inv cid.Cid) cid.Cid {
	w.t.Helper()
	err := w.v.E.Update(context.Background(), func(tx *dag.Tx) error {
		if !inv.Defined() {
			tok, err := tx.Invoke("/test/sweep", must(qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "what", qp.String("sweep"))
			})))
			if err != nil {
				return err
			}
			inv = tok.CID
		}
		seq, err := tx.LastSeq()
		if err != nil {
			return err
		}
		for i, s := range w.spaces[:2] {
			ts := tx.Now().UnixMilli()
			p := dag.Path{Subject: s.DID(), Collection: "usage", Key: usage.RecordKey(ts, seq+uint64(i)+1)}
			st, _ := qp.BuildMap(basicnode.Prototype.Map, 5, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, dag.StatusKey, qp.String(usage.StatusRecorded))
				qp.MapEntry(ma, "blob", qp.Link(cidlink.Link{Cid: machinestest.CAR(w.t)}))
				qp.MapEntry(ma, "delta", qp.Int(0))
				qp.MapEntry(ma, "cause", qp.Link(cidlink.Link{Cid: inv}))
				qp.MapEntry(ma, "ts", qp.Int(ts))
			})
			if _, err := tx.Put(p, inv, st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return inv
}

func (w *world) owner(p dag.Path) did.Signer {
	for _, s := range w.spaces {
		if s.DID() == p.Subject {
			return s
		}
	}
	w.t.Fatalf("no signer for %s", p)
	return nil
}

func must(n datamodel.Node, err error) datamodel.Node {
	if err != nil {
		panic(err)
	}
	return n
}

func mustCID(s string) cid.Cid {
	c, err := cid.Decode(s)
	if err != nil {
		panic(err)
	}
	return c
}

// countingBlobs counts Puts and can fail the Put after a given number of them.
type countingBlobs struct {
	blob.Store
	mu     sync.Mutex
	puts   map[string][][]byte // every Put's bytes, by key
	n      int
	failAt int // fail the failAt-th Put (1-based); 0 never
}

var errInjected = errors.New("injected blob failure")

func newCounting(st blob.Store) *countingBlobs {
	return &countingBlobs{Store: st, puts: map[string][][]byte{}}
}

func (c *countingBlobs) Put(ctx context.Context, key string, r io.Reader, opts blob.PutOptions) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.n++
	fail := c.failAt != 0 && c.n == c.failAt
	if !fail {
		c.puts[key] = append(c.puts[key], b)
	}
	c.mu.Unlock()
	if fail {
		return errInjected
	}
	return c.Store.Put(ctx, key, bytes.NewReader(b), opts)
}

func (c *countingBlobs) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

func newExporter(t *testing.T, w *world, st blob.Store, chunk int) *logs.Exporter {
	t.Helper()
	x, err := logs.New(logs.Options{Source: w.v.E, KV: w.v.KV, Blobs: st, Chunk: chunk})
	if err != nil {
		t.Fatal(err)
	}
	return x
}

type file struct {
	key         string
	typ, dir    string
	first, last uint64
	lines       [][]byte
}

// readFiles lists and parses every exported file.
func readFiles(t *testing.T, st blob.Store) []file {
	t.Helper()
	ctx := context.Background()
	var keys []string
	if err := st.List(ctx, logs.Prefix, func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	var files []file
	for _, k := range keys {
		rc, _, err := st.Get(ctx, k, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(k, "/") // logs, type, coll-op, day, name
		if len(parts) != 5 {
			t.Fatalf("file %s: want logs/<type>/<collection>-<op>/<day>/<name>", k)
		}
		var f file
		f.key, f.typ, f.dir = k, parts[1], strings.Join(parts[:4], "/")
		if _, err := fmt.Sscanf(parts[4], "%d-%d.jsonl", &f.first, &f.last); err != nil {
			t.Fatalf("file %s: name: %v", k, err)
		}
		if want := fmt.Sprintf("%016d-%016d.jsonl", f.first, f.last); parts[4] != want {
			t.Fatalf("file %s: name not zero-padded like %s", k, want)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			f.lines = append(f.lines, append([]byte(nil), sc.Bytes()...))
		}
		if len(f.lines) == 0 || !bytes.HasSuffix(b, []byte("\n")) {
			t.Fatalf("file %s: empty or without a final newline", k)
		}
		files = append(files, f)
	}
	return files
}

// sameAsEncodingJSON checks that the line l is what encoding/json writes (HTML escaping
// off) for the value it was read into: the hand-written lines have the documented
// shape, field for field in order.
func sameAsEncodingJSON(t *testing.T, l []byte, v any) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if got := bytes.TrimSuffix(b.Bytes(), []byte("\n")); !bytes.Equal(got, l) {
		t.Fatalf("line\n%s\nencoding/json writes\n%s", l, got)
	}
}

// check compares the exported files with the whole commit log, record by record, and
// checks every invocation has exactly one workflow line, at its first receipt.
func check(t *testing.T, w *world, st blob.Store) {
	t.Helper()
	ctx := context.Background()
	var evs []dag.Event
	for after := uint64(0); ; {
		page, err := w.v.E.Log(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		evs = append(evs, page...)
		after = page[len(page)-1].Seq
	}
	recs := map[uint64]logs.Receipt{}
	wfs := map[string]logs.Workflow{}
	for _, f := range readFiles(t, st) {
		var prev uint64
		for i, l := range f.lines {
			var head struct {
				Type string
				Seq  uint64
			}
			if err := json.Unmarshal(l, &head); err != nil {
				t.Fatalf("%s line %d: %v", f.key, i+1, err)
			}
			if head.Type != f.typ {
				t.Fatalf("%s line %d: type %q in a %s file", f.key, i+1, head.Type, f.typ)
			}
			if head.Seq <= prev || head.Seq < f.first || head.Seq > f.last || (i == 0 && head.Seq != f.first) || (i == len(f.lines)-1 && head.Seq != f.last) {
				t.Fatalf("%s line %d: seq %d out of order or outside the name's range", f.key, i+1, head.Seq)
			}
			prev = head.Seq
			switch f.typ {
			case logs.TypeReceipt:
				var r logs.Receipt
				if err := json.Unmarshal(l, &r); err != nil {
					t.Fatal(err)
				}
				sameAsEncodingJSON(t, l, r)
				if _, dup := recs[r.Seq]; dup {
					t.Fatalf("seq %d exported twice", r.Seq)
				}
				if want := fmt.Sprintf("logs/receipt/%s-%s/%s", r.Collection, r.Op, r.Date); f.dir != want {
					t.Fatalf("seq %d in %s, want %s", r.Seq, f.dir, want)
				}
				recs[r.Seq] = r
			case logs.TypeWorkflow:
				var wf logs.Workflow
				if err := json.Unmarshal(l, &wf); err != nil {
					t.Fatal(err)
				}
				sameAsEncodingJSON(t, l, wf)
				if _, dup := wfs[wf.Invocation]; dup {
					t.Fatalf("invocation %s has two workflow lines", wf.Invocation)
				}
				if want := fmt.Sprintf("logs/workflow/%s-%s/%s", wf.Collection, wf.Op, wf.Date); f.dir != want {
					t.Fatalf("invocation %s in %s, want %s", wf.Invocation, f.dir, want)
				}
				wfs[wf.Invocation] = wf
			default:
				t.Fatalf("%s: unknown type %q", f.key, f.typ)
			}
		}
	}
	if len(recs) != len(evs) {
		t.Fatalf("%d receipt lines, %d commit-log records", len(recs), len(evs))
	}
	firstRan := map[string]uint64{}
	for _, ev := range evs {
		got, ok := recs[ev.Seq]
		if !ok {
			t.Fatalf("seq %d not exported", ev.Seq)
		}
		raw, err := w.v.E.Block(ctx, ev.Receipt)
		if err != nil {
			t.Fatal(err)
		}
		_, r, err := receipts.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := w.v.E.Receipt(ctx, r.Ran)
		if err != nil {
			t.Fatal(err)
		}
		inv := tok.Invocation
		task, _ := inv.Task()
		want := logs.Receipt{
			Type: logs.TypeReceipt, Receipt: ev.Receipt.String(), Ran: r.Ran.String(),
			Path: ev.Path.String(), Subject: ev.Path.Subject, Collection: ev.Path.Collection, Key: logs.Key(ev.Path),
			Common: logs.Common{Seq: ev.Seq, TS: r.TS, Date: time.UnixMilli(r.TS).UTC().Format(time.DateOnly),
				Task: task.String(), Iss: inv.Issuer, Sub: inv.Subject, Cmd: inv.Command, Op: logs.Op(inv.Command),
				Status: status(t, r)},
			Fx: []string{},
		}
		if inv.Audience != "" {
			want.Aud = &inv.Audience
		}
		if r.Origin != nil {
			o := r.Origin.String()
			want.Origin = &o
		}
		for _, f := range r.Fx {
			want.Fx = append(want.Fx, f.String())
		}
		gotOut, wantOut := got.Out, outJSON(t, r)
		got.Out, got.Message = nil, nil
		if g, wnt := mustJSON(t, got), mustJSON(t, want); g != wnt {
			t.Fatalf("seq %d:\n got %s\nwant %s", ev.Seq, g, wnt)
		}
		if !jsonEqual(t, gotOut, wantOut) {
			t.Fatalf("seq %d: out %s, want %s", ev.Seq, gotOut, wantOut)
		}
		if _, ok := firstRan[r.Ran.String()]; !ok {
			firstRan[r.Ran.String()] = ev.Seq
		}
	}
	if len(wfs) != len(firstRan) {
		t.Fatalf("%d workflow lines, %d invocations ran receipts in the log", len(wfs), len(firstRan))
	}
	for inv, seq := range firstRan {
		wf, ok := wfs[inv]
		if !ok {
			t.Fatalf("invocation %s has no workflow line", inv)
		}
		if wf.Seq != seq || wf.Receipt != recs[seq].Receipt {
			t.Fatalf("invocation %s: workflow line at seq %d, first receipt at %d", inv, wf.Seq, seq)
		}
		if wf.Task != recs[seq].Task || wf.Cmd != recs[seq].Cmd {
			t.Fatalf("invocation %s: workflow task/cmd differ from its receipt line", inv)
		}
	}
}

func status(t *testing.T, r *receipts.Receipt) string {
	n, err := r.Out.Ok.LookupByString("status")
	if err != nil {
		return ""
	}
	s, _ := n.AsString()
	return s
}

func outJSON(t *testing.T, r *receipts.Receipt) json.RawMessage {
	t.Helper()
	var b bytes.Buffer
	b.WriteString(`{"ok":`)
	if err := message.EncodeDAGJSON(r.Out.Ok, &b); err != nil {
		t.Fatal(err)
	}
	b.WriteString("}")
	return b.Bytes()
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, x) == mustJSON(t, y)
}

func TestExportMatchesCommitLog(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	inv := w.systemWrites(cid.Undef)
	w.run(120)
	w.systemWrites(inv)
	st := newCounting(blobmem.New())
	x := newExporter(t, w, st, 50) // several chunks
	stats, err := x.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, _ := w.v.E.LastSeq(ctx)
	if stats.Position != last || stats.Records != int(last) || stats.Files == 0 {
		t.Fatalf("stats %+v, last seq %d", stats, last)
	}
	check(t, w, st)
	days := map[string]bool{}
	for _, f := range readFiles(t, st) {
		days[strings.Split(f.dir, "/")[3]] = true
	}
	t.Logf("%d records in %d files over %d days", stats.Records, stats.Files, len(days))
	if len(days) < 3 {
		t.Fatalf("workload spans %d days, want several", len(days))
	}

	// A second run writes nothing.
	n := st.count()
	stats, err = x.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Records != 0 || stats.Files != 0 || st.count() != n {
		t.Fatalf("second run: %+v, %d puts", stats, st.count()-n)
	}

	// New commits: only new files, each starting after the old position.
	w.run(30)
	w.systemWrites(inv)
	stats, err = x.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Records == 0 {
		t.Fatal("new commits not exported")
	}
	for key, puts := range st.puts {
		if len(puts) != 1 {
			t.Fatalf("%s written %d times", key, len(puts))
		}
	}
	check(t, w, st)
	if pos, err := x.Position(ctx); err != nil || pos != stats.Position {
		t.Fatalf("Position %d, %v; want %d", pos, err, stats.Position)
	}
}

// TestExportCrash fails a chunk's file writes part way, lets the log grow, and checks the
// next run rewrites the same chunk's files byte for byte before going on.
func TestExportCrash(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.run(60)
	st := newCounting(blobmem.New())
	st.failAt = 4
	x := newExporter(t, w, st, 1000)
	if _, err := x.Export(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("Export: %v, want the injected failure", err)
	}
	if pos, _ := x.Position(ctx); pos != 0 {
		t.Fatalf("position moved to %d after a failed chunk", pos)
	}
	first := map[string][]byte{}
	for k, p := range st.puts {
		first[k] = p[0]
	}
	if len(first) != 3 {
		t.Fatalf("%d files before the failure, want 3", len(first))
	}
	w.run(40) // the log grows: the pending chunk must not
	st.failAt = 0
	if _, err := x.Export(ctx); err != nil {
		t.Fatal(err)
	}
	for k, b := range first {
		p := st.puts[k]
		if len(p) != 2 || !bytes.Equal(p[1], b) {
			t.Fatalf("%s: rewritten %d times, same bytes %v", k, len(p)-1, len(p) == 2 && bytes.Equal(p[1], b))
		}
	}
	check(t, w, st)
}

// TestExportConcurrent runs two exporters over one store at once: every record is
// exported once (check fails on overlapping files).
func TestExportConcurrent(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.run(80)
	st := blobmem.New()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		x := newExporter(t, w, st, 7)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := x.Export(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	check(t, w, st)
}

func TestRun(t *testing.T) {
	w := newWorld(t)
	w.run(10)
	st := blobmem.New()
	x, err := logs.New(logs.Options{Source: w.v.E, KV: w.v.KV, Blobs: st, Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	w.run(10)
	last, _ := w.v.E.LastSeq(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		pos, err := x.Position(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if pos == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run reached %d of %d", pos, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	check(t, w, st)
}

func TestNewOptions(t *testing.T) {
	w := newWorld(t)
	st := blobmem.New()
	for _, tc := range []struct {
		name string
		opts logs.Options
	}{
		{"no source", logs.Options{KV: w.v.KV, Blobs: st}},
		{"no kv", logs.Options{Source: w.v.E, Blobs: st}},
		{"no blobs", logs.Options{Source: w.v.E, KV: w.v.KV}},
		{"chunk too large", logs.Options{Source: w.v.E, KV: w.v.KV, Blobs: st, Chunk: logs.MaxChunk + 1}},
		{"negative chunk", logs.Options{Source: w.v.E, KV: w.v.KV, Blobs: st, Chunk: -1}},
		{"negative interval", logs.Options{Source: w.v.E, KV: w.v.KV, Blobs: st, Interval: -time.Second}},
	} {
		if _, err := logs.New(tc.opts); !errors.Is(err, logs.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", tc.name, err)
		}
	}
}

func TestOp(t *testing.T) {
	for _, tc := range []struct{ cmd, want string }{
		{"/dag/put", "put"},
		{"/dag/remove", "remove"},
		{"/space/usage/record", "record"},
		{"/a/b.c d", "b_c_d"},
		{"/", "unknown"},
		{"", "unknown"},
		{"plain", "plain"},
	} {
		if got := logs.Op(tc.cmd); got != tc.want {
			t.Errorf("Op(%q) = %q, want %q", tc.cmd, got, tc.want)
		}
	}
}

// TestCorruptState: a garbled position is ErrCorrupt, not a panic or a silent restart.
func TestCorruptState(t *testing.T) {
	w := newWorld(t)
	w.run(5)
	ctx := context.Background()
	for _, key := range []string{"logs/position", "logs/pending"} {
		if err := w.v.KV.Update(ctx, func(kt kv.Tx) error { return kt.Put([]byte(key), []byte{1, 2, 3}) }); err != nil {
			t.Fatal(err)
		}
		x := newExporter(t, w, blobmem.New(), 0)
		if _, err := x.Export(ctx); !errors.Is(err, logs.ErrCorrupt) || !strings.Contains(err.Error(), key) {
			t.Fatalf("%s garbled: %v, want ErrCorrupt naming it", key, err)
		}
		if err := w.v.KV.Update(ctx, func(kt kv.Tx) error { return kt.Delete([]byte(key)) }); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		path, want string
	}{
		{"/did:key:z6Mkabc/store/bagbaiera", "bagbaiera"},
		{"/did:key:z6Mkabc/metrics/store/add-total", "store/add-total"},
	} {
		p, err := dag.ParsePath(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := logs.Key(p); got != tc.want {
			t.Errorf("Key(%s) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

// gapSource is the engine's commit log without the record of sequence gap.
type gapSource struct {
	*dag.Engine
	gap   uint64
	calls int
}

func (g *gapSource) Records(ctx context.Context, after uint64, limit int) ([]dag.Record, error) {
	if g.calls++; g.calls > 1000 {
		return nil, errors.New("Records called 1000 times: the exporter is not advancing")
	}
	evs, err := g.Engine.Records(ctx, after, limit+1)
	evs = slices.DeleteFunc(evs, func(ev dag.Record) bool { return ev.Seq == g.gap })
	return evs[:min(len(evs), limit)], err
}

// TestExportLogGap: a missing record at the end of a chunk (the next page starts past
// the chunk) ends the chunk there, as a missing record inside one is skipped; the export
// goes on to the last sequence instead of reading the same page forever.
func TestExportLogGap(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.run(20)
	last, err := w.v.E.LastSeq(ctx)
	if err != nil || last < 10 {
		t.Fatalf("LastSeq %d %v", last, err)
	}
	x, err := logs.New(logs.Options{Source: &gapSource{Engine: w.v.E, gap: 5}, KV: w.v.KV, Blobs: blobmem.New(), Chunk: 5})
	if err != nil {
		t.Fatal(err)
	}
	st, err := x.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Position != last || st.Records != int(last)-1 {
		t.Fatalf("%+v, want position %d and %d records", st, last, last-1)
	}
}

// logSource is the engine's commit log without the blocks the engine keeps in memory: the
// exporter reads every block from kv, as after a restart.
type logSource struct{ *dag.Engine }

func (l logSource) Records(ctx context.Context, after uint64, limit int) ([]dag.Record, error) {
	evs, err := l.Engine.Log(ctx, after, limit)
	recs := make([]dag.Record, len(evs))
	for i, ev := range evs {
		recs[i].Event = ev
	}
	return recs, err
}

// viewSource counts the read-only transactions the exporter opens to read blocks.
type viewSource struct {
	*dag.Engine
	views int
}

func (v *viewSource) View(ctx context.Context, fn func(*dag.Tx) error) error {
	v.views++
	return v.Engine.View(ctx, fn)
}

// resetExport deletes the exporter's state (position, pending chunk, exported
// invocations), so that the next export starts from the first record.
func resetExport(t testing.TB, st kv.Store) {
	t.Helper()
	err := st.Update(context.Background(), func(kt kv.Tx) error {
		var keys [][]byte
		err := kt.Scan(kv.ScanOptions{Start: []byte(logs.Prefix), End: kv.PrefixEnd([]byte(logs.Prefix))}, func(k, _ []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
		for _, k := range keys {
			if err == nil {
				err = kt.Delete(k)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestExportMemoryMatchesLog: the files exported from the blocks the engine hands over
// from memory (Engine.Records) are byte for byte those exported from kv alone; chunks
// whose records all carry their blocks open no transaction of the source, and a chunk
// with a receipt that ran an invocation made in an earlier transaction reads it from kv.
func TestExportMemoryMatchesLog(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.run(40)
	inv := w.systemWrites(cid.Undef)
	w.run(5)
	w.systemWrites(inv) // ran: an invocation of an earlier transaction, not in this one's memory
	w.run(40)
	last, err := w.v.E.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const chunk = 7
	mem := &viewSource{Engine: w.v.E}
	fromMemory := blobmem.New()
	x, err := logs.New(logs.Options{Source: mem, KV: w.v.KV, Blobs: fromMemory, Chunk: chunk})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := x.Export(ctx); err != nil || st.Position != last {
		t.Fatalf("Export from memory: %+v, %v; want position %d", st, err, last)
	}
	chunks := int((last + chunk - 1) / chunk)
	if mem.views == 0 || mem.views >= chunks {
		t.Fatalf("%d of %d chunks read blocks from kv; want some (the second systemWrites) but not all", mem.views, chunks)
	}
	check(t, w, fromMemory)

	resetExport(t, w.v.KV)
	fromLog := blobmem.New()
	x, err = logs.New(logs.Options{Source: logSource{w.v.E}, KV: w.v.KV, Blobs: fromLog, Chunk: chunk})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := x.Export(ctx); err != nil || st.Position != last {
		t.Fatalf("Export from the log: %+v, %v; want position %d", st, err, last)
	}
	sameFiles(t, fromMemory, fromLog)
}

// sameFiles fails t unless the export from memory wrote files, and the export from the log
// the same files with the same bytes, and returns the files by key.
func sameFiles(t *testing.T, fromMemory, fromLog blob.Store) map[string][]byte {
	t.Helper()
	a, b := blobBytes(t, fromMemory), blobBytes(t, fromLog)
	if len(a) == 0 || len(a) != len(b) {
		t.Fatalf("%d files from memory, %d from the log", len(a), len(b))
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			t.Fatalf("%s differs:\nmemory: %s\nlog:    %s", k, v, b[k])
		}
	}
	return a
}

// blobBytes returns every blob of st by key.
func blobBytes(t *testing.T, st blob.Store) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	err := st.List(ctx, "", func(i blob.Info) error {
		rc, _, err := st.Get(ctx, i.Key, nil)
		if err != nil {
			return err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		out[i.Key] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCorruptMessages: a garbled logs/messages of the pending chunk is ErrCorrupt naming
// it; the chunk is not written with other messages.
func TestCorruptMessages(t *testing.T) {
	w := newWorld(t)
	w.run(5)
	ctx := context.Background()
	last, err := w.v.E.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = w.v.KV.Update(ctx, func(kt kv.Tx) error {
		if err := kt.Put([]byte(logs.Prefix+"pending"), binary.BigEndian.AppendUint64(nil, last)); err != nil {
			return err
		}
		return kt.Put([]byte(logs.Prefix+"messages"), append(binary.BigEndian.AppendUint64(nil, last), 40, 1, 2))
	})
	if err != nil {
		t.Fatal(err)
	}
	st := newCounting(blobmem.New())
	if _, err := newExporter(t, w, st, 0).Export(ctx); !errors.Is(err, logs.ErrCorrupt) || !strings.Contains(err.Error(), "logs/messages") {
		t.Fatalf("logs/messages garbled: %v, want ErrCorrupt naming it", err)
	}
	if st.n != 0 {
		t.Fatalf("%d files written", st.n)
	}
}

// keepingBlobs fails its first Put without reading r and keeps r, as an HTTP upload's
// transport may go on reading a request body after the call returned an error.
type keepingBlobs struct {
	blob.Store
	mu   sync.Mutex
	key  string
	kept io.Reader
}

func (k *keepingBlobs) Put(ctx context.Context, key string, r io.Reader, opts blob.PutOptions) error {
	k.mu.Lock()
	first := k.kept == nil
	if first {
		k.key, k.kept = key, r
	}
	k.mu.Unlock()
	if first {
		return errInjected
	}
	return k.Store.Put(ctx, key, r, opts)
}

// TestExportFailedPutBodyNotReused: the body a failed Put was given is not reused for a
// later chunk's files (the exporter keeps bodies only of chunks written in full), so what
// the failed Put still reads is its file, not another chunk's lines.
func TestExportFailedPutBodyNotReused(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	w.clk.Add(2 * time.Hour) // midnight: the first chunk's files are one of each kind
	w.run(4)
	st := &keepingBlobs{Store: blobmem.New()}
	x := newExporter(t, w, st, 1000)
	if _, err := x.Export(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("Export: %v, want the injected failure", err)
	}
	for i := range 2 { // the retry of the failed chunk, then a chunk of new records
		if i == 1 {
			w.run(20)
		}
		if _, err := x.Export(ctx); err != nil {
			t.Fatal(err)
		}
	}
	late, err := io.ReadAll(st.kept)
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := st.Store.Get(ctx, st.key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(late, want) {
		t.Fatalf("%s: the failed Put's body now reads\n%.200s\nwant\n%.200s", st.key, late, want)
	}
	check(t, w, st)
}

// downBlobs is a blob store whose Puts fail while down is set.
type downBlobs struct {
	blob.Store
	down atomic.Bool
}

func (d *downBlobs) Put(ctx context.Context, key string, r io.Reader, opts blob.PutOptions) error {
	if d.down.Load() {
		return errInjected
	}
	return d.Store.Put(ctx, key, r, opts)
}

// TestRunLogsFailuresOnce: while blob storage refuses the files, Run retries at every tick
// and logs the failure once at error level (the retries at debug level); once storage
// works again it exports what waited and says so once at info level.
func TestRunLogsFailuresOnce(t *testing.T) {
	w := newWorld(t)
	w.run(10)
	st := &downBlobs{Store: blobmem.New()}
	st.down.Store(true)
	rec := &logtest.Counter{}
	x, err := logs.New(logs.Options{Source: w.v.E, KV: w.v.KV, Blobs: st, Interval: 2 * time.Millisecond, Logger: slog.New(rec)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	logtest.WaitFor(t, "ten failed exports", func() bool { return rec.Count(slog.LevelDebug) >= 10 })
	if got := rec.Count(slog.LevelError); got != 1 {
		t.Fatalf("%d error records over %d failed exports, want 1: %q", got, rec.Count(slog.LevelDebug)+1, rec.Messages())
	}
	st.down.Store(false)
	last, _ := w.v.E.LastSeq(context.Background())
	logtest.WaitFor(t, "the export to catch up", func() bool { pos, err := x.Position(context.Background()); return err == nil && pos == last })
	logtest.WaitFor(t, "the recovery logged", func() bool { return rec.Count(slog.LevelInfo) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	if got := rec.Count(slog.LevelError); got != 1 {
		t.Errorf("%d error records in all, want 1: %q", got, rec.Messages())
	}
	check(t, w, st.Store)
}
