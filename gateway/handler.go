package gateway

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/path"
	"github.com/ipfs/boxo/path/resolver"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/schema"

	"github.com/w3dag/w3dag/blob"
)

// ContentTypeCAR is the media type of CAR responses (the Trustless Gateway's).
const ContentTypeCAR = "application/vnd.ipld.car"

// New returns the handler of GET|HEAD /ipfs/{cid}[/path…] over the stored CARs: boxo's
// gateway handler with deserialized responses, no DNSLink and no IPNS, over a
// Blockstore (offline: nothing is fetched from elsewhere).
func New(e Engine, blobs blob.Store, opts Options) (http.Handler, error) {
	bs, err := NewBlockstore(e, blobs, opts)
	if err != nil {
		return nil, err
	}
	blocks, err := gateway.NewBlocksBackend(blockservice.New(bs, nil))
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	backend := &fileBackend{BlocksBackend: blocks, bs: bs}
	h := gateway.NewHandler(gateway.Config{
		DeserializedResponses: true,
		NoDNSLink:             true,
		DisableHTMLErrors:     true,
	}, backend)
	return &preCheck{bs: bs, backend: backend, next: h}, nil
}

// preCheck answers 404 before boxo writes anything for what boxo would answer with a
// 200 and a CAR that is not the content asked for:
//
//   - a root CID no stored CAR holds: boxo sends a CAR's header before it reads the
//     root, so an unknown root would be a 200 with a truncated stream;
//   - a CAR request (?format=car, or Accept: application/vnd.ipld.car) for a path
//     below the root that does not resolve (no such name in a directory, a path below
//     a file): boxo answers it 200 with a CAR of the blocks it walked and an empty
//     identity root. The path is resolved first, through the same backend; a path that
//     does not resolve is 404 naming the missing segment.
type preCheck struct {
	bs      *Blockstore
	backend *fileBackend
	next    http.Handler
}

func (pc *preCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/ipfs/")
	if !ok {
		pc.next.ServeHTTP(w, r)
		return
	}
	first, sub, _ := strings.Cut(rest, "/")
	c, err := cid.Decode(first)
	if err != nil {
		pc.next.ServeHTTP(w, r) // boxo answers 400 naming the CID
		return
	}
	has, err := pc.bs.Has(r.Context(), c)
	if err == nil && !has {
		http.Error(w, fmt.Sprintf("%s: not found", c), http.StatusNotFound)
		return
	}
	if strings.Trim(sub, "/") != "" && wantsCAR(r) {
		if err := pc.resolve(r.Context(), rest); notFound(err) {
			http.Error(w, fmt.Sprintf("/ipfs/%s: not found: %v", rest, err), http.StatusNotFound)
			return
		}
	}
	pc.next.ServeHTTP(w, r)
}

// resolve resolves the path /ipfs/rest through the gateway's backend. A path boxo cannot
// parse is left to boxo, which answers it 400.
func (pc *preCheck) resolve(ctx context.Context, rest string) error {
	p, err := path.NewPath("/ipfs/" + rest)
	if err != nil {
		return err
	}
	ip, err := path.NewImmutablePath(p)
	if err != nil {
		return err
	}
	_, err = pc.backend.ResolvePath(ctx, ip)
	return err
}

// wantsCAR reports whether boxo answers r with a CAR. It decides as boxo's
// customResponseFormat does: a known ?format value wins; otherwise the first
// vendor-specific media type across all Accept header lines (application/vnd.ipld…,
// application/vnd.ipfs…, application/x-tar, application/json, application/cbor) decides,
// whatever its q (boxo does not weigh them).
func wantsCAR(r *http.Request) bool {
	if f := r.URL.Query().Get("format"); knownFormats[f] {
		return f == "car"
	}
	for _, header := range r.Header.Values("Accept") {
		for value := range strings.SplitSeq(header, ",") {
			accept := strings.TrimSpace(value)
			if !vendorMediaType(accept) {
				continue
			}
			mt, _, err := mime.ParseMediaType(accept)
			return err == nil && mt == ContentTypeCAR
		}
	}
	return false
}

// knownFormats are the ?format values boxo acts on; it ignores others.
var knownFormats = map[string]bool{
	"raw": true, "car": true, "tar": true, "json": true, "cbor": true,
	"dag-json": true, "dag-cbor": true, "ipns-record": true,
}

// vendorMediaType reports whether boxo picks accept as the response format when it is the
// first such value of the Accept header.
func vendorMediaType(accept string) bool {
	for _, prefix := range []string{"application/vnd.ipld", "application/vnd.ipfs", "application/x-tar", "application/json", "application/cbor"} {
		if strings.HasPrefix(accept, prefix) {
			return true
		}
	}
	return false
}

// notFound reports whether a path resolution error means the path names nothing (the
// errors boxo answers 404 to).
func notFound(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, &resolver.ErrNoLink{}) || errors.Is(err, schema.ErrNoSuchField{}) || ipld.IsNotFound(err) {
		return true
	}
	var wk datamodel.ErrWrongKind
	var ne datamodel.ErrNotExists
	return errors.As(err, &wk) || errors.As(err, &ne)
}
