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
	"sync"
	"testing"
	"time"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/task"
)

// testBroker answers POST /offers with the statuses in answers, one per post (the last
// one repeated), and keeps the offers it was sent.
type testBroker struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers []int
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
	cols := []dag.Collection{task.Collection(), piece.Machine{Aggregator: m}.Collection(), m.Collection()}
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
