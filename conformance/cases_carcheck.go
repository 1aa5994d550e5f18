package conformance

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/message"
)

// caseStoreOnlyCARs stores bytes that are the CID's but not a CAR, and a CAR with a
// corrupted block: each upload is refused with a 4xx, and the entry, once confirmed,
// ends failed with a reason naming what was wrong; it cannot be an upload's shard.
func caseStoreOnlyCARs(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	good, _, root := randomCAR(t, 512)
	corrupt := []byte(string(good))
	corrupt[len(corrupt)-1] ^= 0xff // the block's last byte: no longer its CID's
	for _, tc := range []struct {
		name, reason string
		data         []byte
	}{
		{"a text file", "not a CAR", []byte("# README\n\nThis is a text file, not a CAR.\n")},
		{"a corrupted CAR", "does not match its CID", corrupt},
	} {
		link := message.CID(tc.data)
		p := e.abs("store/" + link.String())
		value := storeInput(link, len(tc.data))
		r := e.put(ctx, p, value)
		wantStatus(t, "store put of "+tc.name, r, "pending")
		if code := e.upload(ctx, r.State(), tc.data); code < 400 || code >= 500 {
			t.Errorf("upload of %s: HTTP %d, want 4xx", tc.name, code)
		}
		r, err := e.c.Get(ctx, p)
		if err != nil {
			t.Fatalf("get %s: %v", p, err)
		}
		if r.Status() == "pending" {
			r = e.put(ctx, p, value) // the confirming put (S3); on fs the entry is failed already
		}
		if r.Status() != "failed" || !strings.Contains(str(lookupNode(r.State(), "reason")), tc.reason) {
			t.Errorf("%s: entry %q (state %s), want failed with a reason containing %q", tc.name, r.Status(), show(r.Ok), tc.reason)
		}
		if _, err := e.c.Put(ctx, e.abs("upload/"+root.String()), uploadInput(root, link)); !isReceiptError(err, "ShardNotFound") {
			t.Errorf("an upload naming %s as a shard: %v, want a ShardNotFound error receipt", tc.name, err)
		}
	}
}

// caseGateway stores a CAR and reads its root block back by CID at /ipfs/{cid}: raw
// (?format=raw and by Accept), as a CAR holding the block, as file bytes; HEAD; an
// unknown CID is 404 and a malformed one 400.
func caseGateway(ctx context.Context, t T, target Target) {
	e := setup(ctx, t, target)
	car, carCID, root := randomCAR(t, 2048)
	e.storeCAR(ctx, car)
	payload, err := carscan.Scan(bytes.NewReader(car))
	if err != nil {
		t.Fatalf("the test CAR: %v", err)
	}
	blk := payload.Blocks[0]
	data := car[blk.Offset : blk.Offset+blk.Length]

	get := func(method, path string, hdr map[string]string) (int, []byte, http.Header) {
		t.Helper()
		return e.gatewayGet(ctx, method, path, hdr)
	}
	if code, body, h := get("GET", "/ipfs/"+root.String()+"?format=raw", nil); code != 200 || !bytes.Equal(body, data) || h.Get("Content-Type") != "application/vnd.ipld.raw" {
		t.Errorf("GET ?format=raw: HTTP %d, %d bytes (%s); want 200 with the block's %d", code, len(body), h.Get("Content-Type"), len(data))
	}
	if code, body, _ := get("GET", "/ipfs/"+root.String(), map[string]string{"Accept": "application/vnd.ipld.raw"}); code != 200 || !bytes.Equal(body, data) {
		t.Errorf("GET Accept raw: HTTP %d, %d bytes", code, len(body))
	}
	code, body, _ := get("GET", "/ipfs/"+root.String()+"?format=car", nil)
	res, err := carscan.Scan(bytes.NewReader(body))
	if code != 200 || err != nil || len(res.Roots) != 1 || res.Roots[0] != root || len(res.Blocks) != 1 {
		t.Errorf("GET ?format=car: HTTP %d, %v, %+v; want a CAR of the root block", code, err, res)
	}
	if code, body, _ := get("GET", "/ipfs/"+root.String(), nil); code != 200 || !bytes.Equal(body, data) {
		t.Errorf("GET (deserialized raw leaf): HTTP %d, %d bytes", code, len(body))
	}
	if code, body, _ := get("HEAD", "/ipfs/"+root.String(), nil); code != 200 || len(body) != 0 {
		t.Errorf("HEAD: HTTP %d, %d bytes", code, len(body))
	}
	unknown := message.NewBlock(message.CodecRaw, []byte("never stored anywhere")).CID
	for _, q := range []string{"", "?format=raw", "?format=car"} {
		if code, _, _ := get("GET", "/ipfs/"+unknown.String()+q, nil); code != 404 {
			t.Errorf("GET of an unknown CID%s: HTTP %d, want 404", q, code)
		}
	}
	if code, _, _ := get("GET", "/ipfs/not-a-cid", nil); code != 400 {
		t.Errorf("GET of a malformed CID: HTTP %d, want 400", code)
	}

	// The upload's index, in the incumbent's index/sharded/dag@0.1 format.
	if code, _, _ := get("GET", "/index/"+e.space.DID()+"/"+root.String(), nil); code != 404 {
		t.Errorf("GET /index of an upload not made yet: HTTP %d, want 404", code)
	}
	wantStatus(t, "upload put", e.put(ctx, e.abs("upload/"+root.String()), uploadInput(root, carCID)), "done")
	code, body, _ = get("GET", "/index/"+e.space.DID()+"/"+root.String(), nil)
	if code != 200 {
		t.Fatalf("GET /index: HTTP %d: %s", code, body)
	}
	checkShardedIndex(t, body, root, carCID, blk.Multihash, blk.Offset, blk.Length)
}

