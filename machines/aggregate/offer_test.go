package aggregate_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
)

// testBroker answers POST /offers with the statuses in answers, one per post (the last
// one repeated), with the body "broker says <status text>" or, when set, body; and keeps
// the offers it was sent.
type testBroker struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers []int
	body    []byte
	offers  []aggregate.Offer
}

func newTestBroker(t *testing.T, answers ...int) *testBroker {
	b := &testBroker{answers: answers}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var o aggregate.Offer
		if err := json.NewDecoder(r.Body).Decode(&o); err != nil {
			t.Errorf("broker: %v", err)
		}
		b.mu.Lock()
		defer b.mu.Unlock()
		b.offers = append(b.offers, o)
		status := b.answers[min(len(b.offers), len(b.answers))-1]
		w.WriteHeader(status)
		if b.body != nil {
			_, _ = w.Write(b.body)
			return
		}
		_, _ = w.Write([]byte("broker says " + http.StatusText(status)))
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *testBroker) posts() []aggregate.Offer {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]aggregate.Offer(nil), b.offers...)
}

// newBrokerEnv is newEnv with offers on and the real OfferHandler posting to b, with
// blobs as its blob store; the runner tries a task maxAttempts times.
func newBrokerEnv(t *testing.T, b *testBroker, blobs blob.Store, maxAttempts int) *env {
	t.Helper()
	m, err := aggregate.New(small, aggregate.WithOffers())
	if err != nil {
		t.Fatal(err)
	}
	cols := []dag.Collection{task.Collection(), piece.Machine{Aggregator: m}.Collection(), m.Collection(), metrics.Machine{}.Collection()}
	v := machinestest.Open(t, kvmem.New(), nil, cols, nil)
	hs := m.Handlers(v.E, nil)
	hs[aggregate.OfferCommand] = aggregate.OfferHandler(v.E, aggregate.OfferOptions{Broker: b.srv.URL,
		PublicURL: "http://service.example", Secret: []byte("secret"), Blobs: blobs})
	r := task.NewRunner(v.E, hs, task.RunnerOptions{Lease: time.Minute, BaseBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, MaxAttempts: maxAttempts})
	return &env{t: t, m: m, v: v, e: v.E, runner: r, svc: v.E.Service()}
}

// TestOfferMD5FromIndex: the offer takes each member's md5 from the piece index (hashed
// with its commP) without reading the CAR — the blob store does not even hold it — and
// for a piece indexed before md5 was kept there computes it from the CAR's bytes.
func TestOfferMD5FromIndex(t *testing.T) {
	ctx := context.Background()
	blobs := mem.New()
	b := newTestBroker(t, http.StatusAccepted)
	v := newBrokerEnv(t, b, blobs, 3)
	rng := rand.New(rand.NewPCG(3, 4))
	// Indexed with its md5; no bytes anywhere (the md5 is the index's, whatever it is).
	indexed := md5.Sum([]byte("the index's md5"))
	a := v.computeMD5(pieceOf(rng, 1024, 0), indexed[:])
	// Indexed the old way: the offer reads the CAR.
	old := pieceOf(rng, 1024, 5)
	oldBytes := make([]byte, old.Size)
	for i := range oldBytes {
		oldBytes[i] = byte(rng.IntN(256))
	}
	c := v.compute(old)
	if err := blobs.Put(ctx, carwhere.BlobKey(c.content), bytes.NewReader(oldBytes), blob.PutOptions{Size: int64(len(oldBytes))}); err != nil {
		t.Fatal(err)
	}
	v.run()
	offers := b.posts()
	if len(offers) != 1 || len(offers[0].Pieces) != 2 {
		t.Fatalf("offers %+v, want one of two pieces", offers)
	}
	oldSum := md5.Sum(oldBytes)
	for i, want := range []struct {
		content string
		md5     []byte
	}{{a.content.String(), indexed[:]}, {c.content.String(), oldSum[:]}} {
		if got := offers[0].Pieces[i]; got.Content != want.content || got.MD5 != hex.EncodeToString(want.md5) {
			t.Errorf("offer piece %d: %s md5 %s, want %s md5 %x", i, got.Content, got.MD5, want.content, want.md5)
		}
	}
	if ag := v.aggregates(); ag[0].Status != aggregate.StatusDealPending {
		t.Fatalf("aggregate is %s", ag[0].Status)
	}
}

