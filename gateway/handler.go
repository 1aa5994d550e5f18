package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ipfs/boxo/blockservice"
	"github.com/ipfs/boxo/gateway"
	"github.com/ipfs/boxo/path/resolver"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/schema"

	"github.com/w3dag/w3dag/blob"
)

// ContentTypeCAR is the media type of CAR responses (the Trustless Gateway's).
const ContentTypeCAR = "application/vnd.ipld.car"

const (
	// DefaultRetrievalTimeout is Options.RetrievalTimeout when zero (boxo's own default):
	// every block is local, so a response that writes nothing for this long is walking a
	// DAG crafted to give nothing back (nodes linking the same nodes over and over), or
	// writing to a client that does not read.
	DefaultRetrievalTimeout = 30 * time.Second
	// DefaultMaxRequests is Options.MaxRequests when zero (boxo's own default, and the
	// service's DefaultMaxWatchers): a bound on the goroutines, buffers and walks that
	// requests hold at once.
	DefaultMaxRequests = 4096
)

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
		RetrievalTimeout:      orDefault(opts.RetrievalTimeout, DefaultRetrievalTimeout),
		MaxConcurrentRequests: orDefault(opts.MaxRequests, DefaultMaxRequests),
	}, backend)
	return &preCheck{bs: bs, next: h}, nil
}

// orDefault is an option's value: def for zero, none (boxo's zero) for negative.
func orDefault[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// preCheck answers 404 before boxo writes anything for a root CID no stored CAR holds:
// boxo sends a CAR's header before it reads the root, so an unknown root would be a 200
// with a truncated stream. (A CAR of a path below the root that does not resolve is
// fileBackend.GetCAR's 404.)
type preCheck struct {
	bs   *Blockstore
	next http.Handler
}

func (pc *preCheck) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/ipfs/")
	if !ok {
		pc.next.ServeHTTP(w, r)
		return
	}
	first, _, _ := strings.Cut(rest, "/")
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
	p := new(progress)
	pc.next.ServeHTTP(&progressWriter{ResponseWriter: w, p: p}, r.WithContext(context.WithValue(r.Context(), progressKey{}, p)))
}

// progressWriter is a response's writer that starts its request's count of blocks read
// again at every byte written (Blockstore.Get counts them).
type progressWriter struct {
	http.ResponseWriter
	p *progress
}

func (pw *progressWriter) Write(b []byte) (int, error) {
	if len(b) > 0 {
		pw.p.reads.Store(0)
	}
	return pw.ResponseWriter.Write(b)
}

// Flush flushes the response when the writer below can (boxo's writers look for it).
func (pw *progressWriter) Flush() {
	if f, ok := pw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands over the connection when the writer below can (boxo's retrieval timeout
// resets the connection of a response it cuts).
func (pw *progressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := pw.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	return h.Hijack()
}

// Unwrap gives http.ResponseController the writer below.
func (pw *progressWriter) Unwrap() http.ResponseWriter { return pw.ResponseWriter }

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
