package conformance

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"golang.org/x/sync/errgroup"

	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/message"
)

func caseSelectPages(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	const n, limit = 7, 3
	var want []string
	for i := range n {
		p, v := e.entry(i)
		e.put(ctx, p, v)
		want = append(want, path.Base(p))
	}
	var got []string
	q := client.Query{Limit: limit}
	for pages := 0; ; pages++ {
		if pages > n {
			t.Fatalf("select did not end after %d pages", pages)
		}
		page, err := e.c.Select(ctx, e.collection(), q)
		if err != nil {
			t.Fatalf("select page %d: %v", pages, err)
		}
		for _, en := range page.Entries {
			got = append(got, entryKey(en))
		}
		if page.Cursor == "" {
			break
		}
		if len(got) < n && len(page.Entries) != limit {
			t.Errorf("page %d has %d entries while more exist, want %d (full pages)", pages, len(page.Entries), limit)
		}
		q.Cursor = page.Cursor
	}
	if !slices.Equal(got, want) {
		t.Errorf("select listed %v, want %v (insertion order)", got, want)
	}
	all, err := e.c.Select(ctx, e.collection(), client.Query{Limit: client.MaxSelectLimit})
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	if len(all.Entries) != n || all.Cursor != "" {
		t.Errorf("select with limit %d: %d entries, cursor %q; want %d and no cursor", client.MaxSelectLimit, len(all.Entries), all.Cursor, n)
	}
	big := e.invoke(ctx, e.space.DID(), client.CmdSelect, selectArgs(e.target.Collection, client.MaxSelectLimit+1), e.root)
	if big.Error == nil {
		t.Errorf("select with limit %d succeeded, want an error receipt", client.MaxSelectLimit+1)
	}
}

func selectArgs(rel string, limit int) datamodel.Node {
	return fluent.MustBuildMap(basicnode.Prototype.Map, 2, func(ma fluent.MapAssembler) {
		ma.AssembleEntry("path").AssignString(rel)
		ma.AssembleEntry("limit").AssignInt(int64(limit))
	})
}

// entryKey is a page entry's key, from "key" or the last segment of "path".
func entryKey(en client.PageEntry) string {
	if en.Key != "" {
		return en.Key
	}
	return path.Base(en.Path)
}

// Byte pages: the select-byte-pages case's sizes. An upload entry listing
// byteShards shards stores them twice (input and state), about 5.6 KB; byteEntries of them
// are about 2.2 MB, twice a select page's default byte budget (serve --select-page-bytes,
// 1 MiB), so a select of limit MaxSelectLimit must end early, by bytes, at least once.
const (
	byteShards  = 128
	byteEntries = 400
	// byteUploads is how many shard uploads run at once.
	byteUploads = 8
	// byteBatch is how many upload puts go in one message (about 6 KB each).
	byteBatch = 100
	// defaultPageBytes is the service's default select page budget; a page block may pass
	// it by the one entry that crossed it and the block's own framing.
	defaultPageBytes = 1 << 20
	// maxPageBlock bounds a page block: the budget, one entry (at most a 64 KiB token
	// stored twice) and framing.
	maxPageBlock = defaultPageBytes + 256<<10
)