// runFor runs due tasks, waiting for backoffs, until done says so (or 10 s pass).
func (v *env) runFor(done func() bool) {
	v.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			v.t.Fatal("tasks did not get there in 10 s")
		}
		if _, err := v.runner.RunOnce(context.Background()); err != nil {
			v.t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
}

// offerTasks returns the entries of the offer tasks, in the order scheduled.
func (v *env) offerTasks() []*dag.Entry {
	v.t.Helper()
	ctx := context.Background()
	page, err := v.e.SelectPage(ctx, dag.Path{Subject: v.svc, Collection: task.Name}, dag.Query{Limit: 1000})
	if err != nil {
		v.t.Fatal(err)
	}
	var out []*dag.Entry
	for _, e := range page.Entries {
		c, err := cid.Parse(e.Path.Key)
		if err != nil {
			v.t.Fatal(err)
		}
		inv, err := v.e.Receipt(ctx, c)
		if err != nil {
			v.t.Fatal(err)
		}
		if inv.Invocation != nil && inv.Invocation.Command == aggregate.OfferCommand {
			out = append(out, e)
		}
	}
	return out
}

// TestOfferRetries: a broker that answers 500, 503, 429, 408, 502 and 504 before taking
// the offer gets it on the 7th post although the runner gives a task 3 attempts (the
// offer keeps trying, with the capped backoff); one that refuses with 400 gets one post,
// the offer task fails with the answer and the aggregate stays ready.
func TestOfferRetries(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	t.Run("unavailable then taken", func(t *testing.T) {
		b := newTestBroker(t, 500, 503, 429, 408, 502, 504, 202)
		v := newBrokerEnv(t, b, nil, 3)
		v.computeMD5(pieceOf(rng, 1024, 0), make([]byte, 16))
		v.computeMD5(pieceOf(rng, 1024, 0), make([]byte, 16))
		v.runFor(func() bool { return v.aggregates()[0].Status == aggregate.StatusDealPending })
		if n := len(b.posts()); n != 7 {
			t.Fatalf("%d posts, want 7", n)
		}
		ts := v.offerTasks()
		if len(ts) != 1 || ts[0].Status != task.StatusDone {
			t.Fatalf("offer tasks %v", ts)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		b := newTestBroker(t, 202)
		b.srv.Close()
		v := newBrokerEnv(t, b, nil, 3)
		v.computeMD5(pieceOf(rng, 1024, 0), make([]byte, 16))
		v.computeMD5(pieceOf(rng, 1024, 0), make([]byte, 16))
		v.runFor(func() bool {
			ts := v.offerTasks()
			return len(ts) == 1 && ts[0].Status == task.StatusQueued && attempts(t, ts[0]) >= 6
		})
		if st := v.aggregates()[0].Status; st != aggregate.StatusReady {
			t.Fatalf("aggregate is %s", st)
		}
	})
	// A refusal fails the task with the broker's answer and leaves the aggregate ready;
	// one whose answer is not UTF-8 too, with each run of invalid bytes kept as one U+FFFD
	// (it used to leave the task running: its failed state could not be encoded, and the
	// offer was made again and again).
	for _, tc := range []struct {
		name string
		body []byte // the broker's answer; nil: "broker says Bad Request"
		want string
	}{
		{"refused", nil, "400 Bad Request broker says Bad Request"},
		{"refused, answer not UTF-8", []byte("no \xff\xfe thanks"), "400 Bad Request no \uFFFD thanks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBroker(t, 400)
			b.body = tc.body
			v := newBrokerEnv(t, b, nil, 3)
			v.computeMD5(pieceOf(rng, 1024, 0), make([]byte, 16))
			v.computeMD5(pieceOf(rng, 1024, 0), make([]byte, 16))
			v.runFor(func() bool {
				ts := v.offerTasks()
				return len(ts) == 1 && ts[0].Status == task.StatusFailed
			})
			msg, _ := v.offerTasks()[0].State.LookupByString("error")
			if s, _ := msg.AsString(); !strings.Contains(s, aggregate.ErrRefused.Error()) || !strings.Contains(s, tc.want) {
				t.Fatalf("failed offer task's error %q", s)
			}
			if n := len(b.posts()); n != 1 {
				t.Fatalf("%d posts, want 1", n)
			}
			if st := v.aggregates()[0].Status; st != aggregate.StatusReady {
				t.Fatalf("aggregate is %s", st)
			}
		})
	}
}

