package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// TestLoadChunks: Load reads an archive of more messages than LoadChunk (decoded a
// chunk at a time on every core) into a plan holding every one of them, and of an archive
// with malformed messages among them names the first one Scan finds, as one decoded after
// another would.
func TestLoadChunks(t *testing.T) {
	ctx := context.Background()
	signer, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	blobs := mem.New()
	a := archive.New(blobs, archive.Options{})
	const n = 2*LoadChunk + 7
	var want []cid.Cid
	for i := range n {
		nb := basicnode.Prototype.Map.NewBuilder()
		ma, err := nb.BeginMap(1)
		if err != nil {
			t.Fatal(err)
		}
		if err := ma.AssembleKey().AssignString("path"); err != nil {
			t.Fatal(err)
		}
		if err := ma.AssembleValue().AssignString(fmt.Sprintf("notes/%d", i)); err != nil {
			t.Fatal(err)
		}
		if err := ma.Finish(); err != nil {
			t.Fatal(err)
		}
		in := &ucan.Invocation{Issuer: signer.DID(), Subject: signer.DID(), Command: "/dag/get", Args: nb.Build(), Nonce: ucan.NewNonce()}
		inv, err := in.Seal(signer, ucan.SealOptions{})
		if err != nil {
			t.Fatal(err)
		}
		body, err := message.Encode(&message.Message{Invocations: []cid.Cid{inv.CID}, Blocks: []message.Block{{CID: inv.CID, Data: inv.Raw}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Put(ctx, message.CodecCAR, body); err != nil {
			t.Fatal(err)
		}
		want = append(want, inv.CID)
	}
	plan, err := Load(ctx, blobs, "did:key:zService", nil)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Messages != n || len(plan.Unanswered) != n || len(plan.Steps) != 0 {
		t.Fatalf("plan of %d messages, %d unanswered, %d steps; want %d, %d, 0", plan.Messages, len(plan.Unanswered), len(plan.Steps), n, n)
	}
	var got []cid.Cid
	for _, inv := range plan.Unanswered {
		got = append(got, inv.CID)
	}
	byKey := func(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) }
	slices.SortFunc(want, byKey)
	if !slices.Equal(got, want) {
		t.Fatal("the plan's unanswered invocations are not the archived ones")
	}

	// Malformed messages (they match their CIDs, but are not CARs) in several chunks:
	// the one named is the first in Scan's order (message files in key order).
	var bad []cid.Cid
	for i := range 5 {
		msg, err := a.Put(ctx, message.CodecCAR, fmt.Appendf(nil, "not a CAR %d", i))
		if err != nil {
			t.Fatal(err)
		}
		bad = append(bad, msg)
	}
	first := slices.MinFunc(bad, func(a, b cid.Cid) int { return strings.Compare(archive.WorkflowKey(a), archive.WorkflowKey(b)) })
	_, err = Load(ctx, blobs, "did:key:zService", nil)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), first.String()) {
		t.Fatalf("Load: %v; want %v naming %s", err, ErrMalformed, first)
	}
}
