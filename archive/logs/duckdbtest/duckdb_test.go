package duckdbtest

import (
	"context"
	"database/sql"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive/logs"
	blobfs "github.com/w3dag/w3dag/blob/fs"
	"github.com/w3dag/w3dag/dag"
	kvmem "github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/usage"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan/did"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// workload runs n random stores (done at once or after a second put), removals and
// re-stores in three spaces while the clock moves up to 5 h between operations.
func workload(t *testing.T, v *machinestest.Env, clk *clock, spaces []did.Signer, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	type stored struct {
		p   dag.Path
		s   did.Signer
		val func() *dag.Result
	}
	var live, gone []stored
	for range n {
		clk.Add(time.Duration(rng.IntN(5*3600)) * time.Second)
		switch k := rng.IntN(10); {
		case k < 6 || len(live) == 0:
			s := spaces[rng.IntN(len(spaces))]
			car := machinestest.CAR(t)
			p := machinestest.Path(s.DID(), "store", car.String())
			val := machinestest.StoreValue(car, int64(1+rng.IntN(1<<20)))
			put := func() *dag.Result { return machinestest.MustOK(t, v.Put(s, p, val)) }
			put()
			put() // even sizes: queued → done; odd: already done, counted once
			live = append(live, stored{p, s, put})
		case k < 9:
			i := rng.IntN(len(live))
			machinestest.MustOK(t, v.Remove(live[i].s, live[i].p))
			gone = append(gone, live[i])
			live = append(live[:i], live[i+1:]...)
		default:
			if len(gone) == 0 {
				continue
			}
			g := gone[rng.IntN(len(gone))]
			g.val()
			g.val()
		}
	}
}

// files returns every exported file with its modification time and size.
func files(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(root, "logs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = info.ModTime().String() + " " + info.Name()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// bytesPerSpacePerDay is the query of docs/logs.md, with the glob's root in front.
func bytesPerSpacePerDay(root string) string {
	return strings.ReplaceAll(`
SELECT subject AS space,
       date AS day,
       sum(out.ok.delta) AS added,
       sum(sum(out.ok.delta)) OVER (PARTITION BY subject ORDER BY date) AS stored
FROM read_json('ROOT/logs/receipt/usage-record/*/*.jsonl', format = 'newline_delimited')
GROUP BY subject, date
ORDER BY space, day`, "ROOT", root)
}

func TestDuckDB(t *testing.T) {
	ctx := context.Background()
	clk := &clock{now: time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)}
	v := machinestest.Open(t, kvmem.New(), nil, nil, clk.Now)
	spaces := []did.Signer{machinestest.Signer(t), machinestest.Signer(t), machinestest.Signer(t)}
	workload(t, v, clk, spaces, 200)

	root := t.TempDir()
	blobs, err := blobfs.Open(root, blobfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	x, err := logs.New(logs.Options{Source: v.E, KV: v.KV, Blobs: blobs, Chunk: 64})
	if err != nil {
		t.Fatal(err)
	}
	st, err := x.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, err := v.E.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Position != last || st.Records != int(last) {
		t.Fatalf("export %+v, last seq %d", st, last)
	}

	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// Record by record: the receipt lines, in seq order, are the commit log.
	rows, err := db.QueryContext(ctx, `SELECT seq, receipt, path, ran FROM read_json('`+root+`/logs/receipt/*/*/*.jsonl', format = 'newline_delimited', union_by_name = true) ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var got []dag.Event
	var rans []string
	for rows.Next() {
		var seq uint64
		var rc, path, ran string
		if err := rows.Scan(&seq, &rc, &path, &ran); err != nil {
			t.Fatal(err)
		}
		c, err := cid.Decode(rc)
		if err != nil {
			t.Fatal(err)
		}
		p, err := dag.ParsePath(path)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, dag.Event{Seq: seq, Path: p, Receipt: c})
		rans = append(rans, ran)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var want []dag.Event
	for after := uint64(0); ; {
		page, err := v.E.Log(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		want = append(want, page...)
		after = page[len(page)-1].Seq
	}
	if len(got) != len(want) {
		t.Fatalf("DuckDB reads %d receipt lines, the commit log has %d records", len(got), len(want))
	}
	for i := range want {
		if got[i].Seq != want[i].Seq || !got[i].Receipt.Equals(want[i].Receipt) || got[i].Path.String() != want[i].Path.String() {
			t.Fatalf("line %d: %+v, commit log %+v", i, got[i], want[i])
		}
		raw, err := v.E.Block(ctx, want[i].Receipt)
		if err != nil {
			t.Fatal(err)
		}
		_, r, err := receipts.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if r.Ran.String() != rans[i] {
			t.Fatalf("seq %d: ran %s, receipt ran %s", want[i].Seq, rans[i], r.Ran)
		}
	}
	// Every invocation that ran has one workflow line.
	var wfLines, wfInvs int
	if err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT invocation) FROM read_json('`+root+`/logs/workflow/*/*/*.jsonl', format = 'newline_delimited', union_by_name = true)`).Scan(&wfLines, &wfInvs); err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for _, r := range rans {
		distinct[r] = true
	}
	if wfLines != len(distinct) || wfInvs != len(distinct) {
		t.Fatalf("%d workflow lines (%d invocations), %d invocations ran receipts", wfLines, wfInvs, len(distinct))
	}

	// The documented query: bytes added and stored per space per day, against usage.Report
	// over [day start, day end) and [0, day end).
	rows, err = db.QueryContext(ctx, bytesPerSpacePerDay(root))
	if err != nil {
		t.Fatal(err)
	}
	days := map[string]int{}
	checked := 0
	for rows.Next() {
		var space string
		var day time.Time
		var added, stored int64
		if err := rows.Scan(&space, &day, &added, &stored); err != nil {
			t.Fatal(err)
		}
		start := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
		end := start.AddDate(0, 0, 1)
		window, err := usage.Report(ctx, v.E, space, start, end)
		if err != nil {
			t.Fatal(err)
		}
		upTo, err := usage.Report(ctx, v.E, space, time.UnixMilli(0), end)
		if err != nil {
			t.Fatal(err)
		}
		if added != window.Final-window.Initial || stored != upTo.Final || stored != window.Final {
			t.Fatalf("%s %s: DuckDB added %d stored %d; usage: window %d→%d, up to the day's end %d",
				space, start.Format(time.DateOnly), added, stored, window.Initial, window.Final, upTo.Final)
		}
		days[space]++
		checked++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(days) != len(spaces) || checked < 3*len(spaces) {
		t.Fatalf("the query covered %d spaces, %d space-days; want every space over several days", len(days), checked)
	}
	t.Logf("%d commit-log records, %d files, %d space-days checked", st.Records, st.Files, checked)

	// A second run writes nothing.
	before := files(t, root)
	st, err = x.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := files(t, root)
	if st.Files != 0 || st.Records != 0 || len(after) != len(before) {
		t.Fatalf("second run: %+v, %d files before, %d after", st, len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Fatalf("second run rewrote %s", k)
		}
	}
}

// TestQueryInDocs keeps the query above the one docs/logs.md shows.
func TestQueryInDocs(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/logs.md")
	if err != nil {
		t.Fatal(err)
	}
	space := regexp.MustCompile(`\s+`)
	q := space.ReplaceAllString(strings.TrimSpace(bytesPerSpacePerDay("ROOT")), " ")
	q = strings.ReplaceAll(q, "ROOT/logs/", "logs/")
	if !strings.Contains(space.ReplaceAllString(string(doc), " "), q) {
		t.Fatalf("docs/logs.md does not show the tested query:\n%s", q)
	}
}