func attempts(t *testing.T, e *dag.Entry) int64 {
	t.Helper()
	n, err := e.State.LookupByString("attempts")
	if err != nil {
		return 0
	}
	i, _ := n.AsInt()
	return i
}

// TestResumeOffers: ResumeOffers schedules an offer for a ready aggregate that became
// ready while offers were off (no offer task) and for one whose offer was refused (its
// task failed), leaves one whose offer task is queued to it, and in the end every
// aggregate is offered and taken once.
func TestResumeOffers(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(9, 10))
	b := newTestBroker(t, 400, 202)
	// Offers off: the first aggregate becomes ready, included, with no offer task.
	v := newEnv(t, small)
	v.computeMD5(pieceOf(rng, 1024, 0), make([]byte, 16))
	v.computeMD5(pieceOf(rng, 1024, 0), make([]byte, 16))
	v.run()
	// Restart with offers on (serve --broker).
	m, err := aggregate.New(small, aggregate.WithOffers())
	if err != nil {
		t.Fatal(err)
	}
	v.v.Collections = []dag.Collection{task.Collection(), piece.Machine{Aggregator: m}.Collection(), m.Collection(), metrics.Machine{}.Collection()}
	v.v.Reopen(v.v.KV)
	v.e, v.m = v.v.E, m
	hs := m.Handlers(v.e, nil)
	hs[aggregate.OfferCommand] = aggregate.OfferHandler(v.e, aggregate.OfferOptions{Broker: b.srv.URL,
		PublicURL: "http://service.example", Secret: []byte("secret")})
	v.runner = task.NewRunner(v.e, hs, task.RunnerOptions{Lease: time.Minute, BaseBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, MaxAttempts: 3})
	if ag := v.aggregates(); len(ag) != 1 || ag[0].Status != aggregate.StatusReady || len(v.offerTasks()) != 0 {
		t.Fatalf("aggregates %v, %d offer tasks; want the first ready without an offer task", ag, len(v.offerTasks()))
	}
	if n, err := m.ResumeOffers(ctx, v.e); err != nil || n != 1 {
		t.Fatalf("ResumeOffers = %d, %v; want 1", n, err)
	}
	// Queued: a second call leaves it to its task.
	if n, err := m.ResumeOffers(ctx, v.e); err != nil || n != 0 {
		t.Fatalf("ResumeOffers with the offer queued = %d, %v; want 0", n, err)
	}
	// The broker refuses it: the task fails, the aggregate stays ready.
	v.runFor(func() bool { ts := v.offerTasks(); return len(ts) == 1 && ts[0].Status == task.StatusFailed })
	head := v.aggregates()[0]
	if head.Status != aggregate.StatusReady {
		t.Fatalf("aggregate is %s", head.Status)
	}
	// The resume receipt names the offer task in fx, ran by a ResumeCommand invocation.
	r := v.receipt(head.Head)
	if len(r.Fx) != 1 || r.Fx[0].String() != v.offerTasks()[0].Path.Key {
		t.Fatalf("resume receipt fx %v", r.Fx)
	}
	if inv, err := v.e.Receipt(ctx, r.Ran); err != nil || inv.Invocation.Command != aggregate.ResumeCommand {
		t.Fatalf("resume receipt ran %s (%v)", r.Ran, err)
	}
	// Next start: the failed offer is resumed, and taken.
	if n, err := m.ResumeOffers(ctx, v.e); err != nil || n != 1 {
		t.Fatalf("ResumeOffers after a refusal = %d, %v; want 1", n, err)
	}
	v.runFor(func() bool { return v.aggregates()[0].Status == aggregate.StatusDealPending })
	if n, err := m.ResumeOffers(ctx, v.e); err != nil || n != 0 {
		t.Fatalf("ResumeOffers with nothing ready = %d, %v; want 0", n, err)
	}
	v.run()
	offers := b.posts()
	if len(offers) != 2 || offers[0].Aggregate != offers[1].Aggregate {
		t.Fatalf("%d offers, want the refused one and the taken one of the same aggregate", len(offers))
	}
	if ts := v.offerTasks(); len(ts) != 2 || ts[1].Status != task.StatusDone {
		t.Fatalf("offer tasks %v", ts)
	}
	if got := v.statuses(v.aggregates()[0].Head); !slices.Equal(got, []string{"deal_pending", "ready", "ready", "ready", "ingesting"}) {
		t.Fatalf("aggregate chain %v", got)
	}
}
