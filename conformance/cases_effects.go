package conformance

import (
	"context"
	"strings"
)

// caseStoreEffects stores a CAR (put → pending, bytes uploaded, put again → done) and walks
// the done receipt's effects (client.ChainFx: GET /receipts/{fx invocation} for each
// effect): its fx reach the space's usage record and the CAR's carwhere entry, each a
// receipt that ran the effect's invocation, and its origin chain reaches the pending
// receipt of the put, whose own fx is not empty (its expiry).
func caseStoreEffects(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	car, carCID, _ := randomCAR(t, 2048)
	storePath := e.abs("store/" + carCID.String())
	value := storeInput(carCID, len(car))
	pending := e.put(ctx, storePath, value)
	wantStatus(t, "store put", pending, "pending")
	if len(pending.Fx) == 0 {
		t.Errorf("the pending receipt %s has no fx, want its expiry", pending.CID)
	}
	if code := e.upload(ctx, pending.State(), car); code/100 != 2 {
		t.Fatalf("upload of the CAR: HTTP %d", code)
	}
	done := e.put(ctx, storePath, value)
	wantStatus(t, "store put after the upload", done, "done")
	steps, err := e.c.ChainFx(ctx, done.CID)
	if err != nil {
		t.Fatalf("walking the effects of %s: %v", done.CID, err)
	}
	if len(steps) == 0 || steps[0].Receipt == nil || !steps[0].Receipt.CID.Equals(done.CID) {
		t.Fatalf("the walk does not start at the done receipt %s", done.CID)
	}
	reached := map[string]bool{}
	sawPending := false
	for _, s := range steps {
		if s.Receipt == nil {
			continue
		}
		if s.Receipt.CID.Equals(pending.CID) && !s.Effect.Defined() {
			sawPending = true
		}
		if !s.Effect.Defined() || !s.Cause.Equals(done.CID) || s.Known {
			continue
		}
		if !s.Receipt.Ran.Equals(s.Effect) {
			t.Errorf("effect %s of the done receipt led to receipt %s, which ran %s", s.Effect, s.Receipt.CID, s.Receipt.Ran)
		}
		switch {
		case strings.HasPrefix(s.Receipt.Path, "/"+e.space.DID()+"/usage/"):
			reached["usage"] = true
		case s.Receipt.Path == "/"+e.service+"/carwhere/"+carCID.String():
			reached["carwhere"] = true
		}
	}
	for _, want := range []string{"usage", "carwhere"} {
		if !reached[want] {
			t.Errorf("no effect of the done receipt %s reached its %s receipt", done.CID, want)
		}
	}
	if !sawPending {
		t.Errorf("the done receipt's chain does not reach the pending receipt %s of the put", pending.CID)
	}
}
