package main

// store.go: `w3dag store FILE.car`.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/machines/store"
)

const (
	// progressInterval is how often the progress line on stderr is redrawn.
	progressInterval = 200 * time.Millisecond
	// hashBufferSize is the read buffer of the CID computation.
	hashBufferSize = 1 << 20
	// storeStatusDone is the status a stored CAR ends in.
	storeStatusDone = store.StatusDone
)

// runStore implements `w3dag store FILE.car [--space DID] [--json] [--progress]`: compute
// the CAR's CID and size while reading it once, put the store entry, PUT the bytes to the
// upload URL the service returns (streamed from the file), and put the same value again
// to confirm. It prints the CID and the final status; the exit code is 1 unless the entry
// ends done.
func runStore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, cf := newFlags("store", "usage: w3dag store FILE.car [--space DID] [--json] [--progress]", stderr)
	space := fs.String("space", "", "space DID to store in (default: the current space)")
	showProgress := fs.Bool("progress", false, "show progress on stderr even when it is not a terminal")
	pos, code, ok := parseArgs(fs, args, 1, 1)
	if !ok {
		return code
	}
	e, err := openEnv(cf, stdout, stderr)
	if err != nil {
		return fail(stderr, "store", err)
	}
	sp, err := e.space(*space)
	if err != nil {
		return fail(stderr, "store", err)
	}
	c, err := e.client(ctx)
	if err != nil {
		return fail(stderr, "store", err)
	}
	var prog io.Writer
	if *showProgress || isTerminal(stderr) {
		prog = stderr
	}
	res, err := storeCAR(ctx, c, http.DefaultClient, sp, pos[0], prog)
	if err != nil {
		var re *client.ReceiptError
		if errors.As(err, &re) && cf.json && re.Receipt != nil {
			printReceipt(stdout, re.Receipt, true)
		}
		return fail(stderr, "store", err)
	}
	if cf.json {
		out, _ := json.Marshal(map[string]any{
			"cid": res.CID.String(), "size": res.Size, "path": res.Path,
			"status": res.Receipt.Status(), "receipt": res.Receipt.CID.String(),
		})
		fmt.Fprintln(stdout, string(out))
	} else {
		fmt.Fprintf(stdout, "%s %s\n", res.CID, res.Receipt.Status())
	}
	if st := res.Receipt.Status(); st != storeStatusDone {
		return fail(stderr, "store", fmt.Errorf("%s ended %s, not done", res.Path, st))
	}
	return 0
}

// storeResult is what storeCAR did.
type storeResult struct {
	CID  cid.Cid
	Size int64
	Path string
	// Uploaded is true when the bytes were sent (false: the service held them already).
	Uploaded bool
	// Receipt is the entry's last receipt.
	Receipt *client.Receipt
}

// storeCAR stores the CAR file at name in space: CID, put, upload, confirming put.
// Progress lines go to prog when it is not nil.
func storeCAR(ctx context.Context, c *client.Client, hc *http.Client, space, name string, prog io.Writer) (*storeResult, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	size := info.Size()
	link, n, err := carCID(io.NewSectionReader(f, 0, size), newProgress(prog, "hashing  ", size))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if n != size {
		return nil, fmt.Errorf("%s changed while it was read (%d bytes, then %d)", name, size, n)
	}
	send := func(ctx context.Context, req blob.Request) error {
		return uploadFile(ctx, hc, req, f, size, newProgress(prog, "uploading", size))
	}
	return storeSend(ctx, c, space, send, link, size)
}

// storeSend stores the CAR link of size bytes in space: put, upload with send (only when
// the service does not hold the bytes yet), confirming put.
func storeSend(ctx context.Context, c *client.Client, space string, send func(context.Context, blob.Request) error, link cid.Cid, size int64) (*storeResult, error) {
	res := &storeResult{CID: link, Size: size, Path: "/" + space + "/store/" + link.String()}
	value, err := storeValue(link, size)
	if err != nil {
		return nil, err
	}
	r, err := c.Put(ctx, res.Path, value)
	if err != nil {
		return nil, fmt.Errorf("put %s: %w", res.Path, err)
	}
	if r.Status() == store.StatusExpired {
		// An earlier upload of this CAR ran out of time: this put ended it; start again.
		if r, err = c.Put(ctx, res.Path, value); err != nil {
			return nil, fmt.Errorf("put %s: %w", res.Path, err)
		}
	}
	if r.Status() == store.StatusPending {
		req, err := uploadRequest(r.State())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", res.Path, err)
		}
		if err := send(ctx, req); err != nil {
			return nil, fmt.Errorf("uploading %s: %w", link, err)
		}
		res.Uploaded = true
		if r, err = c.Put(ctx, res.Path, value); err != nil {
			return nil, fmt.Errorf("confirming %s: %w", res.Path, err)
		}
	}
	res.Receipt = r
	return res, nil
}

