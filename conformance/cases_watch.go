package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

func caseWatch(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	p1, v1 := e.entry(0)
	r1 := e.put(ctx, p1, v1)

	// From just before the first put (Last-Event-ID = its seq - 1) the existing receipt is
	// replayed first, then a receipt committed while watching arrives.
	type got struct {
		ev  client.Event
		err error
	}
	events := make(chan got, 16)
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := e.c.Watch(wctx, e.collection(), strconv.FormatUint(r1.Seq-1, 10), func(ev client.Event) error {
			events <- got{ev: ev}
			return nil
		})
		if err != nil && wctx.Err() == nil {
			events <- got{err: err}
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	next := func(what string) client.Event {
		t.Helper()
		select {
		case g := <-events:
			if g.err != nil {
				t.Fatalf("watch: %v", g.err)
			}
			return g.ev
		case <-time.After(10 * time.Second):
			t.Fatalf("watch: no event for %s within 10s", what)
		}
		return client.Event{}
	}
	ev := next("the existing entry")
	if !eventIs(ev, r1) {
		t.Fatalf("first event %q (data %s), want receipt %s", ev.ID, ev.Data, r1.CID)
	}
	p2, v2 := e.entry(1)
	r2 := e.put(ctx, p2, v2)
	ev2 := next("a new entry")
	if !eventIs(ev2, r2) {
		t.Fatalf("second event %q (data %s), want receipt %s", ev2.ID, ev2.Data, r2.CID)
	}
	cancel()
	wg.Wait()

	// Resuming after the first event's id starts with the second.
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	var resumed client.Event
	err := e.c.Watch(rctx, e.collection(), ev.ID, func(ev client.Event) error {
		resumed = ev
		return client.ErrStop
	})
	if err != nil {
		t.Fatalf("resumed watch: %v", err)
	}
	if !eventIs(resumed, r2) {
		t.Errorf("resumed after %q: event %q (data %s), want receipt %s", ev.ID, resumed.ID, resumed.Data, r2.CID)
	}

	// Without a proof the service refuses the stream.
	stranger, _ := did.GenerateEd25519()
	tok, err := (&ucan.Invocation{Issuer: stranger.DID(), Subject: e.space.DID(), Audience: e.service, Command: client.CmdGet, Args: pathArgs(e.target.Collection), Nonce: ucan.NewNonce()}).Seal(stranger, ucan.SealOptions{})
	if err != nil {
		t.Fatalf("sealing invocation: %v", err)
	}
	bearer, err := client.BearerOf(&client.Invocation{Token: tok})
	if err != nil {
		t.Fatalf("bearer: %v", err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url("/watch"+e.collection()), nil)
	req.Header.Set("Authorization", bearer)
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatalf("unauthorised watch: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("watch of another's space: HTTP %d, want 401 or 403", resp.StatusCode)
	}
}

// eventIs says whether ev announces receipt r: by the receipt CID in its data, or by
// carrying the receipt's CID string somewhere in its data.
func eventIs(ev client.Event, r *client.Receipt) bool {
	if ev.ReceiptCID.Defined() {
		return ev.ReceiptCID.Equals(r.CID)
	}
	var anyJSON any
	return json.Unmarshal(ev.Data, &anyJSON) == nil && bytes.Contains(ev.Data, []byte(r.CID.String()))
}
