package aggregate_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/machines/aggregate"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/piece"
	commp "github.com/w3dag/w3dag/piece"
)

// small: payload 2032 (two 1 KiB pieces) to 4064 (a 4 KiB deal).
var small = aggregate.Bounds{Min: 127 * 16, Max: 127 * 32}

func TestBoundsCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    aggregate.Bounds
		ok   bool
		deal uint64
	}{
		{"default", aggregate.DefaultBounds, true, 1 << 35},
		{"small", small, true, 4096},
		{"min = max", aggregate.Bounds{Min: 700, Max: 700}, true, 1024},
		{"min = max past the index", aggregate.Bounds{Min: 1000, Max: 1000}, false, 1024},
		{"min 0", aggregate.Bounds{Min: 0, Max: 4064}, false, 4096},
		{"min over max", aggregate.Bounds{Min: 4065, Max: 4064}, false, 4096},
		{"max under a piece", aggregate.Bounds{Min: 1, Max: 126}, false, 512},
		{"max over the largest deal", aggregate.Bounds{Min: 1, Max: 127 << 30 * 4}, false, 0},
		{"min past the index", aggregate.Bounds{Min: 4064, Max: 4064}, false, 4096},
		{"min at the index", aggregate.Bounds{Min: 3810, Max: 4064}, true, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.b.Check()
			if (err == nil) != tc.ok {
				t.Fatalf("Check: %v, want ok %v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, aggregate.ErrBounds) {
				t.Fatalf("Check: %v is not ErrBounds", err)
			}
			if d := tc.b.DealSize(); d != tc.deal {
				t.Fatalf("DealSize %d, want %d", d, tc.deal)
			}
		})
	}
}

