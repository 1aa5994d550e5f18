package archive

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/blob/mem"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
)

// TestRefusal: a refusal record, with and without an outbox, keeps the message's CID,
// size, invocation count, sender and distinct refusal names within their bounds, and not
// the message.
func TestRefusal(t *testing.T) {
	ctx := context.Background()
	for name, a := range map[string]*Archive{
		"outbox":    New(mem.New(), Options{Outbox: kvmem.New()}),
		"no outbox": New(mem.New(), Options{}),
	} {
		t.Run(name, func(t *testing.T) {
			defer a.Close()
			data := []byte(strings.Repeat("flood", 1000))
			names := []string{"InvalidSignature", "Expired", "InvalidSignature"}
			for range 2 * MaxRefusalNames {
				names = append(names, "N"+strings.Repeat("x", len(names)))
			}
			msg, err := a.PutRefusal(ctx, message.CodecCAR, data, 3, strings.Repeat("d", 2*MaxRefusalSender), names)
			if err != nil {
				t.Fatal(err)
			}
			if !msg.Equals(message.CID(data)) {
				t.Fatalf("PutRefusal returned %s, want the message's CID", msg)
			}
			r, err := a.Refused(ctx, msg)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Message.Equals(msg) || r.Size != len(data) || r.Invocations != 3 || len(r.Sender) != MaxRefusalSender {
				t.Fatalf("record %+v", r)
			}
			if len(r.Refusals) != MaxRefusalNames || r.Refusals[0] != "Expired" || r.Refusals[1] != "InvalidSignature" {
				t.Fatalf("refusal names %v", r.Refusals)
			}
			if ok, err := a.Has(ctx, msg); ok || err != nil {
				t.Fatalf("the refused message is archived: %v, %v", ok, err)
			}
			if _, err := a.Refused(ctx, message.CID([]byte("other"))); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Refused of another message: %v", err)
			}
		})
	}
}
