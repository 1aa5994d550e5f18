package fs_test

import (
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/w3dag/w3dag/blob"
	"github.com/w3dag/w3dag/blob/fs"
)

// FuzzVerifyPresigned feeds arbitrary keys and query strings (untrusted input from the
// URL of a PUT /blob request) to VerifyPresigned: it must never panic, and it must fail
// with one of its documented errors unless the query carries a valid signature.
func FuzzVerifyPresigned(f *testing.F) {
	st, err := fs.Open(f.TempDir(), fs.Options{Secret: testSecret, URL: func(key string) string { return "http://x/blob/" + key }})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	now := time.Unix(1_800_000_000, 0)
	req, err := st.PresignPut(f.Context(), "k/v", 15, make([]byte, 32), now.Add(time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	u, err := url.Parse(req.URL)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("k/v", u.RawQuery, int64(15))
	f.Add("k/v", "size=15&sha256=00&expires=1&sig=00", int64(15))
	f.Fuzz(func(t *testing.T, key, rawQuery string, length int64) {
		q, err := url.ParseQuery(rawQuery)
		if err != nil {
			return
		}
		opts, err := st.VerifyPresigned(key, q, length, now)
		if err == nil {
			if opts.Size < 0 || len(opts.SHA256) != 32 || (length >= 0 && length != opts.Size) {
				t.Fatalf("accepted %q for %q with options %+v", rawQuery, key, opts)
			}
			return
		}
		for _, want := range []error{blob.ErrInvalidKey, blob.ErrPresignInvalid, blob.ErrPresignExpired, blob.ErrSizeMismatch} {
			if errors.Is(err, want) {
				return
			}
		}
		t.Fatalf("VerifyPresigned(%q, %q) = %v, not a documented error", key, rawQuery, err)
	})
}
