package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/kvtest"
)

// envURL names the environment variable with the test server's connection URL, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const envURL = "W3DAG_TEST_POSTGRES"

func testURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv(envURL)
	if url == "" {
		tb.Skipf("%s is not set; skipping PostgreSQL tests", envURL)
	}
	return url
}

// freshSchema returns a new random schema name and drops that schema when the test ends
// (after the stores opened later in the test were closed, as clean-ups run last-in
// first-out).
func freshSchema(tb testing.TB, url string) string {
	tb.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	schema := "kvtest_" + hex.EncodeToString(b[:])
	dropSchemaAtEnd(tb, url, schema)
	return schema
}

// dropSchemaAtEnd drops schema when the test ends.
func dropSchemaAtEnd(tb testing.TB, url, schema string) {
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("dropping schema %s: %v", schema, err)
		}
	})
}

func openTest(tb testing.TB, opts Options) *Store {
	tb.Helper()
	url := testURL(tb)
	if opts.Schema == "" {
		opts.Schema = freshSchema(tb, url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, url, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	testURL(t)
	for _, serial := range []bool{false, true} {
		t.Run(fmt.Sprintf("SerialWrites=%v", serial), func(t *testing.T) {
			kvtest.RunBackend(t, kvtest.Backend{
				Open: func(t *testing.T) kv.Store { return openTest(t, Options{SerialWrites: serial}) },
				Reopen: func(t *testing.T, closed kv.Store) kv.Store {
					return openTest(t, Options{Schema: closed.(*Store).Schema(), SerialWrites: serial})
				},
			})
		})
	}
}
