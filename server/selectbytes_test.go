package server

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/ucan"
)

// TestSelectPageBytes reproduces issue 10's select amplification: 1,000 entries of 60 KB
// and 8 concurrent selects with limit 1000 made 60 MB replies (RSS +2 GB) that our own
// client refused. Now a page ends at dag.DefaultSelectPageBytes (full, with a cursor): every
// reply stays near 1 MiB, and the client reads every entry by following cursors.
func TestSelectPageBytes(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 60 MB")
	}
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	big := strings.Repeat("x", 60_000)
	const n = 1000
	for start := 0; start < n; start += 50 {
		var invs []*ucan.Token
		for i := start; i < start+50; i++ {
			invs = append(invs, h.put(fmt.Sprintf("k%04d", i), big))
		}
		for c, r := range h.send(invs) {
			if r.Out.Err != nil {
				t.Fatalf("put %s: %+v", c, r.Out.Err)
			}
		}
	}
	sel := invoke(t, h.space, h.space.DID(), "/dag/select", `{"path": "notes", "limit": 1000}`)
	body := encode(t, []*ucan.Token{sel})
	const maxReply = dag.DefaultSelectPageBytes + 128<<10 // one entry past the budget, receipts, framing
	var wg sync.WaitGroup
	sizes := make([]int, 8)
	for i := range sizes {
		wg.Go(func() {
			resp, err := http.Post(h.http.URL+"/ucan", message.ContentTypeCAR, strings.NewReader(string(body)))
			if err != nil {
				t.Error(err)
				return
			}
			data := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Errorf("select: %d %s", resp.StatusCode, data)
			}
			sizes[i] = len(data)
		})
	}
	wg.Wait()
	for i, size := range sizes {
		if size == 0 || size > maxReply {
			t.Errorf("select reply %d is %d bytes, want 1…%d", i, size, maxReply)
		}
	}
	c, err := client.New(client.Options{URL: h.http.URL, Signer: h.space})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	q := client.Query{Limit: client.MaxSelectLimit}
	pages := 0
	for {
		page, err := c.Select(ctx, "/"+h.space.DID()+"/notes", q)
		if err != nil {
			t.Fatalf("client select page %d: %v", pages, err)
		}
		pages++
		for _, e := range page.Entries {
			if seen[e.Key] {
				t.Fatalf("entry %s on two pages", e.Key)
			}
			seen[e.Key] = true
		}
		if page.Cursor == "" {
			break
		}
		if len(page.Entries) == 0 {
			t.Fatal("an empty page with a cursor")
		}
		q.Cursor = page.Cursor
	}
	if len(seen) != n || pages < 40 {
		t.Fatalf("client read %d entries in %d pages, want %d in ≥ 40 pages of ≤ 1 MiB", len(seen), pages, n)
	}
	t.Logf("reply sizes %v; %d pages", sizes, pages)
}

// countingRunner records the most select Execs running at once.
type countingRunner struct {
	Runner
	mu       sync.Mutex
	now, max int
}

func (c *countingRunner) ExecWith(ctx context.Context, ch *ops.Checked, msg cid.Cid, opts ...dag.OpOption) (ops.Outcome, error) {
	if ch.Invocation().Invocation.Command != ops.CmdSelect {
		return c.Runner.ExecWith(ctx, ch, msg, opts...)
	}
	c.mu.Lock()
	c.now++
	c.max = max(c.max, c.now)
	c.mu.Unlock()
	time.Sleep(20 * time.Millisecond) // let the other requests pile up
	defer func() { c.mu.Lock(); c.now--; c.mu.Unlock() }()
	return c.Runner.ExecWith(ctx, ch, msg, opts...)
}

// TestReplyBytesInFlight: with room for one select page's bytes in flight, 8 concurrent
// selects run one at a time (each reserves its page budget before running) and all
// answer.
func TestReplyBytesInFlight(t *testing.T) {
	var counter *countingRunner
	h := newHarness(t, harnessOptions{replyBytes: dag.DefaultSelectPageBytes, runner: func(r Runner) Runner {
		counter = &countingRunner{Runner: r}
		return counter
	}})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			sel := invoke(t, h.space, h.space.DID(), "/dag/select", `{"path": "notes"}`)
			resp, err := http.Post(h.http.URL+"/ucan", message.ContentTypeCAR, bytes.NewReader(encode(t, []*ucan.Token{sel})))
			if err != nil {
				t.Error(err)
				return
			}
			if data := readAll(t, resp); resp.StatusCode != http.StatusOK {
				t.Errorf("select: %d %s", resp.StatusCode, data)
			}
		})
	}
	wg.Wait()
	if counter.max != 1 {
		t.Fatalf("%d selects ran at once with room for one page in flight", counter.max)
	}
}
