package replay

import (
	"sort"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/message"
	"github.com/w3dag/w3dag/ucan"
)

func tok(n int) *ucan.Token {
	return &ucan.Token{CID: message.Sum(message.CodecRaw, []byte{byte(n)})}
}

// TestOrderAndResume: steps sort by sequence, the write of a sequence before what was
// answered after it, then by time and CID; Resume skips exactly what a store at a given
// last sequence has done.
func TestOrderAndResume(t *testing.T) {
	steps := []Step{
		{Inv: tok(1), Seq: 3, Change: false, TS: 30}, // an error after seq 3
		{Inv: tok(2), Seq: 3, Change: true, TS: 29},  // wrote seq 3
		{Inv: tok(3), Seq: 0, Change: false, TS: 50}, // a refusal (no sequence)
		{Inv: tok(4), Seq: 1, Change: true, TS: 10},
		{Inv: tok(5), Seq: 5, Change: true, TS: 40},
		{Inv: tok(6), Seq: 3, Change: false, TS: 31}, // a read after seq 3
		{Inv: tok(7), Seq: 2, Change: true, TS: 20},
	}
	sort.SliceStable(steps, func(i, j int) bool { return less(&steps[i], &steps[j]) })
	var order []cid.Cid
	for _, st := range steps {
		order = append(order, st.Inv.CID)
	}
	want := []int{3, 4, 7, 2, 1, 6, 5}
	for i, n := range want {
		if !order[i].Equals(tok(n).CID) {
			t.Fatalf("position %d: step of invocation %d, want %d (order %v)", i, indexOf(order[i]), n, order)
		}
	}
	p := &Plan{Steps: steps}
	for _, tc := range []struct {
		last uint64
		want int
	}{
		{0, 0}, // empty store: everything, refusals included
		{1, 2}, // seq 1 done: the refusal and its writer skipped
		{2, 3},
		{3, 4}, // seq 3 written: what was answered after it runs again
		{4, 6}, // nothing wrote 4: every step up to seq 3 done
		{5, 7}, // all done
		{9, 7},
	} {
		if got := p.Resume(tc.last); got != tc.want {
			t.Errorf("Resume(%d) = %d, want %d", tc.last, got, tc.want)
		}
	}
}

func indexOf(c cid.Cid) int {
	for n := range 256 {
		if tok(n).CID.Equals(c) {
			return n
		}
	}
	return -1
}

// FuzzDecode: no archived bytes make decode panic.
func FuzzDecode(f *testing.F) {
	inv := tok(1)
	data, err := message.Encode(&message.Message{Invocations: []cid.Cid{inv.CID}, Blocks: []message.Block{{CID: inv.CID, Data: []byte{0x80}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, true)
	f.Add([]byte{0x0a, 0xa1}, false)
	f.Fuzz(func(t *testing.T, b []byte, car bool) {
		codec := uint64(message.CodecRaw)
		if car {
			codec = message.CodecCAR
		}
		_, _, _ = decode(message.Sum(codec, b), b)
	})
}

// TestTimeAfter: a step's transaction that starts at a store's last sequence takes the
// time of the step's first stamp after it, and the step's own time past its last.
func TestTimeAfter(t *testing.T) {
	st := Step{Inv: tok(1), TS: 99, Stamps: []Stamp{{Seq: 10, TS: 1}, {Seq: 11, TS: 1}, {Seq: 20, TS: 5}, {Seq: 30, TS: 7}}}
	for _, c := range []struct {
		last uint64
		want int64
	}{{0, 1}, {9, 1}, {10, 1}, {11, 5}, {19, 5}, {20, 7}, {29, 7}, {30, 99}, {40, 99}} {
		if got := st.TimeAfter(c.last).UnixMilli(); got != c.want {
			t.Errorf("TimeAfter(%d) = %d, want %d", c.last, got, c.want)
		}
	}
	if (&Step{Inv: tok(2), Stamps: st.Stamps}).Paced() {
		t.Error("a client invocation is paced")
	}
}
