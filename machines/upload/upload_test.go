package upload_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv/mem"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/machines/metrics"
	"github.com/w3dag/w3dag/machines/upload"
	"github.com/w3dag/w3dag/ucan/did"
)

type fixture struct {
	v      *machinestest.Env
	owner  did.Signer
	space  string
	done   []cid.Cid // done store entries of space
	queued cid.Cid   // a queued (not done) store entry of space
	other  cid.Cid   // done in another space only
	dagCID cid.Cid   // not a CAR CID
}

func newFixture(t *testing.T) *fixture {
	v := machinestest.Open(t, mem.New(), nil, nil, nil)
	f := &fixture{v: v, owner: machinestest.Signer(t)}
	f.space = f.owner.DID()
	store := func(s did.Signer, size int64) cid.Cid {
		c := machinestest.CAR(t)
		machinestest.MustOK(t, v.Put(s, machinestest.Path(s.DID(), "store", c.String()), machinestest.StoreValue(c, size)))
		return c
	}
	for range 4 {
		f.done = append(f.done, store(f.owner, 11)) // odd: done at once
	}
	f.queued = store(f.owner, 10)
	f.other = store(machinestest.Signer(t), 11)
	f.dagCID = machinestest.Link(t)
	return f
}

func (f *fixture) put(t *testing.T, root cid.Cid, shards ...cid.Cid) *dag.Result {
	t.Helper()
	return f.v.Put(f.owner, machinestest.Path(f.space, "upload", root.String()), machinestest.UploadValue(root, shards...))
}

func shardsOf(t *testing.T, state datamodel.Node) []cid.Cid {
	t.Helper()
	n, err := state.LookupByString("shards")
	if err != nil {
		t.Fatalf("state without shards: %v", err)
	}
	var out []cid.Cid
	it := n.ListIterator()
	for !it.Done() {
		_, v, _ := it.Next()
		l, _ := v.AsLink()
		out = append(out, l.(cidlink.Link).Cid)
	}
	return out
}

func sameCIDs(a, b []cid.Cid) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equals(b[i]) {
			return false
		}
	}
	return true
}

func TestShardNotFound(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name    string
		shards  []cid.Cid
		missing []cid.Cid
	}{
		{"never stored", []cid.Cid{f.done[0], machinestest.CAR(t)}, nil},
		{"queued is not done", []cid.Cid{f.queued}, []cid.Cid{f.queued}},
		{"stored in another space", []cid.Cid{f.done[1], f.other}, []cid.Cid{f.other}},
		{"not a CAR CID", []cid.Cid{f.dagCID}, []cid.Cid{f.dagCID}},
		{"several missing named", []cid.Cid{f.queued, f.done[0], f.other}, []cid.Cid{f.queued, f.other}},
	}
	tests[0].missing = tests[0].shards[1:]
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := machinestest.Link(t)
			res := f.put(t, root, tt.shards...)
			if !errors.Is(res.Err, upload.ErrShardNotFound) || dag.ErrorName(res.Err) != "ShardNotFound" {
				t.Fatalf("got %s, want ShardNotFound", machinestest.String(res))
			}
			msg := res.Out.Err.Message
			for _, m := range tt.missing {
				if !strings.Contains(msg, m.String()) {
					t.Errorf("message %q does not name %s", msg, m)
				}
			}
			for _, s := range tt.shards {
				if s.Equals(f.done[0]) || s.Equals(f.done[1]) {
					if strings.Contains(msg, s.String()) {
						t.Errorf("message %q names stored shard %s", msg, s)
					}
				}
			}
			if st := f.v.Status(machinestest.Path(f.space, "upload", root.String())); st != "" {
				t.Errorf("failed put left an entry (%s)", st)
			}
		})
	}
	if n, _ := metrics.Value(context.Background(), f.v.E, f.space, metrics.UploadAddTotal); n != 0 {
		t.Fatalf("failed puts counted: %d", n)
	}
}