// checkShardedIndex decodes an index/sharded/dag@0.1 CAR and checks it names root, one
// shard (carCID) and the block mh at off+n in it.
func checkShardedIndex(t T, body []byte, root, carCID cid.Cid, mh []byte, off, n int64) {
	t.Helper()
	res, err := carscan.Scan(bytes.NewReader(body))
	if err != nil || len(res.Roots) != 1 || len(res.Blocks) != 2 {
		t.Fatalf("the index is not a CAR of 2 blocks: %v %+v", err, res)
	}
	decode := func(i int) datamodel.Node {
		b := res.Blocks[i]
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagcbor.Decode(nb, bytes.NewReader(body[b.Offset:b.Offset+b.Length])); err != nil {
			t.Fatalf("index block %d: %v", i, err)
		}
		return nb.Build()
	}
	top := lookupNode(decode(0), "index/sharded/dag@0.1")
	content, _ := lookupNode(top, "content").AsLink()
	shards := lookupNode(top, "shards")
	if top == nil || content.String() != root.String() || shards == nil || shards.Length() != 1 {
		t.Fatalf("index root %s, want {index/sharded/dag@0.1: {content: %s, shards: [1 link]}}", show(decode(0)), root)
	}
	bi := decode(1)
	shardMH, _ := must(bi.LookupByIndex(0)).AsBytes()
	slice := must(must(bi.LookupByIndex(1)).LookupByIndex(0))
	sliceMH, _ := must(slice.LookupByIndex(0)).AsBytes()
	gotOff, _ := must(must(slice.LookupByIndex(1)).LookupByIndex(0)).AsInt()
	gotLen, _ := must(must(slice.LookupByIndex(1)).LookupByIndex(1)).AsInt()
	if !bytes.Equal(shardMH, carCID.Hash()) || !bytes.Equal(sliceMH, mh) || gotOff != off || gotLen != n {
		t.Errorf("blob index %s, want [%x, [[%x, [%d, %d]]]]", show(bi), []byte(carCID.Hash()), mh, off, n)
	}
}

func must(n datamodel.Node, err error) datamodel.Node {
	if err != nil {
		return basicnode.NewString("missing: " + err.Error())
	}
	return n
}

// gatewayDo sends a request without a body to the service's path (GET|HEAD /ipfs/…,
// /index/…) with the headers hdr, and returns the status, the whole body and the
// headers; err is a request that failed or a body that could not be read whole.
func (e *env) gatewayDo(ctx context.Context, method, path string, hdr map[string]string) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, e.url(path), nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header, err
}

// gatewayGet is gatewayDo failing the case when the request fails (a body cut short is
// returned as read).
func (e *env) gatewayGet(ctx context.Context, method, path string, hdr map[string]string) (int, []byte, http.Header) {
	e.t.Helper()
	code, body, h, err := e.gatewayDo(ctx, method, path, hdr)
	if code == 0 {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return code, body, h
}
