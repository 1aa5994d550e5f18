package gateway

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/gateway"

	"github.com/w3dag/w3dag/blob"
)

// New returns the handler of GET|HEAD /ipfs/{cid}[/path…] over the stored CARs: boxo's
// gateway handler with deserialized responses, no DNSLink and no IPNS, over a
// Blockstore (offline: nothing is fetched from elsewhere).
func New(e Engine, blobs blob.Store, opts Options) (http.Handler, error) {
	bs, err := NewBlockstore(e, blobs, opts)
	if err != nil {
		return nil, err
	}
	backend, err := gateway.NewBlocksBackend(blockservice.New(bs, nil))
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	h := gateway.NewHandler(gateway.Config{
		DeserializedResponses: true,
		NoDNSLink:             true,
		DisableHTMLErrors:     true,
	}, backend)
	return &rootCheck{bs: bs, next: h}, nil
}

// rootCheck answers 404 for a root CID no stored CAR holds before boxo starts: boxo
// sends a CAR's header before it reads the root, so an unknown root would otherwise be a
// 200 with a truncated stream.
type rootCheck struct {
	bs   *Blockstore
	next http.Handler
}

func (rc *rootCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/ipfs/")
	if ok {
		first, _, _ := strings.Cut(rest, "/")
		if c, err := cid.Decode(first); err == nil {
			has, err := rc.bs.Has(r.Context(), c)
			if err == nil && !has {
				http.Error(w, fmt.Sprintf("%s: not found", c), http.StatusNotFound)
				return
			}
		}
	}
	rc.next.ServeHTTP(w, r)
}
