package conformance

import (
	"context"
	"strconv"
	"time"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/client"
)

// caseServicePublicRead stores a small CAR, then reads its carwhere entry from the service
// subject (/<service DID>/carwhere/<CAR CID>) with an invocation that carries no proof —
// nobody but the service holds a chain from the service — by get, select and watch (DESIGN
// §2: service collections are readable by any signed invocation). Writes stay the
// service's: a put to the entry is refused with a UCAN error name and changes nothing, and
// the private task collection is not readable without a proof. A service run with public
// service reads turned off (`serve --public-service-reads=false`) fails this case.
func caseServicePublicRead(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	car, carCID, _ := randomCAR(t, 512)
	storePath := e.abs("store/" + carCID.String())
	r := e.put(ctx, storePath, storeInput(carCID, len(car)))
	wantStatus(t, "store put", r, "pending")
	if code := e.upload(ctx, r.State(), car); code/100 != 2 {
		t.Fatalf("upload of the CAR: HTTP %d", code)
	}
	wantStatus(t, "store put after the upload", e.put(ctx, storePath, storeInput(carCID, len(car))), "done")

	rel := "carwhere/" + carCID.String()
	got := e.invoke(ctx, e.service, client.CmdGet, pathArgs(rel))
	wantStatus(t, "get of /<service>/"+rel+" without a proof", got, "located")
	if size, _ := lookupNode(got.State(), "size").AsInt(); size != int64(len(car)) {
		t.Errorf("carwhere entry %s: size %d, want %d", show(got.State()), size, len(car))
	}
	head, err := e.c.Receipt(ctx, got.Head())
	if err != nil {
		t.Fatalf("head receipt %s of /<service>/%s: %v", got.Head(), rel, err)
	}
	sel := e.invoke(ctx, e.service, client.CmdSelect, fluent.MustBuildMap(basicnode.Prototype.Map, 2, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("path").AssignString("carwhere")
		ma.AssembleEntry("limit").AssignInt(1)
	}))
	if sel.Error != nil {
		t.Errorf("select of /<service>/carwhere without a proof: %v, want ok", sel.Error)
	}
	// The client sends reads of the service without proofs when it holds none.
	if _, err := e.c.Get(ctx, "/"+e.service+"/"+rel); err != nil {
		t.Errorf("client get of /<service>/%s: %v", rel, err)
	}

	// A watch authorised by an invocation alone replays the entry's receipt.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var ev client.Event
	err = e.c.Watch(wctx, "/"+e.service+"/carwhere", strconv.FormatUint(head.Seq-1, 10), func(x client.Event) error {
		ev = x
		return client.ErrStop
	})
	if err != nil {
		t.Errorf("watch of /<service>/carwhere without a proof: %v", err)
	} else if !eventIs(ev, head) {
		t.Errorf("watch of /<service>/carwhere: event %q (data %s), want receipt %s", ev.ID, ev.Data, head.CID)
	}

	// Writes are the service's own.
	put := e.invoke(ctx, e.service, client.CmdPut, putArgs(rel, carwhereInput(len(car)+1)))
	wantErrorName(t, "put to /<service>/"+rel, put, UCANErrorNames...)
	if after := e.invoke(ctx, e.service, client.CmdGet, pathArgs(rel)); after.Error != nil || !after.Head().Equals(head.CID) {
		t.Errorf("after a refused put the entry's head is %s (%v), want %s", after.Head(), after.Error, head.CID)
	}
	// task is not public.
	task := e.invoke(ctx, e.service, client.CmdSelect, pathArgs("task"))
	wantErrorName(t, "select of /<service>/task without a proof", task, UCANErrorNames...)
}

// carwhereInput is a value of the service's carwhere input type: {size, locations: []}.
func carwhereInput(size int) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 2, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("size").AssignInt(int64(size))
		ma.AssembleEntry("locations").CreateList(0, func(fluent.ListAssembler) {})
	})
}
