package blockindex_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/dag"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/blockindex"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan/did"
)

// openEngine opens an engine over kv/mem for the index to live in.
func openEngine(t *testing.T) *dag.Engine {
	t.Helper()
	svc, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	e, err := dag.Open(context.Background(), dag.Options{KV: kvmem.New(), Signer: svc, Schema: schema.MustLoad()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// testCAR is a CAR of raw blocks with its CID and scan.
type testCAR struct {
	data   []byte
	cid    cid.Cid
	blocks []message.Block // in CAR order, repeats included
	scan   *carscan.Result
}

func makeCAR(t *testing.T, payloads ...string) testCAR {
	t.Helper()
	var blocks []message.Block
	for _, p := range payloads {
		blocks = append(blocks, message.NewBlock(message.CodecRaw, []byte(p)))
	}
	var roots []cid.Cid
	if len(blocks) > 0 {
		roots = []cid.Cid{blocks[0].CID}
	} else {
		roots = []cid.Cid{message.Sum(message.CodecRaw, []byte("a root held elsewhere"))}
	}
	data, err := message.EncodeCAR(roots, blocks)
	if err != nil {
		t.Fatal(err)
	}
	res, err := carscan.Scan(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return testCAR{data: data, cid: message.CID(data), blocks: blocks, scan: res}
}

// done runs Index.Done for car in a transaction.
func done(t *testing.T, e *dag.Engine, x *blockindex.Index, car cid.Cid) bool {
	t.Helper()
	var indexed bool
	err := e.Update(context.Background(), func(tx *dag.Tx) error {
		var err error
		indexed, err = x.Done(tx, car)
		return err
	})
	if err != nil {
		t.Fatalf("Done(%s): %v", car, err)
	}
	return indexed
}

func removed(t *testing.T, e *dag.Engine, car cid.Cid) {
	t.Helper()
	if err := e.Update(context.Background(), func(tx *dag.Tx) error { return blockindex.Removed(tx, car) }); err != nil {
		t.Fatalf("Removed(%s): %v", car, err)
	}
}

// wantIndexed checks that every block of c is located in c at the bytes that are the
// block, and that Blocks lists c's blocks in CAR order.
func wantIndexed(t *testing.T, e *dag.Engine, c testCAR) {
	t.Helper()
	ctx := context.Background()
	store := &memBlobs{data: c.data}
	for i, b := range c.blocks {
		locs, err := blockindex.Locate(ctx, e, b.CID.Hash())
		if err != nil {
			t.Fatalf("Locate(block %d of %s): %v", i, c.cid, err)
		}
		i := slices.IndexFunc(locs, func(l blockindex.Location) bool { return l.CAR.Equals(c.cid) })
		if i < 0 {
			t.Fatalf("block %s is not located in %s: %v", b.CID, c.cid, locs)
		}
		got, err := blockindex.ReadBlock(ctx, store, "k", locs[i], b.CID)
		if err != nil || !bytes.Equal(got, b.Data) {
			t.Fatalf("the located bytes of %s: %q, %v; want %q", b.CID, got, err, b.Data)
		}
	}
	got, err := blockindex.Blocks(ctx, e, c.cid)
	if err != nil {
		t.Fatalf("Blocks(%s): %v", c.cid, err)
	}
	// In CAR order; a repeated block at its first copy.
	var want []carscan.Block
	first := map[string]carscan.Block{}
	for _, b := range c.scan.Blocks {
		if _, ok := first[string(b.Multihash)]; !ok {
			first[string(b.Multihash)] = b
		}
		want = append(want, first[string(b.Multihash)])
	}
	if !slices.EqualFunc(got, want, func(a, b carscan.Block) bool {
		return bytes.Equal(a.Multihash, b.Multihash) && a.Offset == b.Offset && a.Length == b.Length
	}) {
		t.Fatalf("Blocks(%s) = %v, want %v", c.cid, got, want)
	}
}

func wantNotIndexed(t *testing.T, e *dag.Engine, c testCAR) {
	t.Helper()
	ctx := context.Background()
	if _, err := blockindex.Blocks(ctx, e, c.cid); !errors.Is(err, blockindex.ErrNotIndexed) {
		t.Fatalf("Blocks(%s) = %v, want ErrNotIndexed", c.cid, err)
	}
	for _, b := range c.blocks {
		locs, err := blockindex.Locate(ctx, e, b.CID.Hash())
		if slices.ContainsFunc(locs, func(l blockindex.Location) bool { return l.CAR.Equals(c.cid) }) {
			t.Fatalf("block %s still located in %s", b.CID, c.cid)
		}
		if len(locs) == 0 && !errors.Is(err, blockindex.ErrNotIndexed) {
			t.Fatalf("Locate(%s) = %v, want ErrNotIndexed", b.CID, err)
		}
	}
}

// TestDoneWritesIndex: the index of a CAR is written when its first store entry becomes
// done (from the staged scan), counted per done entry and deleted with the last.
func TestDoneWritesIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, e *dag.Engine, x *blockindex.Index)
	}{
		{"staged, then done", func(t *testing.T, e *dag.Engine, x *blockindex.Index) {
			c := makeCAR(t, "a", "bb", "ccc")
			x.Stage(c.cid, c.scan)
			wantNotIndexed(t, e, c) // staged is not written
			if !done(t, e, x, c.cid) {
				t.Fatal("Done after Stage: not indexed")
			}
			wantIndexed(t, e, c)
		}},
		{"done with nothing staged, then Build", func(t *testing.T, e *dag.Engine, x *blockindex.Index) {
			c := makeCAR(t, "x", "yy")
			if done(t, e, x, c.cid) {
				t.Fatal("Done without a staged scan reports indexed")
			}
			wantNotIndexed(t, e, c)
			if err := blockindex.Build(context.Background(), e, &memBlobs{data: c.data}, "k", c.cid); err != nil {
				t.Fatal(err)
			}
			wantIndexed(t, e, c)
		}},
		{"a second done entry, then both removed", func(t *testing.T, e *dag.Engine, x *blockindex.Index) {
			c := makeCAR(t, "one", "two")
			x.Stage(c.cid, c.scan)
			done(t, e, x, c.cid)
			if !done(t, e, x, c.cid) {
				t.Fatal("a second done entry: not indexed")
			}
			removed(t, e, c.cid)
			wantIndexed(t, e, c) // one done entry left
			removed(t, e, c.cid)
			wantNotIndexed(t, e, c)
		}},
		{"a block in two CARs, one removed", func(t *testing.T, e *dag.Engine, x *blockindex.Index) {
			c1, c2 := makeCAR(t, "shared", "only in 1"), makeCAR(t, "only in 2", "shared")
			for _, c := range []testCAR{c1, c2} {
				x.Stage(c.cid, c.scan)
				done(t, e, x, c.cid)
			}
			locs, err := blockindex.Locate(context.Background(), e, c1.blocks[0].CID.Hash())
			if err != nil || len(locs) != 2 {
				t.Fatalf("Locate(shared) = %v, %v; want two CARs", locs, err)
			}
			removed(t, e, c1.cid)
			wantNotIndexed(t, e, c1)
			wantIndexed(t, e, c2)
		}},
		{"a repeated block", func(t *testing.T, e *dag.Engine, x *blockindex.Index) {
			c := makeCAR(t, "again", "between", "again")
			x.Stage(c.cid, c.scan)
			done(t, e, x, c.cid)
			wantIndexed(t, e, c)
		}},
		{"a CAR of no blocks", func(t *testing.T, e *dag.Engine, x *blockindex.Index) {
			c := makeCAR(t)
			x.Stage(c.cid, c.scan)
			if !done(t, e, x, c.cid) {
				t.Fatal("an empty CAR's staged scan: not indexed")
			}
			if _, err := blockindex.Blocks(context.Background(), e, c.cid); !errors.Is(err, blockindex.ErrNotIndexed) {
				t.Fatalf("Blocks(empty CAR) = %v, want ErrNotIndexed", err)
			}
		}},
		{"past MaxStaged the oldest scan is dropped", func(t *testing.T, e *dag.Engine, x *blockindex.Index) {
			var cars []testCAR
			for i := range blockindex.MaxStaged + 1 {
				c := makeCAR(t, fmt.Sprintf("car %d", i))
				x.Stage(c.cid, c.scan)
				cars = append(cars, c)
			}
			if done(t, e, x, cars[0].cid) {
				t.Fatal("the oldest of MaxStaged+1 staged scans was kept")
			}
			if !done(t, e, x, cars[1].cid) {
				t.Fatal("the second oldest staged scan was dropped")
			}
			wantIndexed(t, e, cars[1])
		}},
		{"removed more often than done", func(t *testing.T, e *dag.Engine, x *blockindex.Index) {
			c := makeCAR(t, "r")
			removed(t, e, c.cid) // the count does not go below zero
			x.Stage(c.cid, c.scan)
			if !done(t, e, x, c.cid) {
				t.Fatal("not indexed")
			}
			removed(t, e, c.cid)
			wantNotIndexed(t, e, c)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, openEngine(t), blockindex.New())
		})
	}
}

