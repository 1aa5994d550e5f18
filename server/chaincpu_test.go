//go:build unix

package server

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
)

// processCPU is the process's user+system CPU time.
func processCPU(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// maxChainCPU bounds the CPU time of one GET /receipts/{cid}?chain=1 of a 1,000-receipt
// page (median of chainCPURuns). Verifying 1,000 Ed25519 signatures again takes about
// 65 ms of CPU on this machine (BenchmarkChainWalk/verify); reading them as stored takes
// a few milliseconds.
const (
	maxChainCPU  = 30 * time.Millisecond
	chainCPURuns = 7
)

// TestChainCPU reproduces issue 10's receipt-chain finding: GET /receipts/{cid}?chain=1 is
// public, and re-verified every receipt of a chain of up to 10,000 (0.7 CPU-s and 6 MB a
// request). Now a request reads at most a page (DefaultChainPage receipts, at most
// MaxChainPageBytes) as stored, without verifying signatures again: the CPU time of a
// 1,000-receipt page is bounded well below what verifying them costs, and the reply is
// one page.
func TestChainCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1,000-receipt chain")
	}
	if raceEnabled {
		t.Skip("the race detector multiplies CPU time; the bound is for the code as built")
	}
	h := newHarness(t, harnessOptions{})
	// put, then 500 × (remove, put): a chain of 1,001 receipts at notes/a.
	send := func(inv *ucan.Token) {
		t.Helper()
		if r := h.send([]*ucan.Token{inv})[inv.CID]; r.Out.Err != nil {
			t.Fatalf("%s: %+v", inv.Invocation.Command, r.Out.Err)
		}
	}
	send(h.put("a", "v0"))
	for i := 1; i <= 500; i++ {
		send(invoke(t, h.space, h.space.DID(), "/dag/remove", `{"path": "notes/a"}`))
		send(h.put("a", fmt.Sprintf("v%d", i)))
	}
	entry, err := h.engine.Entry(context.Background(), mustPath(t, h.space.DID(), "notes/a"))
	if err != nil {
		t.Fatal(err)
	}
	url := h.http.URL + "/receipts/" + entry.Head.String() + "?chain=1"
	var spent []time.Duration
	for range chainCPURuns {
		start := processCPU(t)
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		spent = append(spent, processCPU(t)-start)
		if resp.StatusCode != http.StatusOK || resp.Header.Get(ChainNextHeader) == "" {
			t.Fatalf("chain page: HTTP %d, next %q, want 200 and a next page", resp.StatusCode, resp.Header.Get(ChainNextHeader))
		}
		if len(body) > MaxChainPageBytes+64<<10 {
			t.Fatalf("chain page of %d bytes, want at most %d", len(body), MaxChainPageBytes)
		}
		_, blocks, err := message.DecodeCAR(body, 0)
		if err != nil || len(blocks) != DefaultChainPage {
			t.Fatalf("chain page: %d receipts (%v), want %d", len(blocks), err, DefaultChainPage)
		}
	}
	slices.Sort(spent)
	median := spent[len(spent)/2]
	t.Logf("CPU per 1,000-receipt chain page: median %v (of %v)", median, spent)
	if median > maxChainCPU {
		t.Errorf("a 1,000-receipt chain page took %v of CPU (median of %d), want at most %v: are signatures verified again on every read?", median, chainCPURuns, maxChainCPU)
	}
}
