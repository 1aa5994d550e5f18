package dag_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/w3dag/w3dag/dag"
)

// FuzzSelectCursor feeds arbitrary cursors (untrusted client input) to Select: the result
// is a page or ErrInvalidQuery, never a panic or an internal error.
func FuzzSelectCursor(f *testing.F) {
	v := newEnv(f, nil)
	for i := range 5 {
		v.put(v.path(fmt.Sprint("notes/c", i)), note("x"))
	}
	for _, s := range []string{"", dag.EncodeCursor(0), dag.EncodeCursor(3), dag.EncodeCursor(^uint64(0)), "AQAAAAAAAAAB", "garbage", "AQ", "////"} {
		f.Add(s, 2)
	}
	p := v.path("notes")
	inv := v.inv(v.agent, v.space, "/dag/select", pathArgs(p, nil))
	f.Fuzz(func(t *testing.T, cursor string, limit int) {
		res, err := v.e.Select(context.Background(), inv, p, dag.Query{Cursor: cursor, Limit: limit})
		if err != nil {
			t.Fatalf("internal error: %v", err)
		}
		if res.Err != nil {
			if !errors.Is(res.Err, dag.ErrInvalidQuery) {
				t.Fatalf("cursor %q limit %d: %v", cursor, limit, res.Err)
			}
			return
		}
		if len(res.Page.Entries) > dag.MaxSelectLimit {
			t.Fatal("page larger than the limit")
		}
	})
}