// TestUnknown: what no stored CAR holds is ErrNotIndexed, never another error or an
// empty success.
func TestUnknown(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t)
	held := makeCAR(t, "held")
	x := blockindex.New()
	x.Stage(held.cid, held.scan)
	done(t, e, x, held.cid)
	unknown := makeCAR(t, "never stored")
	longer, err := multihash.Sum([]byte("held"), multihash.SHA2_512, -1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"Locate of a block no CAR holds", func() error {
			_, err := blockindex.Locate(ctx, e, unknown.blocks[0].CID.Hash())
			return err
		}},
		{"Locate of a held block's bytes under another hash", func() error {
			_, err := blockindex.Locate(ctx, e, longer)
			return err
		}},
		{"Locate of a prefix of a held multihash", func() error {
			_, err := blockindex.Locate(ctx, e, held.blocks[0].CID.Hash()[:10])
			return err
		}},
		{"Blocks of a CAR never stored", func() error {
			_, err := blockindex.Blocks(ctx, e, unknown.cid)
			return err
		}},
		{"Sharded with a shard never stored", func() error {
			_, err := blockindex.Sharded(ctx, e, held.blocks[0].CID, []cid.Cid{held.cid, unknown.cid})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, blockindex.ErrNotIndexed) {
				t.Fatalf("%v, want ErrNotIndexed", err)
			}
		})
	}
	// Build of a CAR with no done store entry writes nothing; of bytes that are not a
	// CAR it fails naming the scan's error.
	if err := blockindex.Build(ctx, e, &memBlobs{data: unknown.data}, "k", unknown.cid); err != nil {
		t.Fatalf("Build without a done entry: %v", err)
	}
	wantNotIndexed(t, e, unknown)
	bad := makeCAR(t, "bad")
	done(t, e, x, bad.cid)
	err = blockindex.Build(ctx, e, &memBlobs{data: []byte("not a CAR at all")}, "k", bad.cid)
	if err == nil || !carscan.Invalid(err) {
		t.Fatalf("Build of bytes that are not a CAR: %v, want a carscan error", err)
	}
}

