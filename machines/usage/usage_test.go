package usage_test

import (
	"context"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/usage"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Set(ms int64)   { c.mu.Lock(); c.now = time.UnixMilli(ms); c.mu.Unlock() }

func record(t *testing.T, e *dag.Engine, space string, blob cid.Cid, delta int64) int64 {
	t.Helper()
	var applied int64
	err := e.Update(context.Background(), func(tx *dag.Tx) error {
		// a stored invocation as the cause
		inv, err := tx.Invoke("/test/cause", nil)
		if err != nil {
			return err
		}
		applied, err = usage.Record(tx, space, blob, delta, inv.CID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return applied
}

func size(t *testing.T, e *dag.Engine, space string) int64 {
	t.Helper()
	var n int64
	if err := e.View(context.Background(), func(tx *dag.Tx) error {
		var err error
		n, err = usage.Size(tx, space)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRecordIdempotent(t *testing.T) {
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	space := machinestest.Signer(t).DID()
	other := machinestest.Signer(t).DID()
	blob, blob2 := machinestest.CAR(t), machinestest.CAR(t)
	steps := []struct {
		name        string
		space       string
		blob        cid.Cid
		delta, want int64
		size        int64
	}{
		{"count", space, blob, 100, 100, 100},
		{"count again adds 0", space, blob, 100, 0, 100},
		{"same blob in another space counts there", other, blob, 100, 100, 100},
		{"remove uncounted blob subtracts 0", space, blob2, -40, 0, 100},
		{"remove", space, blob, -100, -100, 0},
		{"remove again subtracts 0", space, blob, -100, 0, 0},
		{"store again adds again", space, blob, 100, 100, 100},
		{"remove subtracts what was counted", space, blob, -1, -100, 0},
	}
	var deltas []int64
	for _, s := range steps {
		got := record(t, v.E, s.space, s.blob, s.delta)
		if got != s.want {
			t.Fatalf("%s: applied %d, want %d", s.name, got, s.want)
		}
		if n := size(t, v.E, s.space); n != s.size {
			t.Fatalf("%s: size %d, want %d", s.name, n, s.size)
		}
		if s.space == space {
			deltas = append(deltas, s.want)
		}
	}
	evs, err := usage.Events(context.Background(), v.E, space)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != len(deltas) {
		t.Fatalf("%d records, want %d", len(evs), len(deltas))
	}
	for i, ev := range evs {
		if ev.Delta != deltas[i] {
			t.Fatalf("record %d: delta %d, want %d", i, ev.Delta, deltas[i])
		}
	}
}

// Every record is an entry whose receipt ran a /space/usage/record invocation of the
// service naming the blob, the cause and the delta asked for.
func TestRecordReceipt(t *testing.T) {
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	ctx := context.Background()
	space := machinestest.Signer(t).DID()
	blob := machinestest.CAR(t)
	record(t, v.E, space, blob, 42)
	evs, err := usage.Events(ctx, v.E, space)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events %v, %v", evs, err)
	}
	ev := evs[0]
	if !ev.Blob.Equals(blob) || ev.Delta != 42 || !ev.Receipt.Defined() {
		t.Fatalf("event %+v", ev)
	}
	n := 0
	err = v.E.Chain(ctx, ev.Receipt, func(tok *ucan.Token, r *receipts.Receipt) error {
		n++
		if r.Path != "/"+space+"/usage/"+ev.Key {
			t.Errorf("receipt path %q", r.Path)
		}
		inv, err := v.E.Receipt(ctx, r.Ran)
		if err != nil {
			return err
		}
		if inv.Invocation == nil || inv.Invocation.Command != usage.Command || inv.Invocation.Issuer != v.E.Service() {
			t.Errorf("ran %s is not a service /space/usage/record invocation", r.Ran)
		}
		c, err := inv.Invocation.Args.LookupByString("cause")
		if err != nil {
			return err
		}
		l, _ := c.AsLink()
		if l.String() != ev.Cause.String() {
			t.Errorf("invocation cause %s, record cause %s", l, ev.Cause)
		}
		if _, err := v.E.Receipt(ctx, ev.Cause); err != nil {
			t.Errorf("cause %s not stored: %v", ev.Cause, err)
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("chain: %d receipts, %v", n, err)
	}
}

func TestRecordInvalid(t *testing.T) {
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	blob := machinestest.CAR(t)
	cases := []struct {
		name  string
		space string
		blob  cid.Cid
	}{
		{"service is not a space", "did:web:example.com", blob},
		{"empty space", "", blob},
		{"slash in space", "did:key:z/x", blob},
		{"undefined blob", machinestest.Signer(t).DID(), cid.Undef},
	}
	for _, c := range cases {
		err := v.E.Update(context.Background(), func(tx *dag.Tx) error {
			_, err := usage.Record(tx, c.space, c.blob, 1, blob)
			return err
		})
		if !errors.Is(err, usage.ErrInvalidRecord) {
			t.Errorf("%s: got %v, want ErrInvalidRecord", c.name, err)
		}
	}
}

// Through the store-like machine: sizes change at the receipts' timestamps and the report
// over hand-computed windows is exact.
func TestReport(t *testing.T) {
	c := &clock{}
	c.Set(1_000)
	v := machinestest.Open(t, mem.New(), nil, nil, c.Now)
	ctx := context.Background()
	owner := machinestest.Signer(t)
	space := owner.DID()
	a, b := machinestest.CAR(t), machinestest.CAR(t)
	pa, pb := machinestest.Path(space, "store", a.String()), machinestest.Path(space, "store", b.String())

	machinestest.MustOK(t, v.Put(owner, pa, machinestest.StoreValue(a, 101))) // done at 1000: +101
	c.Set(1_010)
	machinestest.MustOK(t, v.Put(owner, pa, machinestest.StoreValue(a, 101))) // repeat: a 0 record
	c.Set(1_020)
	machinestest.MustOK(t, v.Put(owner, pb, machinestest.StoreValue(b, 10))) // queued
	c.Set(1_030)
	machinestest.MustOK(t, v.Put(owner, pb, machinestest.StoreValue(b, 10))) // done at 1030: +10
	c.Set(1_050)
	machinestest.MustOK(t, v.Remove(owner, pa)) // removed at 1050: −101
	c.Set(1_060)
	machinestest.MustOK(t, v.Put(owner, pa, machinestest.StoreValue(a, 101))) // done again at 1060: +101

	tests := []struct {
		from, to       int64
		initial, final int64
		byteMs         int64
		events         int
	}{
		// 1000→1030: 101·30, 1030→1050: 111·20, 1050→1060: 10·10, 1060→1100: 111·40
		{1000, 1100, 0, 111, 3030 + 2220 + 100 + 4440, 5}, // the repeat at 1010 is a 0 record
		{0, 1000, 0, 0, 0, 0},
		{0, 1001, 0, 101, 101, 1},
		{1030, 1050, 101, 111, 2220, 1},
		{1040, 1055, 111, 10, 111*10 + 10*5, 1},
		{1061, 1062, 111, 111, 111, 0},
	}
	for _, tt := range tests {
		s, err := usage.Report(ctx, v.E, space, time.UnixMilli(tt.from), time.UnixMilli(tt.to))
		if err != nil {
			t.Fatal(err)
		}
		if s.Initial != tt.initial || s.Final != tt.final || s.ByteMs.Cmp(big.NewInt(tt.byteMs)) != 0 || len(s.Events) != tt.events {
			t.Errorf("[%d, %d): initial %d final %d byte·ms %s events %d; want %d %d %d %d",
				tt.from, tt.to, s.Initial, s.Final, s.ByteMs, len(s.Events), tt.initial, tt.final, tt.byteMs, tt.events)
		}
	}
	if n := size(t, v.E, space); n != 111 {
		t.Fatalf("size counter %d, want 111", n)
	}
	if _, err := usage.Report(ctx, v.E, space, time.UnixMilli(5), time.UnixMilli(5)); !errors.Is(err, usage.ErrInvalidWindow) {
		t.Fatalf("empty window: %v", err)
	}
}
