package server

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/w3dag/w3dag/message"
)

// decoder returns a Server with default limits, enough for decodeRequest.
func decoder(t testing.TB) *Server {
	t.Helper()
	s := &Server{}
	s.opts.Limits = withDefaults(message.Limits{})
	return s
}

func seeds(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	if len(out) == 0 {
		t.Fatal("no seeds in testdata")
	}
	return out
}

func TestDecodeTestdata(t *testing.T) {
	s := decoder(t)
	for name, data := range seeds(t) {
		kind := bodyCAR
		if strings.HasSuffix(name, ".ctn") {
			kind = bodyContainer
		}
		req, herr := s.decodeRequest(kind, data)
		bad := strings.HasPrefix(name, "bad-")
		switch {
		case bad && herr == nil:
			t.Errorf("%s: decoded", name)
		case bad && herr.status != http.StatusBadRequest:
			t.Errorf("%s: status %d", name, herr.status)
		case !bad && herr != nil:
			t.Errorf("%s: %v", name, herr)
		case !bad && len(req.invocations) == 0:
			t.Errorf("%s: no invocations", name)
		}
	}
}

// FuzzDecodeMessage feeds arbitrary bodies to the POST /ucan decoder, as CAR messages
// and as UCAN containers: it must return invocations or a 4xx, never panic.
func FuzzDecodeMessage(f *testing.F) {
	for name, data := range seeds(f) {
		f.Add(strings.HasSuffix(name, ".ctn"), data)
	}
	s := decoder(f)
	f.Fuzz(func(t *testing.T, asContainer bool, data []byte) {
		kind := bodyCAR
		if asContainer {
			kind = bodyContainer
		}
		req, herr := s.decodeRequest(kind, data)
		if herr != nil {
			if herr.status != http.StatusBadRequest && herr.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d for a bad body", herr.status)
			}
			if herr.msg == "" || herr.name == "" {
				t.Fatal("error without name or message")
			}
			return
		}
		if len(req.invocations) == 0 {
			t.Fatal("decoded a request without invocations")
		}
		for _, inv := range req.invocations {
			if inv == nil || inv.Invocation == nil {
				t.Fatal("decoded a non-invocation as an invocation")
			}
		}
		for c, p := range req.proofs {
			if p.Delegation == nil || !p.CID.Equals(c) {
				t.Fatal("proofs hold a non-delegation or a mis-keyed token")
			}
		}
	})
}

// FuzzBearer feeds arbitrary Authorization headers to the watch route's bearer decoder:
// it must return one invocation with delegations, or an error, never panic.
func FuzzBearer(f *testing.F) {
	for name, data := range seeds(f) {
		if strings.HasSuffix(name, ".ctn") {
			f.Add("Bearer " + string(data))
		}
	}
	f.Add("Bearer ")
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, h string) {
		inv, proofs, err := bearerInvocation(h)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("error without a message")
			}
			return
		}
		if inv == nil || inv.Invocation == nil {
			t.Fatal("no invocation without an error")
		}
		for c, p := range proofs {
			if p.Delegation == nil || !p.CID.Equals(c) {
				t.Fatal("proofs hold a non-delegation or a mis-keyed token")
			}
		}
	})
}