// caseSelectBytePages checks that a select page ends at a byte budget as well as at its
// limit: entries of about 5.6 KB (uploads of 128 stored shards), about 2.2 MB in all, selected
// with the largest limit, come in pages cut short by bytes (fewer entries than the limit,
// with a cursor, a page block near 1 MiB), and following the cursors lists every entry
// exactly once (in the order the service committed them: the puts of one message may
// commit in any order). It assumes the service's default page budget (serve
// --select-page-bytes 1 MiB); with one above 2.2 MB the first page would hold them all.
func caseSelectBytePages(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	// Shards: tiny CARs, stored (put, PUT the bytes) so uploads may list them.
	var shards []cid.Cid
	var stores []*client.Invocation
	cars := map[cid.Cid][]byte{}
	for range byteShards {
		car, carCID, _ := randomCAR(t, 64)
		cars[carCID] = car
		shards = append(shards, carCID)
		inv, err := e.c.NewInvocation(ctx, client.CmdPut, e.abs("store/"+carCID.String()), client.Args{"value": storeInput(carCID, len(car))})
		if err != nil {
			t.Fatalf("store invocation: %v", err)
		}
		stores = append(stores, inv)
	}
	rs, err := e.c.Send(ctx, stores...)
	if err != nil {
		t.Fatalf("storing %d shards: %v", byteShards, err)
	}
	for i, r := range rs {
		wantStatus(t, fmt.Sprintf("store put %d", i), r, "pending")
	}
	// The bytes, byteUploads at a time.
	var g errgroup.Group
	g.SetLimit(byteUploads)
	for i, r := range rs {
		g.Go(func() error {
			code, err := e.tryUpload(ctx, r.State(), cars[shards[i]])
			if err == nil && code/100 != 2 {
				err = fmt.Errorf("upload of shard %d: HTTP %d", i, code)
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatalf("%v", err)
	}
	// Uploads listing every shard, byteBatch to a message.
	var want []string
	for start := 0; start < byteEntries; start += byteBatch {
		var invs []*client.Invocation
		for range byteBatch {
			root := message.Sum(message.CodecRaw, random(32))
			inv, err := e.c.NewInvocation(ctx, client.CmdPut, e.abs("upload/"+root.String()), client.Args{"value": uploadInput(root, shards...)})
			if err != nil {
				t.Fatalf("upload invocation: %v", err)
			}
			invs = append(invs, inv)
			want = append(want, root.String())
		}
		rs, err := e.c.Send(ctx, invs...)
		if err != nil {
			t.Fatalf("putting uploads %d..%d: %v", start, start+byteBatch-1, err)
		}
		for i, r := range rs {
			wantStatus(t, fmt.Sprintf("upload put %d", start+i), r, "done")
		}
	}
	var got []string
	seen := map[string]bool{}
	q := client.Query{Limit: client.MaxSelectLimit}
	pages := 0
	for {
		if pages > byteEntries {
			t.Fatalf("select did not end after %d pages", pages)
		}
		page, err := e.c.Select(ctx, e.abs("upload"), q)
		if err != nil {
			t.Fatalf("select page %d (limit %d): %v", pages, client.MaxSelectLimit, err)
		}
		pages++
		size := pageBlockSize(page)
		if size > maxPageBlock {
			t.Errorf("page %d block is %d bytes, want at most %d (1 MiB budget, one entry, framing)", pages, size, maxPageBlock)
		}
		for _, en := range page.Entries {
			k := entryKey(en)
			if seen[k] {
				t.Errorf("entry %s listed twice (page %d)", k, pages)
			}
			seen[k] = true
			got = append(got, k)
		}
		t.Logf("page %d: %d entries, block %d bytes, cursor %t", pages, len(page.Entries), size, page.Cursor != "")
		if page.Cursor == "" {
			break
		}
		if len(page.Entries) == 0 {
			t.Fatalf("page %d is empty but has a cursor", pages)
		}
		q.Cursor = page.Cursor
	}
	if pages < 2 {
		t.Errorf("%d entries of about 5.6 KB (about 2.2 MB) came in one page of limit %d: select pages are not cut by bytes (or the service's page budget is above 2.2 MB)", byteEntries, client.MaxSelectLimit)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("following the cursors listed %d entries (%d distinct), want the %d put, each once", len(got), len(seen), len(want))
	}
}

// pageBlockSize is the size of the page a select receipt carries: the page block its out.ok
// links ("page"), or, for a page given inline, the DAG-CBOR encoding of out.ok itself; 0
// when there is no receipt.
func pageBlockSize(p *client.Page) int {
	if p.Receipt == nil || p.Receipt.Ok == nil {
		return 0
	}
	if n := lookupNode(p.Receipt.Ok, "page"); n != nil {
		if l, err := n.AsLink(); err == nil {
			if cl, ok := l.(cidlink.Link); ok {
				return len(p.Receipt.Blocks[cl.Cid])
			}
		}
	}
	var buf bytes.Buffer
	if err := dagcbor.Encode(p.Receipt.Ok, &buf); err != nil {
		return 0
	}
	return buf.Len()
}
