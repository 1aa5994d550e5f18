package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/blockindex"
	"github.com/w3dag/w3dag/message"
)

// NewIndex returns the handler of GET /index/{space}/{root}: the index of the space's
// upload of root (its done upload entry's shards) in the index/sharded/dag@0.1 format
// (blockindex.Sharded), as a CAR whose root is the index's root block. It is as public as
// the gateway (it says where the blocks the gateway serves lie), and honours
// Options.Spaces. A missing or removed upload, or a shard not indexed, is 404.
func NewIndex(e Engine, opts Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, _ := strings.CutPrefix(r.URL.Path, "/index/")
		space, rootStr, ok := strings.Cut(rest, "/")
		if !ok || space == "" || strings.Contains(rootStr, "/") {
			http.Error(w, "want /index/{space DID}/{root CID}", http.StatusBadRequest)
			return
		}
		root, err := cid.Decode(rootStr)
		if err != nil {
			http.Error(w, fmt.Sprintf("bad root CID %q: %v", rootStr, err), http.StatusBadRequest)
			return
		}
		if len(opts.Spaces) > 0 && !slices.Contains(opts.Spaces, space) {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		entry, err := e.Entry(r.Context(), dag.Path{Subject: space, Collection: "upload", Key: root.String()})
		if errors.Is(err, dag.ErrNotFound) || errors.Is(err, dag.ErrInvalidPath) || (err == nil && entry.Status != dag.StatusDone) {
			http.Error(w, fmt.Sprintf("%s has no upload %s", space, root), http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, "reading the upload: "+err.Error(), http.StatusInternalServerError)
			return
		}
		var shards []cid.Cid
		if sn, err := entry.State.LookupByString("shards"); err == nil {
			it := sn.ListIterator()
			for it != nil && !it.Done() {
				_, v, err := it.Next()
				if err != nil {
					break
				}
				if l, err := v.AsLink(); err == nil {
					if cl, ok := l.(cidlink.Link); ok {
						shards = append(shards, cl.Cid)
					}
				}
			}
		}
		blocks, err := blockindex.Sharded(r.Context(), e, root, shards)
		if errors.Is(err, blockindex.ErrNotIndexed) {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, "building the index: "+err.Error(), http.StatusInternalServerError)
			return
		}
		mb := make([]message.Block, len(blocks))
		for i, b := range blocks {
			mb[i] = message.Block{CID: b.CID, Data: b.Data}
		}
		car, err := message.EncodeCAR([]cid.Cid{blocks[0].CID}, mb)
		if err != nil {
			http.Error(w, "encoding the index: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.ipld.car; version=1")
		w.Header().Set("Etag", `"`+blocks[0].CID.String()+`"`)
		w.Write(car)
	})
}
