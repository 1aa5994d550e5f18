package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/machines/store"
)

// fxStep is a line of `w3dag receipt --fx --json`.
type fxStep struct {
	Receipt link   `json:"receipt"`
	Ran     link   `json:"ran"`
	Path    string `json:"path"`
	Origin  *link  `json:"origin"`
	Fx      []link `json:"fx"`
	Out     struct {
		Ok map[string]any `json:"ok"`
	} `json:"out"`
	Effect  *link `json:"effect"`
	Cause   *link `json:"cause"`
	Pending bool  `json:"pending"`
	Known   bool  `json:"known"`
}

type link struct {
	CID string `json:"/"`
}

// TestReceiptFx is the walk of issue 11: from a store done receipt (bytes uploaded,
// delivered, the piece computed by its task), `w3dag receipt --fx` follows fx to the
// usage record, the carwhere update and the piece's computed receipt (and on to the
// piece's joining an aggregate), and origin back to the pending receipt of the client's
// put, whose expiry task has not run (an effect with no receipt yet).
func TestReceiptFx(t *testing.T) {
	clearEnv(t)
	url := startServer(t)
	link0 := storeSmallCAR(t, url)
	ctx := context.Background()
	c, err := client.New(client.Options{URL: url, Signer: mustSigner(t)})
	if err != nil {
		t.Fatal(err)
	}
	service, err := c.ServiceDID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, func() bool {
		out, _, code := cli(t, "get", "/"+service+"/piece/"+link0)
		return code == 0 && strings.Contains(out, "computed")
	})
	out, stderr, code := cli(t, "receipt", "--fx", "--json", "store/"+link0)
	if code != 0 {
		t.Fatalf("receipt --fx: exit %d: %s", code, stderr)
	}
	var steps []fxStep
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var s fxStep
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatalf("a line that is not JSON: %q: %v", l, err)
		}
		steps = append(steps, s)
	}
	done := steps[0]
	if !strings.HasSuffix(done.Path, "/store/"+link0) || done.Out.Ok["status"] != store.StatusDone || done.Effect != nil {
		t.Fatalf("first step %+v, want the store entry's done receipt", done)
	}
	// Origin: the pending receipt, which ran the client's put (the put's receipt).
	var pending *fxStep
	for i := range steps {
		if steps[i].Effect == nil && steps[i].Out.Ok["status"] == store.StatusPending {
			pending = &steps[i]
		}
	}
	if pending == nil || done.Origin == nil || done.Origin.CID != pending.Receipt.CID {
		t.Fatalf("the done receipt's chain does not reach a pending receipt: %+v", steps)
	}
	ran := mustCID(t, pending.Ran.CID)
	put, err := c.Receipt(ctx, ran)
	if err != nil || put.CID.String() != pending.Receipt.CID {
		t.Fatalf("the pending receipt ran %s, whose receipt is %v (%v), not the pending one", ran, put, err)
	}
	if pending.Origin != nil {
		t.Fatalf("the pending receipt has an origin %s: not the entry's first receipt", pending.Origin.CID)
	}
	// Effects of the done receipt: the carwhere update, the usage record, the piece task.
	byCause := map[string][]fxStep{}
	for _, s := range steps {
		if s.Effect != nil {
			byCause[s.Cause.CID] = append(byCause[s.Cause.CID], s)
		}
	}
	want := []string{ // paths (parts of them) of the receipts the done receipt's fx reach
		"/" + service + "/carwhere/" + link0, // the carwhere update
		"/usage/",                            // the usage record
		"/" + service + "/piece/" + link0,    // the piece's compute task: its computed receipt
	}
	for _, p := range want {
		found := false
		for _, s := range byCause[done.Receipt.CID] {
			if !s.Pending && strings.Contains(s.Path, p) && s.Ran.CID == s.Effect.CID {
				found = true
			}
		}
		if !found {
			t.Errorf("no effect of the done receipt reached a receipt of %s that ran it: %+v", p, byCause[done.Receipt.CID])
		}
	}
	// The pending receipt's effect: the expiry task, an hour away, has no receipt yet.
	exp := byCause[pending.Receipt.CID]
	if len(exp) != 1 || !exp[0].Pending {
		t.Fatalf("the pending receipt's effects: %+v, want its expiry task, not run", exp)
	}
	// The piece's computed receipt lists its joining an aggregate.
	joined := false
	for _, s := range steps {
		if s.Effect != nil && strings.Contains(s.Path, "/"+service+"/aggregate/") && s.Ran.CID == s.Effect.CID {
			joined = true
		}
	}
	if !joined {
		t.Errorf("no step reached the piece's aggregate: %+v", steps)
	}
	// Text: the same walk, readable.
	text, stderr, code := cli(t, "receipt", "--fx", "store/"+link0)
	if code != 0 || !strings.Contains(text, "effect   ") || !strings.Contains(text, "no receipt yet") || !strings.Contains(text, "fx       ") {
		t.Fatalf("receipt --fx (text): exit %d %s\n%s", code, stderr, text)
	}
}

func mustCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	c, err := cid.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
