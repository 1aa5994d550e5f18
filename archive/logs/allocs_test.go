package logs_test

import (
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/w3dag/w3dag/internal/race"

	"github.com/w3dag/w3dag/archive/logs"
	"github.com/w3dag/w3dag/blob"
	blobmem "github.com/w3dag/w3dag/blob/mem"
)

// discardBlobs is a blob store whose Puts read their body and keep nothing, so that what
// an export allocates is the exporter's own.
type discardBlobs struct{ blob.Store }

func (discardBlobs) Put(_ context.Context, _ string, r io.Reader, _ blob.PutOptions) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// maxAllocsPerRecord bounds what exporting a commit-log record from memory allocates, kv's
// writes included: it was 17 (a reader on the heap for each block and each map entry of a
// state or args, the CID, task and message strings of each invocation and its Op, its
// path parsed again, each marker's key and value, the records appended one by one), and
// is 2.5 now.
const maxAllocsPerRecord = 4

// TestExportAllocs: exporting records the engine hands over from memory allocates at most
// maxAllocsPerRecord a record (the exporter's per-record work is not allocation-bound).
func TestExportAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("a workload of 300 operations")
	}
	ctx := context.Background()
	w := newWorld(t)
	w.run(300)
	last, err := w.v.E.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var best float64
	for i := range 3 {
		resetExport(t, w.v.KV)
		x, err := logs.New(logs.Options{Source: w.v.E, KV: w.v.KV, Blobs: discardBlobs{blobmem.New()}})
		if err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		st, err := x.Export(ctx)
		runtime.ReadMemStats(&after)
		if err != nil || st.Position != last {
			t.Fatalf("Export: %+v, %v; want position %d", st, err, last)
		}
		per := float64(after.Mallocs-before.Mallocs) / float64(st.Records)
		if i == 0 || per < best {
			best = per
		}
	}
	t.Logf("%.1f allocations a record (%d records)", best, last)
	if best > maxAllocsPerRecord && !race.Enabled {
		t.Fatalf("%.1f allocations a record, more than %d", best, maxAllocsPerRecord)
	}
}
