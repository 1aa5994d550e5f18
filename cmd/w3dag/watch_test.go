package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// TestWatchSurvivesRestart follows a collection while the service is stopped and started
// again on the same data folder: client.Watch reconnects with Last-Event-ID and gets the
// receipts committed after the restart exactly once, in order.
func TestWatchSurvivesRestart(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	data := t.TempDir()
	url, stop := startServerAt(t, data, addr)

	agent, _ := did.GenerateEd25519()
	space, _ := did.GenerateEd25519()
	dlg, err := (&ucan.Delegation{Issuer: space.DID(), Audience: agent.DID(), Subject: space.DID(), Command: "/", Nonce: ucan.NewNonce()}).Seal(space, ucan.SealOptions{})
	if err != nil {
		t.Fatal(err)
	}
	service, err := client.FetchServiceDID(context.Background(), nil, url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{URL: url, Signer: agent, ServiceDID: service, Proofs: []*ucan.Token{dlg}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	put := func(key string) string {
		t.Helper()
		const root = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagjson.Decode(nb, strings.NewReader(`{"root": {"/": "`+root+`"}}`)); err != nil {
			t.Fatal(err)
		}
		r, err := c.Put(ctx, "/"+space.DID()+"/pins/"+key, nb.Build())
		if err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		return r.CID.String()
	}
	events := make(chan client.Event, 16)
	go c.Watch(ctx, "/"+space.DID()+"/pins", "0", func(ev client.Event) error {
		events <- ev
		return nil
	})
	next := func(what string) client.Event {
		t.Helper()
		select {
		case ev := <-events:
			return ev
		case <-time.After(30 * time.Second):
			t.Fatalf("no event for %s", what)
		}
		return client.Event{}
	}
	a := put("a")
	if ev := next("a"); ev.ReceiptCID.String() != a {
		t.Fatalf("first event %s, want %s", ev.ReceiptCID, a)
	}

	stop()
	startServerAt(t, data, addr)
	b := put("b")
	ev := next("b after the restart")
	if ev.ReceiptCID.String() != b || ev.Receipt == nil || ev.Receipt.Status() != "done" {
		t.Fatalf("event after the restart: %s (%s), want %s", ev.ReceiptCID, ev.Data, b)
	}
	select {
	case extra := <-events:
		t.Errorf("unexpected event %s (%s)", extra.ID, extra.ReceiptCID)
	case <-time.After(300 * time.Millisecond):
	}
}
