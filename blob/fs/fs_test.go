package fs_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/blobtest"
	"github.com/w3dag/w3dag/blob/fs"
)

var testSecret = bytes.Repeat([]byte("s"), fs.MinSecretLength)

func openStore(t *testing.T, dir string, opts fs.Options) *fs.Store {
	t.Helper()
	st, err := fs.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// uploadHandler is what w3dag's server does for PUT /blob/...: verify the signature, then
// stream the body into Put under the signed constraints.
func uploadHandler(st *fs.Store) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /blob/{key...}", func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		opts, err := st.VerifyPresigned(key, r.URL.Query(), r.ContentLength, time.Now())
		if err != nil {
			code := http.StatusForbidden
			if errors.Is(err, blob.ErrSizeMismatch) || errors.Is(err, blob.ErrInvalidKey) {
				code = http.StatusBadRequest
			}
			http.Error(w, err.Error(), code)
			return
		}
		if err := st.Put(r.Context(), key, r.Body, opts); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	return mux
}

// presigningStore opens a store in a temporary directory whose presigned URLs point at an
// httptest server running uploadHandler.
func presigningStore(t *testing.T) *fs.Store {
	var srv *httptest.Server
	st := openStore(t, t.TempDir(), fs.Options{
		Secret: testSecret,
		URL:    func(key string) string { return srv.URL + "/blob/" + key },
	})
	srv = httptest.NewServer(uploadHandler(st))
	t.Cleanup(srv.Close)
	return st
}

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return presigningStore(t) })
}

func TestContractWithoutPresigning(t *testing.T) {
	if testing.Short() {
		t.Skip("the contract suite already ran with presigning")
	}
	blobtest.RunOptions(t, func(t *testing.T) blob.Store { return openStore(t, t.TempDir(), fs.Options{}) },
		blobtest.Options{LargeSize: 4 << 20})
}

