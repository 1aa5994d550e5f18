package client

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
)

// BenchmarkSend measures the client's side of one message of 100 puts against the fake
// service: encoding, and decoding and checking 100 receipts (the fake's own work included).
func BenchmarkSend(b *testing.B) {
	for _, skip := range []bool{false, true} {
		b.Run(fmt.Sprintf("skipSignatures=%t", skip), func(b *testing.B) {
			_, srv := newFake(b)
			agent, space, dlg := agentWithSpace(b)
			c, err := New(Options{URL: srv.URL, Signer: agent, Proofs: []*ucan.Token{dlg}, SkipSignatures: skip})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			invs := make([]*Invocation, 100)
			for i := range invs {
				if invs[i], err = c.NewInvocation(ctx, CmdPut, fmt.Sprintf("/%s/pins/%d", space, i), Args{"value": basicnode.NewInt(int64(i))}); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := c.Send(ctx, invs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(invs)), "ns/invocation")
		})
	}
}

// BenchmarkNewInvocation measures sealing one put (proof selection, args, Ed25519 signature).
func BenchmarkNewInvocation(b *testing.B) {
	agent, space, dlg := agentWithSpace(b)
	svc, _, _ := agentWithSpace(b)
	c, err := New(Options{Signer: agent, ServiceDID: svc.DID(), Proofs: []*ucan.Token{dlg}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if _, err := c.NewInvocation(ctx, CmdPut, "/"+space+"/pins/x", Args{"value": basicnode.NewInt(1)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadReply measures the client alone on a recorded reply of 100 receipts:
// decoding the message and the receipts, checking ran, and verifying the signatures.
func BenchmarkReadReply(b *testing.B) {
	f, srv := newFake(b)
	agent, space, dlg := agentWithSpace(b)
	c, err := New(Options{URL: srv.URL, Signer: agent, Proofs: []*ucan.Token{dlg}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	invs := make([]*Invocation, 100)
	for i := range invs {
		if invs[i], err = c.NewInvocation(ctx, CmdPut, fmt.Sprintf("/%s/pins/%d", space, i), Args{"value": basicnode.NewInt(int64(i))}); err != nil {
			b.Fatal(err)
		}
	}
	body, err := EncodeMessage(invs)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := c.Post(ctx, body, message.ContentTypeCAR)
	if err != nil {
		b.Fatal(err)
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	service := f.signer.DID()
	for _, skip := range []bool{false, true} {
		c.noSig = skip
		b.Run(fmt.Sprintf("skipSignatures=%t", skip), func(b *testing.B) {
			for b.Loop() {
				if _, err := c.readReply(reply, service, invs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(invs)), "ns/invocation")
		})
	}
}