// TestBounds adds pieces of the given padded sizes in order and checks the aggregates.
func TestBounds(t *testing.T) {
	type agg struct {
		status  string
		members []int // indexes of the pieces added
	}
	for _, tc := range []struct {
		name   string
		b      aggregate.Bounds
		pieces []uint64
		want   []agg
		alone  []int // pieces in no aggregate (still computed)
	}{
		{"exactly min", small, []uint64{1024, 1024}, []agg{{aggregate.StatusReady, []int{0, 1}}}, nil},
		{"one byte under min", aggregate.Bounds{Min: 127*16 + 1, Max: small.Max}, []uint64{1024, 1024}, []agg{{aggregate.StatusIngesting, []int{0, 1}}}, nil},
		{"a new one after ready", small, []uint64{1024, 1024, 512}, []agg{{aggregate.StatusReady, []int{0, 1}}, {aggregate.StatusIngesting, []int{2}}}, nil},
		{"would exceed max: next aggregate, the first keeps waiting",
			aggregate.Bounds{Min: 127 * 20, Max: 127 * 30}, []uint64{2048, 2048, 512, 128},
			[]agg{{aggregate.StatusReady, []int{0, 2}}, {aggregate.StatusIngesting, []int{1, 3}}}, nil},
		{"payload over max though the deal has room",
			aggregate.Bounds{Min: 127 * 20, Max: 127 * 22}, []uint64{2048, 1024, 512},
			[]agg{{aggregate.StatusReady, []int{0, 2}}, {aggregate.StatusIngesting, []int{1}}}, nil},
		{"exactly max", aggregate.Bounds{Min: 127 * 30, Max: 127 * 30}, []uint64{2048, 1024, 512, 256, 128},
			[]agg{{aggregate.StatusReady, []int{0, 1, 2, 3}}, {aggregate.StatusIngesting, []int{4}}}, nil},
		{"a full index makes it ready under the min", aggregate.Bounds{Min: 127 * 16, Max: 127 * 32}, []uint64{256, 128, 512, 128, 1024},
			[]agg{{aggregate.StatusReady, []int{0, 1, 2, 3}}, {aggregate.StatusIngesting, []int{4}}}, nil},
		{"no room for the smallest piece makes it ready under the min", aggregate.Bounds{Min: 3100, Max: 3100}, []uint64{2048, 1024, 128},
			[]agg{{aggregate.StatusReady, []int{0, 1}}, {aggregate.StatusIngesting, []int{2}}}, nil},
		{"the index bounds the deal", aggregate.Bounds{Min: 127 * 30, Max: 127 * 32}, []uint64{2048, 1024, 1024},
			[]agg{{aggregate.StatusIngesting, []int{0, 1}}, {aggregate.StatusIngesting, []int{2}}}, nil},
		{"a piece larger than max stays computed", small, []uint64{8192, 1024, 1024}, []agg{{aggregate.StatusReady, []int{1, 2}}}, []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newEnv(t, tc.b)
			rng := rand.New(rand.NewPCG(1, 2))
			var cs []computed
			for _, size := range tc.pieces {
				cs = append(cs, v.compute(pieceOf(rng, size, 0)))
			}
			v.run()
			got := v.aggregates()
			if len(got) != len(tc.want) {
				t.Fatalf("%d aggregates, want %d", len(got), len(tc.want))
			}
			for i, w := range tc.want {
				e := got[i]
				if e.Status != w.status {
					t.Errorf("aggregate %d is %s, want %s", i, e.Status, w.status)
				}
				ms := members(t, e)
				var want []cid.Cid
				var padded uint64
				for _, j := range w.members {
					want = append(want, cs[j].piece.CID())
					padded += cs[j].piece.PaddedSize()
				}
				if fmt.Sprint(ms) != fmt.Sprint(want) {
					t.Errorf("aggregate %d has %v, want %v", i, ms, want)
				}
				if s := sizeOf(t, e); s != padded {
					t.Errorf("aggregate %d has size %d, want %d", i, s, padded)
				}
				if padded/128*127 > tc.b.Max {
					t.Errorf("aggregate %d: payload %d over the max %d", i, padded/128*127, tc.b.Max)
				}
				for _, j := range w.members {
					pe := v.entry(piece.Path(v.svc, cs[j].content))
					want := piece.StatusComputed
					if e.Status == aggregate.StatusReady {
						want = piece.StatusAggregated
					}
					if pe.Status != want {
						t.Errorf("member %d is %s, want %s", j, pe.Status, want)
					}
				}
			}
			for _, j := range tc.alone {
				if s := v.entry(piece.Path(v.svc, cs[j].content)).Status; s != piece.StatusComputed {
					t.Errorf("piece %d is %s, want computed", j, s)
				}
				if err := tc.b.Fits(cs[j].piece); err == nil {
					t.Errorf("piece %d fits", j)
				}
			}
		})
	}
}