func TestOpenOptions(t *testing.T) {
	dir := t.TempDir()
	if _, err := fs.Open(dir, fs.Options{Secret: []byte("short"), URL: func(string) string { return "" }}); err == nil {
		t.Errorf("Open with a 5-byte secret succeeded")
	}
	if _, err := fs.Open(dir, fs.Options{Secret: testSecret}); err == nil {
		t.Errorf("Open with a secret but no URL succeeded")
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Open(file, fs.Options{}); err == nil {
		t.Errorf("Open on a file succeeded")
	}
	st := openStore(t, filepath.Join(dir, "new", "root"), fs.Options{})
	if err := st.Put(context.Background(), "k", strings.NewReader("v"), blob.PutOptions{Size: 1}); err != nil {
		t.Fatalf("Put into a created root: %v", err)
	}
}

func TestLayout(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir, fs.Options{})
	ctx := context.Background()
	if err := st.Put(ctx, "carpark/c1/c1.car", strings.NewReader("car"), blob.PutOptions{Size: 3}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "carpark", "c1", "c1.car"))
	if err != nil || string(b) != "car" {
		t.Fatalf("blob file = %q, %v; want the key's path to hold the bytes", b, err)
	}
	// A rejected Put leaves no temporary file behind.
	if err := st.Put(ctx, "carpark/c1/c2.car", strings.NewReader("car"), blob.PutOptions{Size: 4}); !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("short Put = %v", err)
	}
	names, _ := os.ReadDir(filepath.Join(dir, "carpark", "c1"))
	if len(names) != 1 {
		t.Fatalf("directory holds %d entries after a rejected Put, want 1", len(names))
	}
	// ... and no directory it created for it.
	if err := st.Put(ctx, "new/dirs/k", strings.NewReader("car"), blob.PutOptions{Size: 4}); !errors.Is(err, blob.ErrSizeMismatch) {
		t.Fatalf("short Put = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !os.IsNotExist(err) {
		t.Fatalf("a rejected Put left its directories behind: %v", err)
	}
	// Delete prunes the directories it empties, but not the root.
	if err := st.Delete(ctx, "carpark/c1/c1.car"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "carpark")); !os.IsNotExist(err) {
		t.Fatalf("carpark/ still exists after its last blob was deleted: %v", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("root removed: %v", err)
	}
	// A leftover temporary file, a foreign file and a symlink are not listed.
	os.WriteFile(filepath.Join(dir, "~put-0123456789abcdef"), []byte("junk"), 0o644)
	os.WriteFile(filepath.Join(dir, "has space"), []byte("junk"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(dir, "link"))
	var keys []string
	st.List(ctx, "", func(i blob.Info) error { keys = append(keys, i.Key); return nil })
	if len(keys) != 0 {
		t.Fatalf("List shows %q, want nothing", keys)
	}
	// A symlink out of the root is not followed.
	if rc, _, err := st.Get(ctx, "link", nil); err == nil {
		rc.Close()
		t.Fatalf("Get through a symlink leaving the root succeeded")
	}
}

func TestKeyConflict(t *testing.T) {
	st := openStore(t, t.TempDir(), fs.Options{})
	ctx := context.Background()
	put := func(key string) error { return st.Put(ctx, key, strings.NewReader("x"), blob.PutOptions{Size: 1}) }
	if err := put("a"); err != nil {
		t.Fatal(err)
	}
	if err := put("a/b"); !errors.Is(err, fs.ErrKeyConflict) {
		t.Errorf("Put under a blob = %v, want ErrKeyConflict", err)
	}
	if err := put("c/d"); err != nil {
		t.Fatal(err)
	}
	if err := put("c"); !errors.Is(err, fs.ErrKeyConflict) {
		t.Errorf("Put over a directory = %v, want ErrKeyConflict", err)
	}
	if err := st.Delete(ctx, "c"); err != nil {
		t.Errorf("Delete of a directory key = %v, want nil (no blob there)", err)
	}
	if _, err := st.Stat(ctx, "c/d"); err != nil {
		t.Errorf("Delete of the directory key removed its blobs: %v", err)
	}
}

func sum(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func TestVerifyPresigned(t *testing.T) {
	st := openStore(t, t.TempDir(), fs.Options{Secret: testSecret, URL: func(key string) string { return "https://w3dag.example/blob/" + key + "?x=1" }})
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	data := []byte("presigned bytes")
	req, err := st.PresignPut(ctx, "k/v", int64(len(data)), sum(data), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if req.Headers["Content-Length"] != "15" || !req.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("request = %+v", req)
	}
	u, err := url.Parse(req.URL)
	if err != nil || u.Host != "w3dag.example" || u.Path != "/blob/k/v" || u.Query().Get("x") != "1" {
		t.Fatalf("URL %q does not extend Options.URL", req.URL)
	}
	good := u.Query()
	opts, err := st.VerifyPresigned("k/v", good, 15, now)
	if err != nil || opts.Size != 15 || !bytes.Equal(opts.SHA256, sum(data)) {
		t.Fatalf("VerifyPresigned = %+v, %v", opts, err)
	}
	if _, err := st.VerifyPresigned("k/v", good, -1, now); err != nil {
		t.Fatalf("VerifyPresigned without Content-Length: %v", err)
	}
	with := func(name, value string) url.Values {
		q := url.Values{}
		for k, v := range good {
			q[k] = append([]string(nil), v...)
		}
		if value == "" {
			q.Del(name)
		} else {
			q.Set(name, value)
		}
		return q
	}
	tests := []struct {
		name   string
		key    string
		query  url.Values
		length int64
		now    time.Time
		want   error
	}{
		{"other key", "k/w", good, 15, now, blob.ErrPresignInvalid},
		{"invalid key", "../k", good, 15, now, blob.ErrInvalidKey},
		{"size changed", "k/v", with(fs.ParamSize, "16"), 16, now, blob.ErrPresignInvalid},
		{"digest changed", "k/v", with(fs.ParamSHA256, strings.Repeat("ab", 32)), 15, now, blob.ErrPresignInvalid},
		{"expiry extended", "k/v", with(fs.ParamExpires, "9999999999"), 15, now, blob.ErrPresignInvalid},
		{"signature flipped", "k/v", with(fs.ParamSignature, strings.Repeat("00", 32)), 15, now, blob.ErrPresignInvalid},
		{"signature missing", "k/v", with(fs.ParamSignature, ""), 15, now, blob.ErrPresignInvalid},
		{"size missing", "k/v", with(fs.ParamSize, ""), 15, now, blob.ErrPresignInvalid},
		{"size negative", "k/v", with(fs.ParamSize, "-1"), 15, now, blob.ErrPresignInvalid},
		{"digest not hex", "k/v", with(fs.ParamSHA256, "zz"), 15, now, blob.ErrPresignInvalid},
		{"digest short", "k/v", with(fs.ParamSHA256, "abcd"), 15, now, blob.ErrPresignInvalid},
		{"expires not a number", "k/v", with(fs.ParamExpires, "soon"), 15, now, blob.ErrPresignInvalid},
		{"signature short", "k/v", with(fs.ParamSignature, "abcd"), 15, now, blob.ErrPresignInvalid},
		{"repeated", "k/v", url.Values{fs.ParamSize: {"15", "15"}, fs.ParamSHA256: good[fs.ParamSHA256], fs.ParamExpires: good[fs.ParamExpires], fs.ParamSignature: good[fs.ParamSignature]}, 15, now, blob.ErrPresignInvalid},
		{"expired", "k/v", good, 15, now.Add(time.Hour), blob.ErrPresignExpired},
		{"long expired", "k/v", good, 15, now.Add(48 * time.Hour), blob.ErrPresignExpired},
		{"wrong length", "k/v", good, 14, now, blob.ErrSizeMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := st.VerifyPresigned(tc.key, tc.query, tc.length, tc.now); !errors.Is(err, tc.want) {
				t.Fatalf("VerifyPresigned = %v, want %v", err, tc.want)
			}
		})
	}

	// Another secret does not verify.
	st2 := openStore(t, t.TempDir(), fs.Options{Secret: bytes.Repeat([]byte("t"), 32), URL: func(string) string { return "" }})
	if _, err := st2.VerifyPresigned("k/v", good, 15, now); !errors.Is(err, blob.ErrPresignInvalid) {
		t.Fatalf("VerifyPresigned with another secret = %v", err)
	}
	// No secret: no presigning.
	st3 := openStore(t, t.TempDir(), fs.Options{})
	if _, err := st3.PresignPut(ctx, "k/v", 15, sum(data), now); !errors.Is(err, blob.ErrNoPresign) {
		t.Fatalf("PresignPut without a secret = %v", err)
	}
	if _, err := st3.VerifyPresigned("k/v", good, 15, now); !errors.Is(err, blob.ErrNoPresign) {
		t.Fatalf("VerifyPresigned without a secret = %v", err)
	}
}
