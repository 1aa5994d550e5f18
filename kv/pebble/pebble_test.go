package pebble

import (
	"path/filepath"
	"testing"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/kvtest"
)

func openTemp(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "kv"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	kvtest.RunBackend(t, kvtest.Backend{
		Open: func(t *testing.T) kv.Store { return openTemp(t, Options{}) },
		Reopen: func(t *testing.T, closed kv.Store) kv.Store {
			s, err := Open(closed.(*Store).Path(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	})
}
