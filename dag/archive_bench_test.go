package dag_test

import (
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/archive"
	blobmem "github.com/w3dag/w3dag/blob/mem"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/ucan"
)

// BenchmarkPutSelfInvoke measures engine-level dag/put on kv/bolt and kv/pebble (fsync on,
// 32 writers) of a machine that self-issues one invocation per put in its transaction
// (Tx.Invoke, as a usage record or a scheduled task does), with the invocation kept as a
// block only (unarchived) and archived as an agent message in the same transaction
// (archived, through an outbox in the same store; the mover, which runs in the background
// in serve, is not run). Sub-benchmarks alternate when run with -count.
func BenchmarkPutSelfInvoke(b *testing.B) {
	backends := []struct {
		name string
		open func(*testing.B) kv.Store
	}{{"bolt", openBenchBolt}, {"pebble", openBenchPebble}}
	for _, be := range backends {
		for _, archived := range []bool{false, true} {
			name := be.name + "/" + map[bool]string{false: "unarchived", true: "archived"}[archived]
			b.Run(name, func(b *testing.B) { benchSelfInvoke(b, be.open, archived) })
		}
	}
}

func benchSelfInvoke(b *testing.B, open func(*testing.B) kv.Store, archived bool) {
	st := open(b)
	defer st.Close()
	m := &effects{attempts: map[string][]cid.Cid{}}
	opts := []envOpt{withMachine("notes", m)}
	if archived {
		a := archive.New(blobmem.New(), archive.Options{Outbox: st})
		defer a.Close()
		opts = append(opts, withArchive(a))
	}
	v := newEnv(b, st, opts...)
	toks := make([]*ucan.Token, b.N)
	paths := make([]dag.Path, b.N)
	for i := range b.N {
		paths[i] = v.path(fmt.Sprintf("notes/n%d", i))
		toks[i] = v.inv(v.agent, v.space, "/dag/put", pathArgs(paths[i], note("n")))
	}
	putParallel(b, v, toks, paths, func(int64) datamodel.Node { return note("n") })
}