// TestReady checks a ready aggregate: its piece CID is the members' aggregate, each
// member's inclusion proof verifies against it, and each member's aggregated receipt
// follows its computed receipt (origin) and ran the include task listed in the fx of the
// closing piece's computed receipt.
func TestReady(t *testing.T) {
	v := newEnv(t, small)
	rng := rand.New(rand.NewPCG(3, 4))
	var cs []computed
	var payload int64
	for i, s := range []uint64{512, 256, 256, 1024} { // payload 2048/128·127 = 2032 = min
		cs = append(cs, v.compute(pieceOf(rng, s, uint64(rng.IntN(64)))))
		payload += int64(cs[i].piece.Size)
		// Counted in the transaction that closes the aggregate, and only then.
		wantReady, wantBytes := int64(0), int64(0)
		if i == 3 {
			wantReady, wantBytes = 1, payload
		}
		v.wantMetric(metrics.AggregateReadyTotal, wantReady)
		v.wantMetric(metrics.AggregateReadySizeTotal, wantBytes)
		v.wantMetric(metrics.PieceComputedTotal, int64(i+1))
	}
	ag := v.aggregates()
	if len(ag) != 1 || ag[0].Status != aggregate.StatusReady {
		t.Fatalf("aggregates %v", ag)
	}
	// Every computed receipt lists the piece's joining (an /aggregate/add invocation whose
	// result is the aggregate's receipt); the closing one also the include task.
	closing := v.receipt(cs[len(cs)-1].head)
	if len(closing.Fx) != 2 || v.command(closing.Fx[0]) != aggregate.AddCommand || v.command(closing.Fx[1]) != aggregate.IncludeCommand {
		t.Fatalf("the closing piece's computed receipt has fx %v, want its joining and the include task", closing.Fx)
	}
	include := closing.Fx[1]
	for i, c := range cs {
		fx := v.receipt(c.head).Fx
		if i < len(cs)-1 && (len(fx) != 1 || v.command(fx[0]) != aggregate.AddCommand) {
			t.Fatalf("a computed receipt that closed nothing has fx %v, want its joining", fx)
		}
		res, err := v.e.TaskResult(context.Background(), v.task(fx[0]))
		if err != nil {
			t.Fatalf("piece %d: the result of its joining: %v", i, err)
		}
		if r := v.receipt(res); r.Path != ag[0].Path.String() || !r.Ran.Equals(fx[0]) {
			t.Fatalf("piece %d: its joining's result is about %s, ran %s", i, r.Path, r.Ran)
		}
	}
	v.run()
	ac, err := aggregate.PieceCID(ag[0].State)
	if err != nil {
		t.Fatal(err)
	}
	var ps []commp.Piece
	for _, c := range cs {
		ps = append(ps, c.piece)
	}
	want, err := commp.NewAggregate(4096, ps)
	if err != nil {
		t.Fatal(err)
	}
	if !want.Piece().CID().Equals(ac) {
		t.Fatalf("aggregate %s, want %s", ac, want.Piece().CID())
	}
	for i, c := range cs {
		pe := v.entry(piece.Path(v.svc, c.content))
		if pe.Status != piece.StatusAggregated {
			t.Fatalf("piece %d is %s", i, pe.Status)
		}
		if got, _ := aggregate.PieceCID(pe.State); !got.Equals(ac) {
			t.Fatalf("piece %d is in %s, want %s", i, got, ac)
		}
		if ap, err := aggregate.Lookup(context.Background(), v.e, ac); err != nil {
			t.Fatal(err)
		} else if key, ok := aggregate.AggregateKey(pe.State); !ok || key != ap.Key {
			t.Fatalf("piece %d names aggregate key %q (%v), want %s", i, key, ok, ap.Key)
		}
		proof, err := aggregate.Inclusion(pe.State)
		if err != nil {
			t.Fatal(err)
		}
		if err := commp.VerifyInclusion(ac, c.piece.CID(), proof); err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
		if i > 0 {
			if err := commp.VerifyInclusion(ac, cs[i-1].piece.CID(), proof); err == nil {
				t.Fatalf("piece %d's proof verifies piece %d", i, i-1)
			}
		}
		r := v.receipt(pe.Head)
		if r.Origin == nil || !r.Origin.Equals(c.head) {
			t.Fatalf("piece %d: aggregated receipt's origin %v, want the computed receipt %s", i, r.Origin, c.head)
		}
		if !r.Ran.Equals(include) {
			t.Fatalf("piece %d: aggregated receipt ran %s, want the include task %s", i, r.Ran, include)
		}
	}
	// The aggregate's own chain: ready follows ingesting, ran by the closing compute.
	r := v.receipt(ag[0].Head)
	if r.Origin == nil {
		t.Fatal("the ready receipt has no origin")
	}
	if prev := v.receipt(*r.Origin); prev.Out.Ok == nil {
		t.Fatal("the ready receipt's origin has no state")
	}
}

