package dag_test

import "testing"

func TestSmoke(t *testing.T) {
	v := newEnv(t, nil)
	p := v.path("notes/a")
	res := v.put(p, note("hello"))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if got := status(t, res.Out.Ok); got != "done" {
		t.Fatalf("status %q", got)
	}
	g := v.get(p)
	if g.Err != nil || g.Entry.Head != res.Receipt.CID {
		t.Fatalf("get: %v %+v", g.Err, g.Entry)
	}
	r := v.remove(p)
	if r.Err != nil || r.Entry.Status != "removed" {
		t.Fatalf("remove: %v", r.Err)
	}
	if n := v.verifyChain(p); n != 2 {
		t.Fatalf("chain length %d", n)
	}
}
