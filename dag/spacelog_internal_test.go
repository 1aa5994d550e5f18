package dag

import (
	"errors"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// TestDecodeSpaceLog reads space-log records in both forms: the relative path written
// now, and the absolute path of records written before (a data folder from an older
// version), and refuses a record whose path does not parse.
func TestDecodeSpaceLog(t *testing.T) {
	const subject = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	mh, _ := multihash.Sum([]byte("r"), multihash.SHA2_256, -1)
	rc := cid.NewCidV1(cid.DagCBOR, mh)
	rec := func(path string) []byte { return append(appendBytes(nil, rc.Bytes()), path...) }
	for _, tc := range []struct {
		name, path string
		want       string
		err        error
	}{
		{"relative", "notes/a", "/" + subject + "/notes/a", nil},
		{"absolute (older records)", "/" + subject + "/notes/a", "/" + subject + "/notes/a", nil},
		{"relative with fields", "metrics/store/add-total", "/" + subject + "/metrics/store/add-total", nil},
		{"bad path", "/not a did/x", "", ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := decodeSpaceLog(subject, 7, rec(tc.path))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Path.String() != tc.want || ev.Seq != 7 || !ev.Receipt.Equals(rc) {
				t.Fatalf("got %s %d %s", ev.Path, ev.Seq, ev.Receipt)
			}
		})
	}
	// What putLog writes for the space log decodes to the same event as the global log.
	p, err := ParsePath("/" + subject + "/notes/b")
	if err != nil {
		t.Fatal(err)
	}
	ev, err := decodeSpaceLog(subject, 9, append(appendBytes(nil, rc.Bytes()), p.Rel()...))
	if err != nil || ev.Path.String() != p.String() {
		t.Fatalf("relative record: %v %v", ev.Path, err)
	}
}
