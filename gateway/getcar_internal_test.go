package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/boxo/path"
	"github.com/ipfs/boxo/path/resolver"
	ipld "github.com/ipfs/go-ipld-format"

	"github.com/w3dag/w3dag/message"
)

// TestMissingPathErr: a CAR of a path that does not resolve is a not-found (404) only
// when resolving it again says so; a read failure or ctx ending stays what it is (boxo
// answers it 5xx), never a 404 that would tell the client the path names nothing.
func TestMissingPathErr(t *testing.T) {
	root := message.Sum(message.CodecRaw, []byte("root"))
	pp, err := path.NewPath("/ipfs/" + root.String() + "/nope.txt")
	if err != nil {
		t.Fatal(err)
	}
	p, err := path.NewImmutablePath(pp)
	if err != nil {
		t.Fatal(err)
	}
	noLink := &resolver.ErrNoLink{Name: "nope.txt", Node: root}
	if got := missingPathErr(p, noLink); got != error(noLink) {
		t.Errorf("not found: %v, want the resolver's error as it is", got)
	}
	for _, cause := range []error{errors.New("disk on fire"), context.Canceled} {
		got := missingPathErr(p, cause)
		if !errors.Is(got, cause) || ipld.IsNotFound(got) || notFound(got) || !strings.Contains(got.Error(), p.String()) {
			t.Errorf("%v: %v, want it wrapped naming %s, not a not-found", cause, got, p)
		}
	}
	if got := missingPathErr(p, nil); !ipld.IsNotFound(got) || !strings.Contains(got.Error(), p.String()) || strings.Contains(got.Error(), "nil") {
		t.Errorf("resolved on the second try: %v, want a not-found naming %s", got, p)
	}
}