// TestIdempotent: a hook run twice, a computed transition repeated and an include task
// run again change nothing more.
func TestIdempotent(t *testing.T) {
	ctx := context.Background()
	v := newEnv(t, small)
	rng := rand.New(rand.NewPCG(5, 6))
	a := v.compute(pieceOf(rng, 1024, 0))
	// The hook again (as a retried batch would run it), twice in one transaction.
	if err := v.e.Update(ctx, func(tx *dag.Tx) error {
		for range 2 {
			if err := v.m.Add(tx, piece.Path(v.svc, a.content), a.piece.CID()); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if ag := v.aggregates(); len(ag) != 1 || len(members(t, ag[0])) != 1 {
		t.Fatalf("after repeated hooks: %v", ag)
	}
	b := v.compute(pieceOf(rng, 1024, 0))
	v.run()
	seq, err := v.e.LastSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Run the include task's handler again with its invocation.
	closing := v.receipt(b.head)
	inv, err := v.e.Receipt(ctx, closing.Fx[len(closing.Fx)-1]) // the include task's stored invocation token
	if err != nil {
		t.Fatal(err)
	}
	if err := aggregate.IncludeHandler(v.e, nil)(ctx, inv); err != nil {
		t.Fatal(err)
	}
	if again, _ := v.e.LastSeq(ctx); again != seq {
		t.Fatalf("the include task run again committed %d sequences", again-seq)
	}
	if ag := v.aggregates(); len(ag) != 1 || ag[0].Status != aggregate.StatusReady || len(members(t, ag[0])) != 2 {
		t.Fatalf("aggregates %v", ag)
	}
	// Counted once, however often the hook and the include task ran.
	v.wantMetric(metrics.AggregateReadyTotal, 1)
	v.wantMetric(metrics.AggregateReadySizeTotal, int64(a.piece.Size+b.piece.Size))
	v.wantMetric(metrics.PieceComputedTotal, 2)
	// Aggregates are made from pieces only: a put of the service is refused.
	in, _ := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "pieces", qp.List(1, func(la datamodel.ListAssembler) {
			qp.ListEntry(la, qp.Link(cidlink.Link{Cid: a.piece.CID()}))
		}))
	})
	res := v.v.Put(v.v.Service, aggregate.Path(v.svc, aggregate.Key(9)), in)
	if !errors.Is(res.Err, dag.ErrInvalidTransition) {
		t.Fatalf("put of an aggregate: %v, want InvalidTransition", res.Err)
	}
}

