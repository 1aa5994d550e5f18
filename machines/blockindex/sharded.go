package blockindex

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"
)

// ShardedVersion is the format label of the index Sharded writes.
const ShardedVersion = "index/sharded/dag@0.1"

// ShardBlock is one DAG-CBOR block of a sharded DAG index.
type ShardBlock struct {
	CID  cid.Cid
	Data []byte
}

// Sharded returns the index of the DAG root held in the CAR shards, in the
// index/sharded/dag@0.1 format of the incumbent's clients: the root block is
// {"index/sharded/dag@0.1": {content: root, shards: [link…]}}, and each linked block is a
// BlobIndex [shard multihash, [[block multihash, [offset, length]]…]] with the offset and
// length of the block's bytes in the shard. Shards and slices are sorted by multihash
// bytes. Every block is DAG-CBOR with a sha2-256 CIDv1. The first block returned is the
// root. A shard with no index fails with ErrNotIndexed.
func Sharded(ctx context.Context, v Viewer, root cid.Cid, shards []cid.Cid) ([]ShardBlock, error) {
	var out []ShardBlock
	sorted := append([]cid.Cid(nil), shards...)
	sort.Slice(sorted, func(i, j int) bool { return bytes.Compare(sorted[i].Hash(), sorted[j].Hash()) < 0 })
	for _, s := range sorted {
		bl, err := Blocks(ctx, v, s)
		if err != nil {
			return nil, err
		}
		sort.SliceStable(bl, func(i, j int) bool { return bytes.Compare(bl[i].Multihash, bl[j].Multihash) < 0 })
		n, err := qp.BuildList(basicnode.Prototype.List, 2, func(la datamodel.ListAssembler) {
			qp.ListEntry(la, qp.Bytes(s.Hash()))
			qp.ListEntry(la, qp.List(int64(len(bl)), func(la datamodel.ListAssembler) {
				var last []byte
				for _, b := range bl {
					if bytes.Equal(b.Multihash, last) {
						continue // a block repeated in the shard: its first place
					}
					last = b.Multihash
					qp.ListEntry(la, qp.List(2, func(la datamodel.ListAssembler) {
						qp.ListEntry(la, qp.Bytes(b.Multihash))
						qp.ListEntry(la, qp.List(2, func(la datamodel.ListAssembler) {
							qp.ListEntry(la, qp.Int(b.Offset))
							qp.ListEntry(la, qp.Int(b.Length))
						}))
					}))
				}
			}))
		})
		if err != nil {
			return nil, fmt.Errorf("index of %s: %w", s, err)
		}
		blk, err := cborBlock(n)
		if err != nil {
			return nil, err
		}
		out = append(out, blk)
	}
	rn, err := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, ShardedVersion, qp.Map(2, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "content", qp.Link(cidlink.Link{Cid: root}))
			qp.MapEntry(ma, "shards", qp.List(int64(len(out)), func(la datamodel.ListAssembler) {
				for _, b := range out {
					qp.ListEntry(la, qp.Link(cidlink.Link{Cid: b.CID}))
				}
			}))
		}))
	})
	if err != nil {
		return nil, err
	}
	rb, err := cborBlock(rn)
	if err != nil {
		return nil, err
	}
	return append([]ShardBlock{rb}, out...), nil
}

func cborBlock(n datamodel.Node) (ShardBlock, error) {
	var b bytes.Buffer
	if err := dagcbor.Encode(n, &b); err != nil {
		return ShardBlock{}, err
	}
	mh, err := multihash.Sum(b.Bytes(), multihash.SHA2_256, -1)
	if err != nil {
		return ShardBlock{}, err
	}
	return ShardBlock{CID: cid.NewCidV1(cid.DagCBOR, mh), Data: b.Bytes()}, nil
}
