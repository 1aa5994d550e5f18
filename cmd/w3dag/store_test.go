package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/multiformats/go-varint"

	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/carscan"
	"github.com/w3dag/w3dag/client"
	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/carwhere"
	"github.com/w3dag/w3dag/machines/piece"
	"github.com/w3dag/w3dag/machines/store"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ops"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/server"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

// httpService is the service composed like serve does it (store and carwhere machines,
// blob endpoint, claims) behind an httptest server, over kv/mem and blob/fs.
type httpService struct {
	url     string
	service did.Signer
	engine  *dag.Engine
	fs      *blobfs.Store
}

func newHTTPService(t testing.TB, tune ...func(*store.Options)) *httpService {
	t.Helper()
	return newHTTPServiceConfig(t, nil, tune...)
}

// newHTTPServiceConfig is newHTTPService with configure, if not nil, changing the serve
// configuration (defaults as the flags') before the machines are built.
func newHTTPServiceConfig(t testing.TB, configure func(*serveConfig), tune ...func(*store.Options)) *httpService {
	t.Helper()
	ctx := context.Background()
	signer, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + ts.Listener.Addr().String()
	data := t.TempDir()
	fsStore, err := blobfs.Open(filepath.Join(data, blobsDir), blobfs.Options{
		Secret: bytes.Repeat([]byte{1}, blobfs.MinSecretLength),
		URL:    func(key string) string { return publicURL + "/blob/" + blobCID(key) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fsStore.Close() })
	log := slog.New(slog.DiscardHandler)
	cfg := serveConfig{data: data, blob: "fs", aggMin: aggregate.DefaultMin, aggMax: aggregate.DefaultMax}
	if configure != nil {
		configure(&cfg)
	}
	index, pieces := uploadStages(cfg) // as serve wires them
	tune = append(tune, func(o *store.Options) { o.Index, o.Pieces = index, pieces })
	sm, agg, cols, err := collections(cfg, publicURL, fsStore, log, tune...)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := dag.Open(ctx, dag.Options{KV: mem.New(), Signer: signer, Schema: schema.MustLoad(), Collections: cols})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.Close() })
	inflight := &store.InFlight{} // as serve
	stop := runTasks(ctx, engine, sm, agg, fsStore, nil, 0, inflight, log)
	t.Cleanup(stop)
	endpoint, err := newBlobEndpoint(engine, fsStore, signer, cfg.claimTTL, log, index, pieces, inflight)
	if err != nil {
		t.Fatal(err)
	}
	runner, err := ops.New(ops.Options{Engine: engine, Signer: signer, Validator: ucan.NewValidator(ucan.ValidatorOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{
		Service: signer, PublicURL: publicURL, Runner: runner, Store: engine,
		Archive: nopArchive{}, Blobs: endpoint, Claims: endpoint,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = srv
	ts.Start()
	t.Cleanup(ts.Close)
	return &httpService{url: publicURL, service: signer, engine: engine, fs: fsStore}
}

// nopArchive stands in for the archive (not under test here).
type nopArchive struct{}

func (nopArchive) Put(_ context.Context, codec uint64, data []byte) (cid.Cid, error) {
	mh := sha256.Sum256(data)
	return cid.NewCidV1(codec, append([]byte{0x12, 0x20}, mh[:]...)), nil
}

func (a nopArchive) PutRefusal(ctx context.Context, codec uint64, data []byte, _ int, _ string, _ []string) (cid.Cid, error) {
	return a.Put(ctx, codec, data)
}

// Stage declines: messages are "put" before running, as without an outbox.
func (nopArchive) Stage(uint64, []byte) (cid.Cid, func(kv.Tx) error, func(), bool) {
	return cid.Undef, nil, nil, false
}

// agentClient is a client whose agent is its own space.
func agentClient(t testing.TB, url, service string) (*client.Client, string) {
	t.Helper()
	agent, err := did.GenerateEd25519()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(client.Options{URL: url, Signer: agent, ServiceDID: service})
	if err != nil {
		t.Fatal(err)
	}
	return c, agent.DID()
}

func carOf(data []byte) cid.Cid {
	sum := sha256.Sum256(data)
	return cid.NewCidV1(collection.CodecCAR, append([]byte{0x12, 0x20}, sum[:]...))
}

func httpDo(t testing.TB, method, u string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestStoreHTTP runs put → upload → done through the HTTP server: the upload endpoint's
// refusals, the blob read with ranges, and the location claims.
func TestStoreHTTP(t *testing.T) {
	ctx := context.Background()
	svc := newHTTPService(t)
	c, space := agentClient(t, svc.url, svc.service.DID())
	data := make([]byte, 300<<10)
	fillCAR(t, data)
	link := carOf(data)
	path := "/" + space + "/store/" + link.String()
	value, err := storeValue(link, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Put(ctx, path, value)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status() != store.StatusPending {
		t.Fatalf("put: status %q", r.Status())
	}
	req, err := uploadRequest(r.State())
	if err != nil {
		t.Fatal(err)
	}
	status := func() string {
		t.Helper()
		g, err := c.Get(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		return g.Status()
	}

	// Refusals: the entry stays pending and nothing is stored.
	wrong := append([]byte(nil), data...)
	wrong[0] ^= 1
	u, _ := url.Parse(req.URL)
	forged := *u
	q := u.Query()
	q.Set(blobfs.ParamSize, strconv.Itoa(len(data)-1))
	forged.RawQuery = q.Encode()
	raw := cid.NewCidV1(cid.Raw, link.Hash())
	for _, tc := range []struct {
		name   string
		url    string
		body   []byte
		status int
	}{
		{"wrong bytes", req.URL, wrong, http.StatusBadRequest},
		{"Content-Length other than the signed size", req.URL, data[:len(data)-1], http.StatusBadRequest},
		{"tampered size", forged.String(), data[:len(data)-1], http.StatusForbidden},
		{"no signature", svc.url + "/blob/" + link.String(), data, http.StatusForbidden},
		{"not a CAR CID", svc.url + "/blob/" + raw.String() + "?" + u.RawQuery, data, http.StatusBadRequest},
	} {
		resp, body := httpDo(t, http.MethodPut, tc.url, tc.body, nil)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: HTTP %d %s, want %d", tc.name, resp.StatusCode, body, tc.status)
		}
	}
	if st := status(); st != store.StatusPending {
		t.Fatalf("after refused uploads: %s", st)
	}
	if resp, _ := httpDo(t, http.MethodGet, svc.url+"/blob/"+link.String(), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET before upload: %d", resp.StatusCode)
	}

	// The upload with the returned headers.
	if err := putBytes(ctx, http.DefaultClient, req, bytes.NewReader(data)); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if st := status(); st != store.StatusDone {
		t.Fatalf("after upload: %s", st)
	}
	again, err := c.Put(ctx, path, value)
	if err != nil || again.Status() != store.StatusDone {
		t.Fatalf("confirming put: %v %q", err, again.Status())
	}

	// Reads, whole and ranged.
	resp, body := httpDo(t, http.MethodGet, svc.url+"/blob/"+link.String(), nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = httpDo(t, http.MethodGet, svc.url+"/blob/"+link.String(), nil, map[string]string{"Range": "bytes=100-199"})
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[100:200]) {
		t.Fatalf("ranged GET: %d, %d bytes", resp.StatusCode, len(body))
	}

	// Location claims, signed by the service, pointing at the blob URL.
	resp, body = httpDo(t, http.MethodGet, svc.url+"/claims/"+link.String(), nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("claims: %d %s", resp.StatusCode, body)
	}
	claims := decodeClaims(t, body)
	if len(claims) != 1 {
		t.Fatalf("%d claims", len(claims))
	}
	cl, err := carwhere.VerifyClaim(claims[0], svc.service.DID(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !cl.Content.Equals(link) || cl.Location[0] != svc.url+"/blob/"+link.String() || cl.Size != int64(len(data)) {
		t.Fatalf("claim %+v", cl)
	}
	if d := time.Until(cl.Expires); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("claim expires in %s, want about 1h", d)
	}
	if resp, _ := httpDo(t, http.MethodGet, svc.url+"/claims/"+carOf([]byte("nothing")).String(), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("claims of an unknown CAR: %d", resp.StatusCode)
	}
	if resp, _ := httpDo(t, http.MethodGet, svc.url+"/claims/"+raw.String(), nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("claims of a raw CID: %d", resp.StatusCode)
	}

	// Another space storing the same CAR is done at once, without an upload.
	c2, space2 := agentClient(t, svc.url, svc.service.DID())
	r2, err := c2.Put(ctx, "/"+space2+"/store/"+link.String(), value)
	if err != nil || r2.Status() != store.StatusDone {
		t.Fatalf("second space: %v %q", err, r2.Status())
	}
}

// decodeClaims reads the claim tokens of a GET /claims CAR (its roots).
func decodeClaims(t testing.TB, body []byte) []*ucan.Token {
	t.Helper()
	br, err := carv2.NewBlockReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var out []*ucan.Token
	for {
		b, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ucan.Decode(b.RawData())
		if err != nil {
			t.Fatal(err)
		}
		if !tok.CID.Equals(b.Cid()) {
			t.Fatalf("block %s holds token %s", b.Cid(), tok.CID)
		}
		out = append(out, tok)
	}
	if len(out) != len(br.Roots) {
		t.Fatalf("%d roots, %d blocks", len(br.Roots), len(out))
	}
	return out
}

// TestStoreCommand runs `w3dag store` against the service composed by serve.
func TestStoreCommand(t *testing.T) {
	url := startServer(t)
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	t.Setenv("W3DAG_URL", url)
	out, stderr, code := cli(t, "space", "new")
	if code != 0 {
		t.Fatalf("space new: %d %s", code, stderr)
	}
	space := strings.TrimSpace(out)
	file := filepath.Join(t.TempDir(), "a.car")
	data := make([]byte, 2<<20+123)
	fillCAR(t, data)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	link := carOf(data)

	var so, se bytes.Buffer
	if code := runStore(context.Background(), []string{file, "--json", "--progress"}, &so, &se); code != 0 {
		t.Fatalf("store: exit %d: %s", code, se.String())
	}
	var got struct {
		CID, Path, Status, Receipt string
		Size                       int64
	}
	if err := json.Unmarshal(so.Bytes(), &got); err != nil {
		t.Fatalf("--json output %q: %v", so.String(), err)
	}
	if got.CID != link.String() || got.Size != int64(len(data)) || got.Status != "done" || got.Path != "/"+space+"/store/"+link.String() {
		t.Fatalf("store printed %+v", got)
	}
	if !strings.Contains(se.String(), "uploading") || !strings.Contains(se.String(), "MiB/s") {
		t.Errorf("--progress drew nothing: %q", se.String())
	}
	// The entry is done, and the bytes are served.
	gout, gerr, code := cli(t, "get", "store/"+link.String(), "--json")
	if code != 0 || !strings.Contains(gout, `"status":"done"`) {
		t.Fatalf("get: %d %s %s", code, gout, gerr)
	}
	resp, body := httpDo(t, http.MethodGet, url+"/blob/"+link.String(), nil, nil)
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("GET blob: %d, %d bytes", resp.StatusCode, len(body))
	}
	// The service-wide counters are on /metrics.
	resp, body = httpDo(t, http.MethodGet, url+"/metrics", nil, nil)
	if resp.StatusCode != 200 || promValue(string(body), "w3dag_store_add_total") != 1 || promValue(string(body), "w3dag_store_add_size_total") != float64(len(data)) {
		t.Fatalf("/metrics: %d\n%s", resp.StatusCode, body)
	}
	// Storing again: text output, no progress when stderr is not a terminal.
	so.Reset()
	se.Reset()
	if code := runStore(context.Background(), []string{file}, &so, &se); code != 0 {
		t.Fatalf("store again: exit %d: %s", code, se.String())
	}
	if want := link.String() + " done\n"; so.String() != want || se.Len() != 0 {
		t.Fatalf("store again printed %q (stderr %q), want %q", so.String(), se.String(), want)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "usage"},
		{[]string{filepath.Join(t.TempDir(), "missing.car")}, 1, "no such file"},
		{[]string{t.TempDir()}, 1, "not a regular file"},
		{[]string{file, "--space", "not-a-did"}, 1, "--space"},
	} {
		var so, se bytes.Buffer
		if code := runStore(context.Background(), tc.args, &so, &se); code != tc.code || !strings.Contains(se.String(), tc.want) {
			t.Errorf("store %q: exit %d, %q; want %d mentioning %q", tc.args, code, se.String(), tc.code, tc.want)
		}
	}
}

// promValue is the value of an unlabelled metric in a Prometheus text exposition, -1 if
// absent.
func promValue(body, name string) float64 {
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// TestStoreAfterExpiry stores a CAR whose earlier upload ran out of time: the first put
// ends the old entry (expired) and storeCAR starts it again, uploads and ends done.
func TestStoreAfterExpiry(t *testing.T) {
	ctx := context.Background()
	svc := newHTTPService(t, func(o *store.Options) { o.UploadURLTTL = time.Second })
	c, space := agentClient(t, svc.url, svc.service.DID())
	data := make([]byte, 400)
	fillCAR(t, data)
	file := filepath.Join(t.TempDir(), "late.car")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	link := carOf(data)
	value, _ := storeValue(link, int64(len(data)))
	r, err := c.Put(ctx, "/"+space+"/store/"+link.String(), value)
	if err != nil || r.Status() != store.StatusPending {
		t.Fatalf("first put: %v %q", err, r.Status())
	}
	time.Sleep(1100 * time.Millisecond)
	res, err := storeCAR(ctx, c, http.DefaultClient, space, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Uploaded || res.Receipt.Status() != store.StatusDone {
		t.Fatalf("uploaded %v, status %q", res.Uploaded, res.Receipt.Status())
	}
	chain, err := c.Chain(ctx, res.Receipt.Head())
	if err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, rc := range chain {
		statuses = append(statuses, rc.Status())
	}
	if got := strings.Join(statuses, " "); got != "done pending expired pending" {
		t.Fatalf("chain (newest first) %q", got)
	}
}

func TestCarCID(t *testing.T) {
	data := make([]byte, 500)
	fillCAR(t, data)
	c, n, err := carCID(bytes.NewReader(data), nil)
	if err != nil || n != int64(len(data)) || !c.Equals(carOf(data)) {
		t.Fatalf("carCID = %s %d %v, want %s", c, n, err, carOf(data))
	}
	if c.Type() != 0x0202 {
		t.Fatalf("codec 0x%x", c.Type())
	}
	// store checks before sending: not a CAR, a truncated CAR.
	for _, bad := range [][]byte{[]byte("some bytes, not a CAR"), data[:len(data)-1]} {
		if _, _, err := carCID(bytes.NewReader(bad), nil); !carscan.Invalid(err) {
			t.Errorf("carCID of %d bad bytes: %v", len(bad), err)
		}
	}
}

// TestStoreLarge uploads a 1 GiB CAR through `w3dag store` to a `w3dag serve` child
// process and checks that the server's peak RSS (VmHWM) stays under 100 MiB. Opt-in:
// W3DAG_TEST_LARGE=1 (it writes 2 GiB to the temporary folder).
func TestStoreLarge(t *testing.T) {
	if os.Getenv("W3DAG_TEST_LARGE") != "1" {
		t.Skip("set W3DAG_TEST_LARGE=1 to upload a 1 GiB CAR and measure the server's RSS")
	}
	const size = 1 << 30
	const maxRSS = 100 << 20
	bin := buildW3dag(t)
	data := t.TempDir()
	srv := startServe(t, bin, data, "")
	t.Setenv("W3DAG_CONFIG", t.TempDir())
	t.Setenv("W3DAG_URL", srv.url)
	if _, stderr, code := cli(t, "space", "new"); code != 0 {
		t.Fatalf("space new: %s", stderr)
	}
	file := filepath.Join(t.TempDir(), "big.car")
	writePattern(t, file, size)
	start := time.Now()
	var so, se bytes.Buffer
	if code := runStore(context.Background(), []string{file}, &so, &se); code != 0 {
		t.Fatalf("store: exit %d: %s", code, se.String())
	}
	took := time.Since(start)
	hwm, err := vmHWM(srv.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stored %d MiB in %s (%.1f MiB/s hashing + upload + verification); server VmHWM %.1f MiB", size>>20, took.Round(time.Millisecond), float64(size)/(1<<20)/took.Seconds(), float64(hwm)/(1<<20))
	if !strings.HasSuffix(so.String(), " done\n") {
		t.Fatalf("store printed %q", so.String())
	}
	if hwm >= maxRSS {
		t.Fatalf("server peak RSS %d bytes, limit %d", hwm, maxRSS)
	}
}

// writePattern writes size bytes of a non-repeating pattern to file without holding them
// in memory.
func writePattern(t testing.TB, file string, size int64) {
	t.Helper()
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, benchCAR(0, size)); err != nil { // a CAR: the service stores only CARs
		t.Fatal(err)
	}
}

// vmHWM reads the peak resident set size of process pid from /proc, in bytes.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(v)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmHWM line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// benchSize is the CAR size of BenchmarkUpload and BenchmarkSHA256: 1 GiB, or
// W3DAG_BENCH_SIZE bytes (e.g. 67108864 for a quick run).
func benchSize(b *testing.B) int64 {
	b.Helper()
	size := int64(1 << 30)
	if v := os.Getenv("W3DAG_BENCH_SIZE"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			b.Fatalf("W3DAG_BENCH_SIZE=%q is not a positive size", v)
		}
		size = n
	}
	return size
}

// benchChunk is the repeated content of benchmark CARs; each CAR starts with its own
// 8-byte seed so every iteration uploads a new CID.
var benchChunk = func() []byte {
	b := make([]byte, 1<<20)
	rand.Read(b)
	return b
}()

// benchCAR is a reader of a CARv1 of size bytes (at least 2 MiB): raw blocks of 1 MiB,
// the first starting with the seed, the rest benchChunk (the last cut to fit).
func benchCAR(seed uint64, size int64) io.Reader {
	first := bytes.Clone(benchChunk)
	for i := range 8 {
		first[i] = byte(seed >> (8 * i))
	}
	b0 := message.NewBlock(message.CodecRaw, first)
	header, err := message.EncodeCAR([]cid.Cid{b0.CID}, nil)
	if err != nil {
		panic(err)
	}
	section := func(b message.Block) []byte {
		c := b.CID.Bytes()
		return append(varint.ToUvarint(uint64(len(c)+len(b.Data))), c...)
	}
	mid := message.NewBlock(message.CodecRaw, benchChunk)
	parts := []io.Reader{bytes.NewReader(header), bytes.NewReader(section(b0)), bytes.NewReader(first)}
	full := int64(len(section(mid)) + len(benchChunk))
	rest := size - int64(len(header)) - full
	for rest >= 2*full {
		parts = append(parts, bytes.NewReader(section(mid)), bytes.NewReader(benchChunk))
		rest -= full
	}
	// The tail: one block of what is left (between one and two chunks' worth).
	for vlen := int64(1); vlen <= 4; vlen++ {
		l := rest - vlen
		if int64(len(varint.ToUvarint(uint64(l)))) != vlen {
			continue
		}
		data := make([]byte, l-int64(len(mid.CID.Bytes())))
		for i := range data {
			data[i] = benchChunk[i%len(benchChunk)]
		}
		tail := message.NewBlock(message.CodecRaw, data)
		parts = append(parts, bytes.NewReader(section(tail)), bytes.NewReader(data))
		break
	}
	return io.MultiReader(parts...)
}

// BenchmarkUpload measures PUT /blob/{cid} through the HTTP server into blob/fs: the
// transfer, the server's size and sha2-256 verification while streaming to a temporary
// file, fsync, rename and the delivery transition to done. The client sends the CAR from
// a file with sendfile (see fileBody), so the server's work dominates; each
// iteration uploads to a fresh service (set up with the timer stopped). It also reports
// cpu-s/GiB, the process's CPU time (client and service) during the timed uploads per
// GiB: at c of them, two cores cannot upload faster than 2/c GiB/s. Compare with
// BenchmarkSHA256 of the same run:
//
//	W3DAG_BENCH_SIZE=1073741824 go test -run '^$' -bench 'Upload|SHA256' -benchtime 3x ./cmd/w3dag
func BenchmarkUpload(b *testing.B) {
	ctx := context.Background()
	size := benchSize(b)
	file := filepath.Join(b.TempDir(), "bench.car")
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, benchCAR(0, size)); err != nil {
		b.Fatal(err)
	}
	link, _, err := carCID(benchCAR(0, size), nil)
	if err != nil {
		b.Fatal(err)
	}
	value, _ := storeValue(link, size)
	b.SetBytes(size)
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		svc := newHTTPService(b)
		c, space := agentClient(b, svc.url, svc.service.DID())
		path := "/" + space + "/store/" + link.String()
		r, err := c.Put(ctx, path, value)
		if err != nil || r.Status() != store.StatusPending {
			b.Fatalf("put: %v %q", err, r.Status())
		}
		req, err := uploadRequest(r.State())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			b.Fatal(err)
		}
		cpu0 := cpuTime(b)
		b.StartTimer()
		if err := putBytes(ctx, http.DefaultClient, req, fileBody{f}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += cpuTime(b) - cpu0
		if g, err := c.Get(ctx, path); err != nil || g.Status() != store.StatusDone {
			b.Fatalf("after upload: %v %q", err, g.Status())
		}
		// The CAR's piece is computed in the background (a task of the piece machine):
		// wait for it, untimed, so it does not take the CPU from the next upload.
		waitPiece(b, svc, link)
		b.StartTimer()
	}
	b.ReportMetric(cpu.Seconds()/(float64(b.N)*float64(size)/(1<<30)), "cpu-s/GiB")
}

// waitPiece waits until the piece of the CAR link is computed in svc.
func waitPiece(t testing.TB, svc *httpService, link cid.Cid) {
	t.Helper()
	p := piece.Path(svc.service.DID(), link)
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(20 * time.Millisecond) {
		e, err := svc.engine.Entry(context.Background(), p)
		if err == nil && e.Status == piece.StatusComputed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("piece of %s not computed after 5 minutes: %v", link, err)
		}
	}
}

// BenchmarkSHA256 measures this machine's single-core sha2-256 over the same bytes, read
// in the fs backend's buffer size: the ceiling BenchmarkUpload is compared with.
func BenchmarkSHA256(b *testing.B) {
	size := benchSize(b)
	buf := make([]byte, blobfs.CopyBufferSize)
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h := sha256.New()
		if _, err := io.CopyBuffer(h, benchCAR(uint64(i), size), buf); err != nil {
			b.Fatal(err)
		}
		h.Sum(nil)
	}
}

// fillCAR fills data with a CAR of exactly len(data) bytes (at least 100): one raw block
// of random bytes, the root. The service stores only CARs.
func fillCAR(t testing.TB, data []byte) {
	t.Helper()
	blk := message.NewBlock(message.CodecRaw, []byte{0})
	withRoot, err := message.EncodeCAR([]cid.Cid{blk.CID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := len(withRoot)
	cidLen := len(blk.CID.Bytes())
	for vlen := 1; vlen <= 4; vlen++ {
		l := len(data) - h - vlen
		if l <= cidLen || len(varint.ToUvarint(uint64(l))) != vlen {
			continue
		}
		payload := make([]byte, l-cidLen)
		rand.Read(payload)
		b := message.NewBlock(message.CodecRaw, payload)
		out, err := message.EncodeCAR([]cid.Cid{b.CID}, []message.Block{b})
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(data) {
			t.Fatalf("fillCAR: %d bytes, want %d", len(out), len(data))
		}
		copy(data, out)
		return
	}
	t.Fatalf("fillCAR: no CAR of %d bytes", len(data))
}

func TestBenchCAR(t *testing.T) {
	for _, size := range []int64{2 << 20, 3<<20 + 17, 5 << 20} {
		res, err := carscan.Scan(benchCAR(1, size))
		if err != nil || res.Size != size {
			t.Fatalf("benchCAR(%d): %v %v", size, res, err)
		}
	}
}