// TestProperty adds pieces of random sizes under random bounds: every piece that fits is
// in exactly one aggregate, members are in the order computed, no aggregate is over the
// maximum, ready ones reached the minimum, their members are aggregated with proofs that
// verify, and the sizes add up.
func TestProperty(t *testing.T) {
	ready := 0
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			maxExp := 4 + rng.IntN(10) // a max payload in (127·2^(e-1), 127·2^e]: deals of 2 KiB to 1 MiB
			b := aggregate.Bounds{Max: 127<<(maxExp-1) + 1 + rng.Uint64N(127<<(maxExp-1))}
			b.Min = 1 + rng.Uint64N(min(b.Max, commp.IndexStart(b.DealSize())/128*127))
			if err := b.Check(); err != nil {
				t.Fatal(err)
			}
			v := newEnv(t, b)
			n := 40 + rng.IntN(40)
			var cs []computed
			order := map[cid.Cid]int{}
			var total uint64
			for i := range n {
				size := uint64(128) << rng.IntN(max(1, maxExp-3))
				if rng.IntN(20) == 0 {
					size = uint64(128) << (maxExp - 1 + rng.IntN(3)) // near or over the max
				}
				c := v.compute(pieceOf(rng, size, uint64(rng.IntN(100))))
				cs = append(cs, c)
				order[c.piece.CID()] = i
				if b.Fits(c.piece) == nil {
					total += c.piece.PaddedSize()
				}
			}
			v.run()
			seen := map[cid.Cid]bool{}
			var sum uint64
			for i, e := range v.aggregates() {
				ms := members(t, e)
				var padded uint64
				last := -1
				for _, m := range ms {
					if seen[m] {
						t.Fatalf("aggregate %d: %s twice", i, m)
					}
					seen[m] = true
					if order[m] <= last {
						t.Fatalf("aggregate %d: members out of order", i)
					}
					last = order[m]
					p, _ := commp.FromCID(m)
					padded += p.PaddedSize()
				}
				if s := sizeOf(t, e); s != padded {
					t.Fatalf("aggregate %d: size %d, members %d", i, s, padded)
				}
				sum += padded
				if padded/128*127 > b.Max {
					t.Fatalf("aggregate %d: payload %d over %d", i, padded/128*127, b.Max)
				}
				// Could the smallest piece still join?
				var ps []commp.Piece
				for _, m := range ms {
					p, _ := commp.FromCID(m)
					ps = append(ps, p)
				}
				_, end := commp.Placement(append(ps, commp.Piece{Height: commp.MinHeight}))
				open := len(ms) < aggregate.MaxPieces && uint64(len(ms)) < commp.IndexEntries(b.DealSize()) &&
					end <= commp.IndexStart(b.DealSize()) && (padded+128)/128*127 <= b.Max
				switch e.Status {
				case aggregate.StatusReady:
					ready++
					if padded/128*127 < b.Min && open {
						t.Fatalf("aggregate %d ready at payload %d under %d with room for more", i, padded/128*127, b.Min)
					}
					ac, _ := aggregate.PieceCID(e.State)
					for _, c := range cs {
						if pe := v.entry(piece.Path(v.svc, c.content)); seen[c.piece.CID()] && pe.Status == piece.StatusAggregated {
							if in, _ := aggregate.PieceCID(pe.State); in.Equals(ac) {
								proof, err := aggregate.Inclusion(pe.State)
								if err != nil {
									t.Fatal(err)
								}
								if err := commp.VerifyInclusion(ac, c.piece.CID(), proof); err != nil {
									t.Fatal(err)
								}
							}
						}
					}
				case aggregate.StatusIngesting:
					if padded/128*127 >= b.Min {
						t.Fatalf("aggregate %d ingesting at payload %d ≥ %d", i, padded/128*127, b.Min)
					}
					if !open {
						t.Fatalf("aggregate %d ingesting with no room for any piece", i)
					}
				default:
					t.Fatalf("aggregate %d is %s", i, e.Status)
				}
			}
			t.Logf("bounds %+v (deal %d): %d pieces, %d aggregates", b, b.DealSize(), n, len(v.aggregates()))
			if sum != total {
				t.Fatalf("members sum to %d padded bytes, %d were computed that fit", sum, total)
			}
			for _, c := range cs {
				pe := v.entry(piece.Path(v.svc, c.content))
				if !seen[c.piece.CID()] {
					if b.Fits(c.piece) == nil {
						t.Fatalf("piece %s that fits is in no aggregate", c.piece.CID())
					}
					if pe.Status != piece.StatusComputed {
						t.Fatalf("piece in no aggregate is %s", pe.Status)
					}
				}
			}
		})
	}
	if ready < 8 {
		t.Fatalf("%d ready aggregates in all: the sizes do not exercise the machine", ready)
	}
}

// TestMaxPieces: an aggregate of MaxPieces members is ready under the minimum (its
// receipts stay within ucan.MaxTokenSize), and the include task moves them all, in
// transactions of MovesPerTx.
func TestMaxPieces(t *testing.T) {
	if testing.Short() {
		t.Skip("computes MaxPieces pieces")
	}
	v := newEnv(t, aggregate.Bounds{Min: 127 << 19, Max: 127 << 20})
	rng := rand.New(rand.NewPCG(7, 8))
	var cs []computed
	for range aggregate.MaxPieces + 1 {
		cs = append(cs, v.compute(pieceOf(rng, 128, uint64(rng.IntN(60)))))
	}
	v.run()
	ag := v.aggregates()
	if len(ag) != 2 || ag[0].Status != aggregate.StatusReady || len(members(t, ag[0])) != aggregate.MaxPieces ||
		ag[1].Status != aggregate.StatusIngesting || len(members(t, ag[1])) != 1 {
		t.Fatalf("aggregates %v", ag)
	}
	ac, _ := aggregate.PieceCID(ag[0].State)
	for i, c := range cs[:aggregate.MaxPieces] {
		pe := v.entry(piece.Path(v.svc, c.content))
		proof, err := aggregate.Inclusion(pe.State)
		if err != nil {
			t.Fatalf("piece %d (%s): %v", i, pe.Status, err)
		}
		if err := commp.VerifyInclusion(ac, c.piece.CID(), proof); err != nil {
			t.Fatalf("piece %d: %v", i, err)
		}
	}
}