// TestSharded checks the index/sharded/dag@0.1 encoding: a root block
// {"index/sharded/dag@0.1": {content, shards}} linking one BlobIndex per shard, sorted by
// the shard's multihash; a BlobIndex is [shard multihash, [[block multihash, [offset,
// length]]…]] sorted by block multihash, a block repeated in a shard listed once at its
// first place; every block DAG-CBOR under a sha2-256 CIDv1.
func TestSharded(t *testing.T) {
	ctx := context.Background()
	e := openEngine(t)
	x := blockindex.New()
	s1, s2 := makeCAR(t, "root", "leaf 1", "leaf 2", "leaf 1"), makeCAR(t, "leaf 3", "leaf 4")
	for _, c := range []testCAR{s1, s2} {
		x.Stage(c.cid, c.scan)
		done(t, e, x, c.cid)
	}
	root := s1.blocks[0].CID
	blocks, err := blockindex.Sharded(ctx, e, root, []cid.Cid{s1.cid, s2.cid})
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 {
		t.Fatalf("%d blocks, want a root and two BlobIndexes", len(blocks))
	}
	decode := func(b blockindex.ShardBlock) datamodel.Node {
		t.Helper()
		if b.CID.Prefix().Codec != cid.DagCBOR || b.CID.Prefix().MhType != multihash.SHA2_256 || b.CID.Version() != 1 {
			t.Fatalf("block %s: want a DAG-CBOR sha2-256 CIDv1", b.CID)
		}
		if sum, err := b.CID.Prefix().Sum(b.Data); err != nil || !sum.Equals(b.CID) {
			t.Fatalf("block %s does not match its bytes", b.CID)
		}
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagcbor.Decode(nb, bytes.NewReader(b.Data)); err != nil {
			t.Fatalf("block %s: %v", b.CID, err)
		}
		return nb.Build()
	}
	// The root.
	rn := decode(blocks[0])
	if rn.Length() != 1 {
		t.Fatalf("root has %d keys, want 1", rn.Length())
	}
	body, err := rn.LookupByString(blockindex.ShardedVersion)
	if err != nil {
		t.Fatalf("root has no %q: %v", blockindex.ShardedVersion, err)
	}
	content, _ := must(body.LookupByString("content")).AsLink()
	if content.String() != root.String() {
		t.Fatalf("content %s, want %s", content, root)
	}
	shardLinks := must(body.LookupByString("shards"))
	if shardLinks.Length() != 2 {
		t.Fatalf("%d shard links, want 2", shardLinks.Length())
	}
	// The BlobIndexes, in the root's order, sorted by shard multihash.
	byShard := map[string]testCAR{string(s1.cid.Hash()): s1, string(s2.cid.Hash()): s2}
	var prevShard []byte
	for i := range 2 {
		l, _ := must(shardLinks.LookupByIndex(int64(i))).AsLink()
		if l.String() != blocks[i+1].CID.String() {
			t.Fatalf("shard link %d is %s, want block %s", i, l, blocks[i+1].CID)
		}
		bi := decode(blocks[i+1])
		shardMH, _ := must(bi.LookupByIndex(0)).AsBytes()
		c, ok := byShard[string(shardMH)]
		if !ok {
			t.Fatalf("BlobIndex %d names shard %x, not one of the upload's", i, shardMH)
		}
		if bytes.Compare(prevShard, shardMH) >= 0 {
			t.Fatalf("shards not sorted by multihash")
		}
		prevShard = shardMH
		// Expected slices: each distinct block at its first place, sorted by multihash.
		want := map[string][2]int64{}
		for _, b := range c.scan.Blocks {
			if _, seen := want[string(b.Multihash)]; !seen {
				want[string(b.Multihash)] = [2]int64{b.Offset, b.Length}
			}
		}
		slices := must(bi.LookupByIndex(1))
		if int(slices.Length()) != len(want) {
			t.Fatalf("shard %s: %d slices, want %d (distinct blocks)", c.cid, slices.Length(), len(want))
		}
		var prev []byte
		for j := range slices.Length() {
			sl := must(slices.LookupByIndex(j))
			mh, _ := must(sl.LookupByIndex(0)).AsBytes()
			pos := must(sl.LookupByIndex(1))
			off, _ := must(pos.LookupByIndex(0)).AsInt()
			n, _ := must(pos.LookupByIndex(1)).AsInt()
			if w, ok := want[string(mh)]; !ok || w != [2]int64{off, n} {
				t.Fatalf("shard %s slice %x at %d+%d, want %v", c.cid, mh, off, n, w)
			}
			if bytes.Compare(prev, mh) >= 0 {
				t.Fatalf("shard %s: slices not sorted by multihash", c.cid)
			}
			prev = mh
			// The slice names the block's bytes in the shard.
			got := c.data[off : off+n]
			if sum, err := multihash.Sum(got, multihash.SHA2_256, -1); err != nil || !bytes.Equal(sum, mh) {
				t.Fatalf("shard %s: bytes %d+%d are not block %x", c.cid, off, n, mh)
			}
		}
	}
	// The same upload gives the same index, whatever the order of its shards.
	again, err := blockindex.Sharded(ctx, e, root, []cid.Cid{s2.cid, s1.cid})
	if err != nil || !again[0].CID.Equals(blocks[0].CID) {
		t.Fatalf("index with the shards in another order: %v, %v; want root %s", again, err, blocks[0].CID)
	}
}

func must(n datamodel.Node, err error) datamodel.Node {
	if err != nil {
		panic(err)
	}
	return n
}
