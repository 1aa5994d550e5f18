package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

func bigList(t testing.TB, n int) datamodel.Node {
	t.Helper()
	elems := make([]datamodel.Node, n)
	for i := range elems {
		elems[i] = basicnode.NewInt(int64(i))
	}
	l, err := newList(elems)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestBudgetStopsHostilePolicies(t *testing.T) {
	args := bigList(t, 200_000)
	sel := "." + strings.Repeat("[:]", 300)
	stmts := make([]string, 50)
	for i := range stmts {
		stmts[i] = `["==", "` + sel + `", 1]`
	}
	p := mustParseJSON(t, "["+strings.Join(stmts, ",")+"]")
	start := time.Now()
	err := p.Check(args)
	elapsed := time.Since(start)
	if !errors.Is(err, ErrTooComplex) {
		t.Fatalf("Check = %v, want ErrTooComplex", err)
	}
	if p.Match(args) {
		t.Fatal("an over-budget policy matched")
	}
	t.Logf("gave up after %v", elapsed)

	// A "not" around the expensive part must not turn exhaustion into true.
	q := mustParseJSON(t, `[["not", ["==", "`+sel+`", 1]]]`)
	if q.Match(args) {
		t.Fatal("not(over budget) matched")
	}
	if q[0].Match(args) {
		t.Fatal("Statement.Match over budget matched")
	}
	if _, err := MustParseSelector(sel).Select(args); !errors.Is(err, ErrTooComplex) {
		t.Fatalf("Select = %v, want ErrTooComplex", err)
	}
}

func TestBudgetAllowsLargeArguments(t *testing.T) {
	args := basicnode.Prototype.Map.NewBuilder()
	ma, _ := args.BeginMap(1)
	_ = ma.AssembleKey().AssignString("links")
	_ = ma.AssembleValue().AssignNode(bigList(t, 500_000))
	_ = ma.Finish()
	p := mustParseJSON(t, `[["all", ".links", [">=", ".", 0]], ["any", ".links", ["==", ".", 499999]]]`)
	if err := p.Check(args.Build()); err != nil {
		t.Fatal(err)
	}
}

// TestCheckWithinShared: checks drawing from one Budget share its steps; once it is spent
// every further check fails with ErrTooComplex, and unused steps are given back.
func TestCheckWithinShared(t *testing.T) {
	p, err := ParseJSON([]byte(`[["all", ".list", [">=", ".", 0]]]`))
	if err != nil {
		t.Fatal(err)
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dagjson.Decode(nb, strings.NewReader(`{"list": [`+strings.TrimSuffix(strings.Repeat("1,", 1000), ",")+`]}`)); err != nil {
		t.Fatal(err)
	}
	args := nb.Build()
	b := NewBudget(10_000)
	passed := 0
	for range 20 {
		err := p.CheckWithin(args, b)
		if err == nil {
			passed++
			continue
		}
		if !errors.Is(err, ErrTooComplex) {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if passed == 0 || passed >= 10 {
		t.Fatalf("%d of 20 checks of ~2000 steps passed within 10000 steps", passed)
	}
	if left := b.Left(); left > 0 || left < -budgetChunk {
		t.Fatalf("budget left %d", left)
	}
	if err := p.CheckWithin(args, nil); err != nil {
		t.Fatalf("nil budget: %v", err)
	}
	small := NewBudget(5_000)
	if err := p.CheckWithin(args, small); err != nil {
		t.Fatal(err)
	}
	if left := small.Left(); left <= 0 || left >= 5_000 {
		t.Fatalf("unused steps not given back: %d left of 5000", left)
	}
}