func TestUnionAndRemove(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	root := machinestest.Link(t)
	d := f.done
	steps := []struct {
		name    string
		shards  []cid.Cid
		remove  bool
		changed bool
		want    []cid.Cid
		status  string
	}{
		{name: "new upload", shards: []cid.Cid{d[0], d[0]}, changed: true, want: []cid.Cid{d[0]}, status: "done"},
		{name: "same value", shards: []cid.Cid{d[0], d[0]}, want: []cid.Cid{d[0]}, status: "done"},
		{name: "more shards: union", shards: []cid.Cid{d[2], d[1], d[0]}, changed: true, want: []cid.Cid{d[0], d[2], d[1]}, status: "done"},
		{name: "subset changes nothing", shards: []cid.Cid{d[1]}, want: []cid.Cid{d[0], d[2], d[1]}, status: "done"},
		{name: "no shards changes nothing", want: []cid.Cid{d[0], d[2], d[1]}, status: "done"},
		{name: "one more", shards: []cid.Cid{d[3]}, changed: true, want: []cid.Cid{d[0], d[2], d[1], d[3]}, status: "done"},
		{name: "remove", remove: true, changed: true, status: "removed"},
		{name: "remove again", remove: true, status: "removed"},
		{name: "put again starts again", shards: []cid.Cid{d[1]}, changed: true, want: []cid.Cid{d[1]}, status: "done"},
	}
	p := machinestest.Path(f.space, "upload", root.String())
	var head cid.Cid
	for _, s := range steps {
		var res *dag.Result
		if s.remove {
			res = f.v.Remove(f.owner, p)
		} else {
			res = f.put(t, root, s.shards...)
		}
		machinestest.MustOK(t, res)
		if res.Entry.Status != s.status {
			t.Fatalf("%s: status %s, want %s", s.name, res.Entry.Status, s.status)
		}
		if changed := !res.Entry.Head.Equals(head); changed != s.changed {
			t.Fatalf("%s: changed %v, want %v", s.name, changed, s.changed)
		}
		if s.changed && head.Defined() {
			// the new receipt links the previous head
			tok, err := f.v.E.Receipt(ctx, res.Entry.Head)
			if err != nil {
				t.Fatal(err)
			}
			o, err := tok.Invocation.Args.LookupByString("origin")
			if err != nil {
				t.Fatalf("%s: receipt without origin", s.name)
			}
			if l, _ := o.AsLink(); l.String() != head.String() {
				t.Fatalf("%s: origin %s, want %s", s.name, l, head)
			}
		}
		head = res.Entry.Head
		if s.status == "done" {
			if got := shardsOf(t, res.Entry.State); !sameCIDs(got, s.want) {
				t.Fatalf("%s: shards %v, want %v", s.name, got, s.want)
			}
		}
	}
	for _, c := range []struct {
		subject, name string
		want          int64
	}{
		{f.space, metrics.UploadAddTotal, 2},
		{f.space, metrics.UploadRemoveTotal, 1},
		{f.v.E.Service(), metrics.UploadAddTotal, 2},
		{f.v.E.Service(), metrics.UploadRemoveTotal, 1},
	} {
		if n, err := metrics.Value(ctx, f.v.E, c.subject, c.name); err != nil || n != c.want {
			t.Errorf("%s of %s: %d, %v; want %d", c.name, c.subject, n, err, c.want)
		}
	}
}

// An update naming a shard that is not stored fails and leaves the upload as it was.
func TestUpdateMissingShard(t *testing.T) {
	f := newFixture(t)
	root := machinestest.Link(t)
	first := machinestest.MustOK(t, f.put(t, root, f.done[0]))
	res := f.put(t, root, f.done[1], f.queued)
	if !errors.Is(res.Err, upload.ErrShardNotFound) || !strings.Contains(res.Out.Err.Message, f.queued.String()) || strings.Contains(res.Out.Err.Message, f.done[1].String()) {
		t.Fatalf("got %s", machinestest.String(res))
	}
	ent, err := f.v.E.Entry(context.Background(), machinestest.Path(f.space, "upload", root.String()))
	if err != nil || !ent.Head.Equals(first.Entry.Head) {
		t.Fatalf("upload changed: %v %v", ent, err)
	}
}

func TestTooManyShards(t *testing.T) {
	f := newFixture(t)
	shards := make([]cid.Cid, upload.MaxShards+1)
	for i := range shards {
		shards[i] = machinestest.CAR(t)
	}
	res := f.put(t, machinestest.Link(t), shards...)
	if dag.ErrorName(res.Err) != dag.ErrInvalidValue.Name || !strings.Contains(res.Out.Err.Message, "limit") {
		t.Fatalf("got %s", machinestest.String(res))
	}
}

// A ShardNotFound message names at most MaxNamedMissing shards and counts the rest.
func TestMissingNamedBounded(t *testing.T) {
	f := newFixture(t)
	shards := make([]cid.Cid, upload.MaxNamedMissing+5)
	for i := range shards {
		shards[i] = machinestest.CAR(t)
	}
	res := f.put(t, machinestest.Link(t), shards...)
	if !errors.Is(res.Err, upload.ErrShardNotFound) || !strings.Contains(res.Out.Err.Message, "and 5 more") {
		t.Fatalf("got %s", machinestest.String(res))
	}
}
