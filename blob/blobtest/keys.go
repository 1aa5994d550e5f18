package blobtest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/w3dag/w3dag/blob"
)

// InvalidKeys are keys every backend must reject; backends' own tests can use them too.
var InvalidKeys = []string{
	"", "/", "../x", "a/../b", "..", ".", "./a", "/abs", "a/", "a//b", "a/./b", "a b", `a\b`,
	"a?b", "a#b", "a%2Fb", "a:b", "a*b", "é", "a\x00b", "a\nb", "~a", strings.Repeat("k", blob.MaxKeyLength+1),
}

func testInvalidKeys(t *testing.T, st blob.Store) {
	ctx := ctxT(t)
	for _, key := range InvalidKeys {
		if err := st.Put(ctx, key, strings.NewReader("x"), blob.PutOptions{Size: 1}); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := getErr(ctx, st, key, nil); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Get(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := st.Stat(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := st.Delete(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
		if p, ok := st.(blob.Presigner); ok {
			if _, err := p.PresignPut(ctx, key, 1, digest([]byte("x")), time.Now().Add(time.Minute)); err == nil {
				t.Errorf("PresignPut(%q) succeeded", key)
			}
		}
	}
	if got := listKeys(t, st, ""); len(got) != 0 {
		t.Fatalf("after rejected Puts the store lists %q", got)
	}
	long := strings.Repeat("k", blob.MaxKeyLength)
	if !blob.ValidKey(long) {
		t.Fatalf("a key of MaxKeyLength should be valid")
	}
}

// testNestedKeys: a key that is also the directory of another key may be refused (file
// systems), but a refusal must leave the existing blob intact.
func testNestedKeys(t *testing.T, st blob.Store) {
	outer, inner := randomBytes(11, 10), randomBytes(12, 20)
	mustPut(t, st, "n", outer)
	if err := st.Put(ctxT(t), "n/m", bytes.NewReader(inner), exact(inner)); err != nil {
		t.Logf("Put under an existing blob refused: %v", err)
		mustBeAbsent(t, st, "n/m")
	} else {
		mustHold(t, st, "n/m", inner)
	}
	mustHold(t, st, "n", outer)

	mustPut(t, st, "o/p", inner)
	if err := st.Put(ctxT(t), "o", bytes.NewReader(outer), exact(outer)); err != nil {
		t.Logf("Put over an existing directory refused: %v", err)
		mustBeAbsent(t, st, "o")
	} else {
		mustHold(t, st, "o", outer)
	}
	mustHold(t, st, "o/p", inner)
}
