package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/internal/logtest"
	"github.com/w3dag/w3dag/kv"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
)

// failingKV is a kv/mem store whose Updates fail with err once it is set: a store that
// has failed, as kv/pebble does after a commit that did not reach the disk, when err wraps
// kv.ErrFailed (then Failed returns it too, and Views go on reading); one that cannot be
// reached, as PostgreSQL, otherwise.
type failingKV struct {
	*kvmem.Store
	err atomic.Pointer[error]
}

func (f *failingKV) fail(err error) { f.err.Store(&err) }
func (f *failingKV) recover()       { f.err.Store(nil) }

func (f *failingKV) Update(ctx context.Context, fn func(kv.Tx) error) error {
	if p := f.err.Load(); p != nil {
		return *p
	}
	return f.Store.Update(ctx, fn)
}

func (f *failingKV) Failed() error {
	if p := f.err.Load(); p != nil && errors.Is(*p, kv.ErrFailed) {
		return *p
	}
	return nil
}

// TestStoreFailed: once the store has failed, GET /healthz answers 503 StoreFailed (what a
// liveness probe restarts the service on) and w3dag_kv_failed is 1; POST /ucan answers
// 503 StoreFailed, nothing ran, without the store's file names; reads still answer; and the
// failure is logged at error level once, however many requests fail after it.
func TestStoreFailed(t *testing.T) {
	st := &failingKV{Store: kvmem.New()}
	logs := &logtest.Counter{}
	var arch *archive.Archive
	h := newHarness(t, harnessOptions{kv: st, archive: engineArchive(t, st, &arch), logger: slog.New(logs)})

	first := h.put("first", "before the failure")
	h.send([]*ucan.Token{first})
	wantHealth(t, h, http.StatusOK, "")
	wantMetric(t, h, "w3dag_kv_failed 0")

	st.fail(fmt.Errorf("%w: a pebble commit failed to reach the disk: write /data/w3dag.pebble/000007.log: no space left on device", kv.ErrFailed))
	wantHealth(t, h, http.StatusServiceUnavailable, NameStoreFailed)
	wantMetric(t, h, "w3dag_kv_failed 1")
	for i := range 5 {
		resp := h.post(message.ContentTypeCAR, encode(t, []*ucan.Token{h.put(fmt.Sprint("after", i), "lost")}))
		body := string(readAll(t, resp))
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, NameStoreFailed) {
			t.Fatalf("POST /ucan %d on a failed store: %d %s, want 503 %s", i, resp.StatusCode, body, NameStoreFailed)
		}
		if strings.Contains(body, "000007.log") {
			t.Errorf("POST /ucan %d tells the client the store's file names: %s", i, body)
		}
	}
	resp, err := http.Get(h.http.URL + "/receipts/" + first.CID.String())
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Errorf("GET /receipts of a put made before the failure: %d %s, want 200 (reads go on)", resp.StatusCode, body)
	}
	if got := logs.Count(slog.LevelError); got > 1 {
		t.Errorf("%d records at error level after 5 requests failed, want at most 1 (the store said so when it failed): %q", got, logs.Messages())
	}
}

// wantHealth checks GET /healthz's status and, when name is set, its error name.
func wantHealth(t *testing.T, h *harness, status int, name string) {
	t.Helper()
	resp, err := http.Get(h.http.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != status {
		t.Fatalf("GET /healthz: %d %s, want %d", resp.StatusCode, body, status)
	}
	if name == "" {
		return
	}
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Name != name {
		t.Fatalf("GET /healthz: %s, want the error %s (%v)", body, name, err)
	}
	if strings.Contains(e.Error.Message, "000007.log") {
		t.Errorf("GET /healthz tells anyone the store's file names: %s", e.Error.Message)
	}
}

// wantMetric checks that GET /metrics has the line want.
func wantMetric(t *testing.T, h *harness, want string) {
	t.Helper()
	resp, err := http.Get(h.http.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if body := string(readAll(t, resp)); !strings.Contains(body, "\n"+want+"\n") {
		t.Errorf("GET /metrics lacks %q", want)
	}
}

// TestStoreUnreachable: while the store refuses transactions (PostgreSQL unreachable, not
// failed), POST /ucan answers 503 and the client is told to retry, not the store's address;
// the server logs nothing at error level (the engine's committer reports the run of failed
// commits); GET /healthz stays 200 (a restart would not help); once the store answers
// again, puts succeed. With the archive's outbox in the store (as w3dag serve wires it) the
// message cannot be archived (ArchiveUnavailable); with the archive in blob storage the
// invocation's commit fails (Unavailable, with Retry-After).
func TestStoreUnreachable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		outbox bool
		want   string
	}{
		{"outbox in the store", true, NameArchive},
		{"archive in blob storage", false, NameUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &failingKV{Store: kvmem.New()}
			logs := &logtest.Counter{}
			ho := harnessOptions{kv: st, logger: slog.New(logs)}
			var arch *archive.Archive
			if tc.outbox {
				ho.archive = engineArchive(t, st, &arch)
			}
			h := newHarness(t, ho)
			h.send([]*ucan.Token{h.put("before", "x")})

			st.fail(errors.New("postgres kv: acquiring a connection: dial tcp 127.0.0.1:5432: connect: connection refused"))
			for i := range 5 {
				resp := h.post(message.ContentTypeCAR, encode(t, []*ucan.Token{h.put(fmt.Sprint("down", i), "x")}))
				body := string(readAll(t, resp))
				if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, `"`+tc.want+`"`) {
					t.Fatalf("POST /ucan %d while the store is unreachable: %d %s, want 503 %s", i, resp.StatusCode, body, tc.want)
				}
				if strings.Contains(body, "5432") {
					t.Errorf("POST /ucan %d tells the client the store's address: %s", i, body)
				}
				if tc.want == NameUnavailable && resp.Header.Get("Retry-After") == "" {
					t.Errorf("POST /ucan %d: 503 without Retry-After", i)
				}
			}
			wantHealth(t, h, http.StatusOK, "")
			wantMetric(t, h, "w3dag_kv_failed 0")
			if got := logs.Count(slog.LevelError); got != 1 {
				t.Errorf("%d records at error level for 5 failed requests, want 1 (the committer's): %q", got, logs.Messages())
			}

			st.recover()
			h.send([]*ucan.Token{h.put("after", "x")})
			if got := logs.Count(slog.LevelInfo); got != 1 {
				t.Errorf("%d records at info level after the store answered again, want 1 (the committer's recovery): %q", got, logs.Messages())
			}
		})
	}
}
