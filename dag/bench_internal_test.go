package dag

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/kv/bolt"
	"github.com/w3dag/w3dag/schema"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/did"
)

const (
	selectFixtureEntries = 1_000_000
	selectFixtureChunk   = 20_000
)

// notesSchema is the schema extension of the internal tests: a space with a notes
// collection of {title} notes.
func notesSchema(tb testing.TB) *schema.Schema {
	tb.Helper()
	sch, err := schema.Load([]byte("type Space struct {\n  notes {String:Note}\n}\n\ntype Note struct {\n  title String\n}\n"))
	if err != nil {
		tb.Fatal(err)
	}
	return sch
}

func fixtureSigner(b testing.TB, n byte) did.Signer {
	seed := make([]byte, 32)
	seed[0] = n
	s, err := did.Ed25519FromSeed(seed)
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// selectFixture returns a bolt store holding a collection of selectFixtureEntries entries
// written directly with the engine's key layout (entry records and order index; heads are
// placeholder CIDs, select does not load them). The file is cached under os.TempDir
// between runs.
func selectFixture(b *testing.B, space string) *bolt.Store {
	file := filepath.Join(os.TempDir(), fmt.Sprintf("w3dag-dag-select-%d-v1.db", selectFixtureEntries))
	st, err := bolt.Open(file, bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var seq uint64
	err = st.View(ctx, func(kt kv.Tx) error {
		var err error
		seq, err = readSeq(kt)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	if seq == selectFixtureEntries {
		return st
	}
	b.Logf("building %d-entry fixture in %s (cached for later runs)", selectFixtureEntries, file)
	state, err := qp.BuildMap(basicnode.Prototype.Map, 2, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "status", qp.String("done"))
		qp.MapEntry(ma, "value", qp.Map(1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "title", qp.String("a note of modest length"))
		}))
	})
	if err != nil {
		b.Fatal(err)
	}
	raw, err := encodeNode(state)
	if err != nil {
		b.Fatal(err)
	}
	for start := uint64(seq) + 1; start <= selectFixtureEntries; start += selectFixtureChunk {
		err := st.Update(ctx, func(kt kv.Tx) error {
			var last uint64
			for s := start; s < start+selectFixtureChunk && s <= selectFixtureEntries; s++ {
				mh, _ := multihash.Sum(be64(s), multihash.SHA2_256, -1)
				head := cid.NewCidV1(cid.DagCBOR, mh)
				p := Path{Subject: space, Collection: "notes", Key: fmt.Sprintf("k%08d", s)}
				e := &Entry{Path: p, Head: head, Value: head, Status: "done", State: state, Seq: s, Order: s, stateRaw: raw}
				if err := kt.Put(entryKey(p), e.encode()); err != nil {
					return err
				}
				if err := kt.Put(orderKey(p, s), orderValue("done", p.Key)); err != nil {
					return err
				}
				last = s
			}
			return kt.Put([]byte(keySeq), be64(last))
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return st
}

// BenchmarkSelect1M measures dag/select of a 1,000-entry page from the middle of a
// 1,000,000-entry collection on kv/bolt, receipt and page block included.
func BenchmarkSelect1M(b *testing.B) {
	agent := fixtureSigner(b, 2)
	st := selectFixture(b, agent.DID())
	defer st.Close()
	sch := notesSchema(b)
	e, err := Open(context.Background(), Options{KV: st, Signer: fixtureSigner(b, 1), Schema: sch})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	p := Path{Subject: agent.DID(), Collection: "notes"}
	args, err := qp.BuildMap(basicnode.Prototype.Map, 1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "path", qp.String(p.Rel()))
	})
	if err != nil {
		b.Fatal(err)
	}
	inv, err := (&ucan.Invocation{Issuer: agent.DID(), Subject: agent.DID(), Command: "/dag/select", Args: args, Nonce: ucan.NewNonce()}).Seal(agent, ucan.SealOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		after := uint64(i*7919) % (selectFixtureEntries - MaxSelectLimit)
		res, err := e.Select(ctx, inv, p, Query{Limit: MaxSelectLimit, Cursor: EncodeCursor(after)})
		if err != nil || res.Err != nil {
			b.Fatal(errors.Join(err, res.Err))
		}
		if len(res.Page.Entries) != MaxSelectLimit || res.Page.Entries[0].Order != after+1 {
			b.Fatalf("page of %d entries from %d", len(res.Page.Entries), res.Page.Entries[0].Order)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
}
