package dag

import (
	"bytes"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// TestKeyLayout holds the keys and records built in one allocation to the layout they
// are read back with (DESIGN's key layout): prefix, then CID bytes or a big-endian
// sequence, and length-prefixed CID bytes in records.
func TestKeyLayout(t *testing.T) {
	mh, err := multihash.Sum([]byte("r"), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	c := cid.NewCidV1(cid.DagCBOR, mh)
	p := Path{Subject: "did:key:zS", Collection: "upload", Key: "k"}
	seq := uint64(0x0102030405060708)
	for name, kv := range map[string][2][]byte{
		"block":    {blockKey(c), append([]byte("block/"), c.Bytes()...)},
		"log":      {logKey(seq), append([]byte("log/"), be64(seq)...)},
		"spacelog": {spaceLogKey(p.Subject, seq), append([]byte("spacelog/did:key:zS/"), be64(seq)...)},
		"order":    {orderKey(p, seq), append([]byte("order/did:key:zS/upload/"), be64(seq)...)},
		"record":   {encodeLog(p, c), append(appendBytes(nil, c.Bytes()), p.String()...)},
		"entry":    {entryKey(p), []byte("entry/did:key:zS/upload/k")},
		"fields":   {entryKey(Path{Subject: "s", Collection: "metrics", Key: "g", Fields: []string{"a", "b"}}), []byte("entry/s/metrics/g/a/b")},
		"result":   {taskResultKey(c), []byte("task/" + c.String() + "/" + c.String() + ".result")},
		"task inv": {taskInvocationKey(c, c), []byte("task/" + c.String() + "/" + c.String() + ".invocation")},
	} {
		if !bytes.Equal(kv[0], kv[1]) {
			t.Errorf("%s: %q, want %q", name, kv[0], kv[1])
		}
	}
	ev, err := decodeLog(seq, encodeLog(p, c))
	if err != nil || !ev.Receipt.Equals(c) || ev.Path.String() != p.String() {
		t.Fatalf("decodeLog = %+v, %v", ev, err)
	}
	ev, err = decodeSpaceLog(p.Subject, seq, logRecord(c, p.Rel()))
	if err != nil || !ev.Receipt.Equals(c) || ev.Path.String() != p.String() {
		t.Fatalf("decodeSpaceLog = %+v, %v", ev, err)
	}
	e := &Entry{Path: p, Head: c, Status: "done", Seq: 5, Order: 3, stateRaw: []byte{0xa0}}
	for _, v := range []cid.Cid{cid.Undef, c} {
		e.Value = v
		back, err := decodeEntry(p, e.encode())
		if err != nil || !back.Head.Equals(c) || !back.Value.Equals(v) || back.Status != "done" || back.Seq != 5 || back.Order != 3 {
			t.Fatalf("entry round trip with value %v: %+v, %v", v, back, err)
		}
	}
}