// carCID reads r to its end and returns its CAR CID (CIDv1, codec 0x0202, sha2-256) and
// length, reporting progress to p.
func carCID(r io.Reader, p *progress) (cid.Cid, int64, error) {
	h := sha256.New()
	buf := make([]byte, hashBufferSize)
	// The bytes must be a CAR (the service refuses others): scanned as they are hashed.
	n, err := io.CopyBuffer(h, carscan.NewReader(&progressReader{r: r, p: p}), buf)
	if err != nil {
		return cid.Undef, n, err
	}
	p.finish()
	mh, err := multihash.Encode(h.Sum(nil), multihash.SHA2_256)
	if err != nil {
		return cid.Undef, n, err
	}
	return cid.NewCidV1(collection.CodecCAR, mh), n, nil
}

// storeValue is the StoreInput {link, size}.
func storeValue(link cid.Cid, size int64) (datamodel.Node, error) {
	return qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "link", qp.Link(cidlink.Link{Cid: link}))
		qp.MapEntry(ma, "size", qp.Int(size))
	})
}

// uploadRequest reads the upload of a pending state {url, headers, expires}.
func uploadRequest(state datamodel.Node) (blob.Request, error) {
	var req blob.Request
	if state == nil {
		return req, errors.New("pending entry without a state")
	}
	un, err := state.LookupByString("url")
	if err != nil {
		return req, errors.New("pending entry without an upload url")
	}
	if req.URL, err = un.AsString(); err != nil {
		return req, errors.New("upload url is not a string")
	}
	req.Method = http.MethodPut
	req.Headers = map[string]string{}
	if hn, err := state.LookupByString("headers"); err == nil {
		it := hn.MapIterator()
		for it != nil && !it.Done() {
			k, v, err := it.Next()
			if err != nil {
				return req, fmt.Errorf("upload headers: %w", err)
			}
			ks, err1 := k.AsString()
			vs, err2 := v.AsString()
			if err1 != nil || err2 != nil {
				return req, errors.New("upload headers are not strings")
			}
			req.Headers[ks] = vs
		}
	}
	if en, err := state.LookupByString("expires"); err == nil {
		if ms, err := en.AsInt(); err == nil {
			req.Expires = time.UnixMilli(ms)
		}
	}
	return req, nil
}

// uploadFile performs the presigned upload of the first size bytes of f. Without progress
// the file itself is the body, so net/http can send it with sendfile (no copies through
// user space); with progress it is read through a counter.
func uploadFile(ctx context.Context, hc *http.Client, req blob.Request, f *os.File, size int64, p *progress) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var body io.Reader = fileBody{f}
	if p != nil {
		body = &progressReader{r: io.LimitReader(f, size), p: p}
	}
	if err := putBytes(ctx, hc, req, body); err != nil {
		return err
	}
	p.finish()
	return nil
}

// fileBody is an upload body that net/http sends with sendfile: the *os.File itself (its
// SyscallConn reaches the transport), but not closed by it, so uploadFile can seek back
// and retry. io.NopCloser(f) would hide the file (net/http unwraps a NopCloser only as the
// request body itself, not inside the transport's own wrapper) and copy every byte through
// user space, which on two cores shared with a local server costs up to a fifth of the
// upload's throughput.
type fileBody struct{ *os.File }

func (fileBody) Close() error { return nil }

// putBytes performs the presigned upload with body.
func putBytes(ctx context.Context, hc *http.Client, req blob.Request, body io.Reader) error {
	hr, err := req.NewHTTPRequest(ctx, body)
	if err != nil {
		return err
	}
	resp, err := hc.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return client.ErrorFromResponse(resp)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, client.MaxErrorBodySize))
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// progress draws "label  done/total MiB  pct%  rate MiB/s" on one line of w, at most
// every progressInterval. A nil *progress draws nothing.
type progress struct {
	w          io.Writer
	label      string
	total      int64
	done       int64
	start      time.Time
	last       time.Time
	drawnFinal bool
}

func newProgress(w io.Writer, label string, total int64) *progress {
	if w == nil {
		return nil
	}
	now := time.Now()
	return &progress{w: w, label: label, total: total, start: now, last: now}
}

func (p *progress) add(n int) {
	if p == nil {
		return
	}
	p.done += int64(n)
	if now := time.Now(); now.Sub(p.last) >= progressInterval {
		p.last = now
		p.draw(now)
	}
}

func (p *progress) draw(now time.Time) {
	const mib = 1 << 20
	secs := now.Sub(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.done) / mib / secs
	}
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(p.done) / float64(p.total)
	}
	fmt.Fprintf(p.w, "\r%s %8.1f/%.1f MiB %5.1f%% %8.1f MiB/s", p.label, float64(p.done)/mib, float64(p.total)/mib, pct, rate)
}

// finish draws the final line and ends it.
func (p *progress) finish() {
	if p == nil || p.drawnFinal {
		return
	}
	p.drawnFinal = true
	p.draw(time.Now())
	fmt.Fprintln(p.w)
}

// progressReader counts what is read through it.
type progressReader struct {
	r io.Reader
	p *progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(n)
	return n, err
}
