package metrics_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/receipts"
)

func TestCheckName(t *testing.T) {
	good := append([]string{"a/b", "x-1/y-2"}, metrics.Names...)
	for _, n := range good {
		if err := metrics.CheckName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	bad := []string{"", "store", "/x", "x/", "a/b/c", "Store/add", "a b/c", "a/ü", strings.Repeat("a", metrics.MaxNameLength) + "/b"}
	for _, n := range bad {
		if err := metrics.CheckName(n); !errors.Is(err, metrics.ErrInvalidName) {
			t.Errorf("%q: got %v, want ErrInvalidName", n, err)
		}
	}
}

func TestAdd(t *testing.T) {
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	ctx := context.Background()
	space := machinestest.Signer(t).DID()
	err := v.E.Update(ctx, func(tx *dag.Tx) error {
		if err := metrics.AddBoth(tx, space, metrics.StoreAddSizeTotal, 10); err != nil {
			return err
		}
		if err := metrics.Add(tx, space, metrics.StoreAddSizeTotal, 5); err != nil {
			return err
		}
		return metrics.Add(tx, tx.Service(), metrics.StoreAddTotal, 3)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		subject, name string
		want          int64
	}{
		{space, metrics.StoreAddSizeTotal, 15},
		{v.E.Service(), metrics.StoreAddSizeTotal, 10},
		{v.E.Service(), metrics.StoreAddTotal, 3},
		{space, metrics.StoreAddTotal, 0},
	} {
		got, err := metrics.Value(ctx, v.E, c.subject, c.name)
		if err != nil || got != c.want {
			t.Errorf("%s %s: %d, %v; want %d", c.subject, c.name, got, err, c.want)
		}
	}
	err = v.E.Update(ctx, func(tx *dag.Tx) error { return metrics.Add(tx, space, "nope", 1) })
	if !errors.Is(err, metrics.ErrInvalidName) {
		t.Fatalf("bad name: %v", err)
	}
	err = v.E.Update(ctx, func(tx *dag.Tx) error { return metrics.Add(tx, "", metrics.StoreAddTotal, 1) })
	if !errors.Is(err, metrics.ErrInvalidSubject) {
		t.Fatalf("bad subject: %v", err)
	}
	// A failed transaction adds nothing.
	boom := errors.New("boom")
	err = v.E.Update(ctx, func(tx *dag.Tx) error {
		if err := metrics.Add(tx, space, metrics.StoreAddSizeTotal, 1000); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if got, _ := metrics.Value(ctx, v.E, space, metrics.StoreAddSizeTotal); got != 15 {
		t.Fatalf("rolled back add kept: %d", got)
	}
}

// Counters written by the machines read with dag/get on /<did>/metrics/<name>.
func TestGet(t *testing.T) {
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	owner := machinestest.Signer(t)
	space := owner.DID()
	for _, size := range []int64{11, 31} {
		blob := machinestest.CAR(t)
		machinestest.MustOK(t, v.Put(owner, machinestest.Path(space, "store", blob.String()), machinestest.StoreValue(blob, size)))
	}
	svc := v.E.Service()
	tests := []struct {
		path   string
		want   int64
		status bool // the whole state
		err    string
	}{
		{path: "/" + space + "/metrics/store/add-total", want: 2, status: true},
		{path: "/" + space + "/metrics/store/add-total/value", want: 2},
		{path: "/" + space + "/metrics/store/add-size-total/value", want: 42},
		{path: "/" + svc + "/metrics/store/add-size-total/value", want: 42},
		{path: "/" + space + "/metrics/store/remove-total/value", want: 0},
		{path: "/" + space + "/metrics/store", err: "NotFound"},
		{path: "/" + space + "/metrics/store/add-total/nope", err: "NotFound"},
		{path: "/" + space + "/metrics/Store/add-total", err: "NotFound"},
	}
	for _, tt := range tests {
		p, err := dag.ParsePath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		res := v.Get(owner, p)
		if tt.err != "" {
			if dag.ErrorName(res.Err) != tt.err {
				t.Errorf("%s: got %s, want %s", tt.path, machinestest.String(res), tt.err)
			}
			continue
		}
		if res.Err != nil {
			t.Errorf("%s: %v", tt.path, res.Err)
			continue
		}
		val, err := res.Out.Ok.LookupByString("value")
		if err != nil {
			t.Fatal(err)
		}
		if tt.status {
			if st, _ := mustLookup(t, val, "status").AsString(); st != metrics.StatusCounter {
				t.Errorf("%s: status %q", tt.path, st)
			}
			val = mustLookup(t, val, "value")
		}
		if n, err := val.AsInt(); err != nil || n != tt.want {
			t.Errorf("%s: value %d, %v; want %d", tt.path, n, err, tt.want)
		}
		// the head is a receipt signed by the service for the metric entry
		if len(res.Blocks) != 1 {
			t.Fatalf("%s: %d blocks", tt.path, len(res.Blocks))
		}
		tok, r, err := receipts.Decode(res.Blocks[0].Raw)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := receipts.Verify(tok, svc); err != nil {
			t.Errorf("%s: head receipt: %v", tt.path, err)
		}
		if !strings.HasSuffix(r.Path, "/metrics/store/"+p.Fields[0]) {
			t.Errorf("%s: head receipt path %q", tt.path, r.Path)
		}
	}
	// dag/put on a metric is refused
	res := v.Put(owner, machinestest.Path(space, "metrics", "store"), nil)
	if res.Err == nil {
		t.Fatal("put on metrics accepted")
	}
}

func mustLookup(t *testing.T, n datamodel.Node, k string) datamodel.Node {
	t.Helper()
	v, err := n.LookupByString(k)
	if err != nil {
		t.Fatalf("no %q in %v", k, n)
	}
	return v
}

func TestCollector(t *testing.T) {
	st := mem.New()
	v := machinestest.Open(t, st, nil, nil, nil)
	owner := machinestest.Signer(t)
	space := owner.DID()
	blob := machinestest.CAR(t)
	p := machinestest.Path(space, "store", blob.String())
	machinestest.MustOK(t, v.Put(owner, p, machinestest.StoreValue(blob, 7)))
	machinestest.MustOK(t, v.Remove(owner, p))
	up := machinestest.Link(t)
	other := machinestest.Signer(t)
	b2 := machinestest.CAR(t)
	machinestest.MustOK(t, v.Put(other, machinestest.Path(other.DID(), "store", b2.String()), machinestest.StoreValue(b2, 5)))
	machinestest.MustOK(t, v.Put(other, machinestest.Path(other.DID(), "upload", up.String()), machinestest.UploadValue(up, b2)))

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.Collector(v.E))
	want := map[string]float64{
		"w3dag_store_add_total":         2,
		"w3dag_store_add_size_total":    12,
		"w3dag_store_remove_total":      1,
		"w3dag_store_remove_size_total": 7,
		"w3dag_upload_add_total":        1,
		"w3dag_upload_remove_total":     0,
		// No piece or aggregate collection here: nothing counted, still exported.
		"w3dag_piece_computed_total":       0,
		"w3dag_aggregate_ready_total":      0,
		"w3dag_aggregate_ready_size_total": 0,
		"w3dag_aggregate_deal_total":       0,
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetType() != dto.MetricType_COUNTER || len(f.GetMetric()) != 1 || f.GetHelp() == "" {
			t.Errorf("%s: type %v, %d metrics, help %q", f.GetName(), f.GetType(), len(f.GetMetric()), f.GetHelp())
			continue
		}
		got[f.GetName()] = f.GetMetric()[0].GetCounter().GetValue()
	}
	if len(got) != len(want) {
		t.Errorf("gathered %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
	// A scrape whose read fails reports the failure instead of numbers.
	st.Close()
	if _, err := reg.Gather(); err == nil {
		t.Fatal("scrape of a closed engine succeeded")
	}
}

func TestPromName(t *testing.T) {
	if got := metrics.PromName(metrics.StoreAddSizeTotal); got != "w3dag_store_add_size_total" {
		t.Fatal(got)
	}
}
