package carscan_test

import (
	"bytes"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"
)

// rawCID is the CIDv1 (raw codec) of data with hash function code.
func rawCID(data []byte, code uint64) cid.Cid {
	mh, err := multihash.Sum(data, code, -1)
	if err != nil {
		panic(err)
	}
	return cid.NewCidV1(cid.Raw, mh)
}

// header is the DAG-CBOR CARv1 header with roots and version.
func header(version int64, roots ...cid.Cid) []byte {
	n, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "roots", qp.List(int64(len(roots)), func(la datamodel.ListAssembler) {
			for _, r := range roots {
				qp.ListEntry(la, qp.Link(cidlink.Link{Cid: r}))
			}
		}))
		qp.MapEntry(ma, "version", qp.Int(version))
	})
	if err != nil {
		panic(err)
	}
	var b bytes.Buffer
	if err := dagcbor.Encode(n, &b); err != nil {
		panic(err)
	}
	return append(varint.ToUvarint(uint64(b.Len())), b.Bytes()...)
}

// section is one CAR section: the length, the CID and data.
func section(c cid.Cid, data []byte) []byte {
	body := append(c.Bytes(), data...)
	return append(varint.ToUvarint(uint64(len(body))), body...)
}

// car is a CARv1 whose single root is the first block's CID, holding blocks as raw blocks.
func car(blocks ...[]byte) []byte {
	var cids []cid.Cid
	for _, b := range blocks {
		cids = append(cids, rawCID(b, multihash.SHA2_256))
	}
	var roots []cid.Cid
	if len(cids) > 0 {
		roots = cids[:1]
	}
	out := header(1, roots...)
	for i, b := range blocks {
		out = append(out, section(cids[i], b)...)
	}
	return out
}
