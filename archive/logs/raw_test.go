package logs

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/cbor"
	"github.com/w3dag/w3dag/internal/cidtext"
	"github.com/w3dag/w3dag/machines/machinestest"
	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// refOut is what the exporter wrote for a receipt's out and status when it read receipts
// with receipts.Decode (go-ipld-prime nodes): the reference the reader is held to.
func refOut(t testing.TB, o receipts.Out) ([]byte, string) {
	t.Helper()
	if o.Err != nil {
		e, err := json.Marshal(map[string]map[string]string{"error": {"name": o.Err.Name, "message": o.Err.Message}})
		if err != nil {
			t.Fatal(err)
		}
		return e, ""
	}
	b, err := encodeDAGJSON([]byte(`{"ok":`), o.Ok)
	if err != nil {
		t.Fatal(err)
	}
	status := ""
	if o.Ok.Kind() == datamodel.Kind_Map {
		if n, err := o.Ok.LookupByString("status"); err == nil {
			status, _ = n.AsString()
		}
	}
	return append(b, '}'), status
}

// sampleTokens returns receipts and invocations of every shape the lines read: states of
// every kind (floats too), errors with characters JSON escapes, origins, effects, args
// with and without a path.
func sampleTokens(t testing.TB) (rcpts, invs [][]byte) {
	t.Helper()
	svc := machinestest.Signer(t)
	rng := rand.New(rand.NewPCG(7, 8))
	link := func() cid.Cid { return machinestest.Link(t) }
	for i := range 40 {
		r := receipts.Receipt{Ran: link(), TS: rng.Int64N(1 << 45), Seq: uint64(i)}
		switch i % 4 {
		case 0:
			r.Out.Err = &receipts.Failure{Name: "EntryExists", Message: `<b>&"quoted"</b> ` + strings.ToValidUTF8(randomString(rng), "?")}
		case 1:
			st, err := qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "status", qp.String([]string{"done", "pending", "é\u2028"}[i%3]))
				qp.MapEntry(ma, "size", qp.Int(rng.Int64()))
				qp.MapEntry(ma, "link", qp.Link(cidlink.Link{Cid: link()}))
			})
			if err != nil {
				t.Fatal(err)
			}
			r.Out.Ok = st
		default:
			r.Out.Ok = randomNode(t, rng, 0, i%8 == 2)
		}
		if i%3 == 0 {
			o := link()
			r.Origin = &o
			r.Path = "/did:key:z/store/" + o.String()
		}
		for range i % 5 {
			r.Fx = append(r.Fx, link())
		}
		tok, err := receipts.Issue(svc, r, ucan.SealOptions{RC1: i%5 == 1})
		if errors.Is(err, ucan.ErrInvalidField) && strings.Contains(err.Error(), "UTF-8") {
			continue // randomNode wrote a string DAG-CBOR cannot hold
		}
		if err != nil {
			t.Fatal(err)
		}
		rcpts = append(rcpts, tok.Raw)
	}
	for i := range 20 {
		p := machinestest.Path(svc.DID(), "store", machinestest.CAR(t).String())
		var v datamodel.Node
		if i%2 == 0 {
			v = randomNode(t, rng, 1, i%4 == 0)
		}
		inv := &ucan.Invocation{Subject: p.Subject, Command: []string{"/dag/put", "/dag/remove", "/space/usage/record"}[i%3], Nonce: ucan.NewNonce()}
		n := int64(1)
		if v != nil {
			n = 2
		}
		args, err := qp.BuildMap(basicnode.Prototype.Map, n, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "path", qp.String(p.Rel()))
			if v != nil {
				qp.MapEntry(ma, "value", qp.Node(v))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		inv.Args = args
		if i%3 == 0 {
			inv.Audience = svc.DID()
		}
		tok, err := inv.Seal(svc, ucan.SealOptions{})
		if errors.Is(err, ucan.ErrInvalidField) && strings.Contains(err.Error(), "UTF-8") {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		invs = append(invs, tok.Raw)
	}
	return rcpts, invs
}

// checkReceipt holds readReceipt to receipts.Decode for raw: when that reads raw, so does
// readReceipt, with the same fields, and the out and status lines get are what the
// go-ipld-prime path wrote; when it does not, readReceipt says why with a *ReadError, and
// never panics.
func checkReceipt(t *testing.T, raw []byte) {
	rc, err := readReceipt(raw)
	if err != nil {
		var re *ReadError
		if !errors.As(err, &re) {
			t.Fatalf("readReceipt error %v (%T) is not a *ReadError", err, err)
		}
	}
	_, r, refErr := receipts.Decode(raw)
	if refErr != nil {
		return // the reader need not refuse everything Decode does (signatures, varsig headers)
	}
	if err != nil {
		t.Fatalf("receipts.Decode reads the receipt, readReceipt: %v", err)
	}
	if !bytes.Equal(rc.ran, r.Ran.Bytes()) || rc.ts != r.TS {
		t.Fatalf("ran %x ts %d, want %s %d", rc.ran, rc.ts, r.Ran, r.TS)
	}
	if (rc.origin == nil) != (r.Origin == nil) || (r.Origin != nil && string(cidtext.Append(nil, rc.origin)) != r.Origin.String()) {
		t.Fatalf("origin %x, want %v", rc.origin, r.Origin)
	}
	var c chunk
	var fx []string
	if rc.fx != nil {
		rd := reader{b: rc.fx}
		n, _ := rd.expect(cbor.MajorArray, "fx")
		for range n {
			l, err := rd.link("fx")
			if err != nil {
				t.Fatal(err)
			}
			fx = append(fx, string(cidtext.Append(nil, l)))
		}
	}
	var want []string
	for _, f := range r.Fx {
		want = append(want, f.String())
	}
	if strings.Join(fx, ",") != strings.Join(want, ",") {
		t.Fatalf("fx %v, want %v", fx, want)
	}
	status, err := c.encodeOut(&record{raw: raw, rc: rc})
	if err != nil {
		t.Fatalf("encodeOut: %v", err)
	}
	wantOut, wantStatus := refOut(t, r.Out)
	if !bytes.Equal(c.out, wantOut) || string(status) != wantStatus {
		t.Fatalf("out %s status %q\nwant %s status %q", c.out, status, wantOut, wantStatus)
	}
}

// checkInvocation holds readInvocation to ucan.Decode as checkReceipt does readReceipt:
// the same fields, the args as DAG-JSON, args.path and the task CID.
func checkInvocation(t *testing.T, raw []byte) {
	ri, err := readInvocation(raw)
	if err != nil {
		var re *ReadError
		if !errors.As(err, &re) {
			t.Fatalf("readInvocation error %v (%T) is not a *ReadError", err, err)
		}
	}
	tok, refErr := ucan.Decode(raw)
	if refErr != nil || tok.Invocation == nil {
		return
	}
	if err != nil {
		t.Fatalf("ucan.Decode reads the invocation, readInvocation: %v", err)
	}
	inv := tok.Invocation
	if string(ri.iss) != inv.Issuer || string(ri.sub) != inv.Subject || string(ri.aud) != inv.Audience || string(ri.cmd) != inv.Command || (ri.aud == nil) != (inv.Audience == "") {
		t.Fatalf("iss %q sub %q aud %q cmd %q, want %q %q %q %q", ri.iss, ri.sub, ri.aud, ri.cmd, inv.Issuer, inv.Subject, inv.Audience, inv.Command)
	}
	task, err := inv.Task()
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := taskCID(nil, &ri, nil); string(got) != task.String() {
		t.Fatalf("task %s, want %s", got, task)
	}
	want, err := encodeDAGJSON(nil, inv.Args)
	if err != nil {
		t.Fatal(err)
	}
	got, err := appendDAGJSONItem(nil, ri.args, 0)
	if errors.Is(err, errFloat) {
		return // encoded through ucan.Decode, as want
	}
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("args %s (%v)\nwant %s", got, err, want)
	}
	wantPath := ""
	if n, err := inv.Args.LookupByString("path"); err == nil {
		wantPath, _ = n.AsString()
	}
	if p := mapText(ri.args, "path"); string(p) != wantPath {
		t.Fatalf("args.path %q, want %q", p, wantPath)
	}
}

// TestRawMatchesDecode: for receipts and invocations of every shape the lines read, the
// reader reads what ucan.Decode and receipts.Parse read, and the lines get the bytes the
// go-ipld-prime path wrote.
func TestRawMatchesDecode(t *testing.T) {
	rcpts, invs := sampleTokens(t)
	for _, raw := range rcpts {
		checkReceipt(t, raw)
		checkInvocation(t, raw) // a receipt is an invocation too
	}
	for _, raw := range invs {
		checkInvocation(t, raw)
	}
}

// TestRawMalformed: blocks cut short, changed or of the wrong kind are refused with a
// *ReadError saying what is wrong (wrapped in ErrCorrupt by the exporter), never a panic.
func TestRawMalformed(t *testing.T) {
	rcpts, invs := sampleTokens(t)
	good := rcpts[1]
	mutate := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name, raw string
		want      string
	}{
		{"empty", "", "unexpected end of input"},
		{"not an array", "\xa0", "envelope: want list, got map"},
		{"three elements", "\x83", "envelope has 3 elements"},
		{"indefinite", "\x9f", "indefinite-length"},
		{"non-canonical head", "\x98\x02", "not in its shortest form"},
		{"cut short", string(good[:len(good)/2]), "exceeds"},
		{"trailing byte", string(append(bytes.Clone(good), 0)), "trailing bytes"},
		{"an invocation, not a receipt", string(invs[0]), "not a receipt"},
		{"unknown tag", string(mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte("ucan/inv@"))
			b[i+5] = 'x'
			return b
		})), "payload tag"},
		{"unknown field", string(mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte("\x64meta"))
			copy(b[i+1:], "mexa")
			return b
		})), "unknown field"},
		{"key out of order", string(mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte("\x63sub"))
			copy(b[i+1:], "aaa")
			return b
		})), "sorts before"},
		{"bad link prefix", string(mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte("\x63ran\xd8\x2a"))
			b[i+4+2+2] = 1 // after the bytes head (0x58 0x25)
			return b
		})), "0x00 multibase prefix"},
		{"float32", string(mutate(func(b []byte) []byte {
			i := bytes.Index(b, []byte("\x62ts"))
			b[i+3] = 0xfa
			return b
		})), "floats must be 64-bit"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := readReceipt([]byte(c.raw))
			var re *ReadError
			if !errors.As(err, &re) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("readReceipt: %v, want a *ReadError saying %q", err, c.want)
			}
			checkReceipt(t, []byte(c.raw))
		})
	}
}

// TestRawOffsets: a *ReadError's Offset is a byte of the block, for a bad value in meta
// (where the value starts) and for a field meta lacks (where meta starts), not one
// counted from meta or 0.
func TestRawOffsets(t *testing.T) {
	rcpts, _ := sampleTokens(t)
	good := rcpts[1]
	meta := bytes.Index(good, []byte("\x64meta")) + 5
	ts := bytes.Index(good, []byte("\x62ts")) + 3
	seq := bytes.Index(good, []byte("\x63seq")) + 4
	for _, c := range []struct {
		name   string
		at     int
		change func([]byte)
	}{
		{"negative meta.seq", seq, func(b []byte) { b[seq] |= cbor.MajorNegint << 5 }},
		{"no meta.ts", meta, func(b []byte) { b[ts-1] = 't' }},
	} {
		raw := bytes.Clone(good)
		c.change(raw)
		_, err := readReceipt(raw)
		var re *ReadError
		if !errors.As(err, &re) || re.Offset != c.at {
			t.Fatalf("%s: readReceipt: %v, want a *ReadError at byte %d", c.name, err, c.at)
		}
	}
}

// TestAppendCID: CID strings are what go-cid writes, v0 and v1.
func TestAppendCID(t *testing.T) {
	v1 := machinestest.Link(t)
	v0, err := cid.Decode("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []cid.Cid{v1, v0, cid.NewCidV1(cid.Raw, v1.Hash()), machinestest.CAR(t)} {
		if err := checkCID(c.Bytes()); err != nil {
			t.Fatalf("checkCID(%s): %v", c, err)
		}
		if got := string(cidtext.Append(nil, c.Bytes())); got != c.String() {
			t.Fatalf("cidtext.Append = %s, want %s", got, c)
		}
		if got := string(cidtext.Append(nil, c.KeyString())); got != c.String() {
			t.Fatalf("cidtext.Append of the key string = %s, want %s", got, c)
		}
	}
	for _, b := range [][]byte{nil, {0x12, 0x20, 1}, {2, 0x71, 0x12, 1, 0}, {1, 0x71, 0x12, 3, 0}, append(v1.Bytes(), 0)} {
		if checkCID(b) == nil {
			t.Fatalf("checkCID(%x) accepted", b)
		}
	}
}

// FuzzReadReceipt feeds arbitrary bytes to the reader as a receipt's and an invocation's
// block (seeds: sampleTokens and testdata/fuzz/FuzzReadReceipt): checkReceipt and
// checkInvocation's properties hold.
func FuzzReadReceipt(f *testing.F) {
	rcpts, invs := sampleTokens(f)
	for _, raw := range append(rcpts, invs...) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkReceipt(t, raw)
		checkInvocation(t, raw)
	})
}

// TestExportState: logs/messages and logs/ran values round-trip, and garbled ones are
// errors, not panics.
func TestExportState(t *testing.T) {
	a, b := machinestest.Link(t), machinestest.Link(t)
	m := b.KeyString()
	invs := map[string]*invocation{a.KeyString(): {message: m}, b.KeyString(): {}}
	v, err := encodeMessages(42, invs)
	if err != nil {
		t.Fatal(err)
	}
	end, msgs, err := decodeMessages(v)
	if mb, ok := msgs[b.KeyString()]; err != nil || end != 42 || len(msgs) != 2 || msgs[a.KeyString()] != m || !ok || mb != "" {
		t.Fatalf("decodeMessages(encodeMessages) = %d, %v, %v", end, msgs, err)
	}
	for _, bad := range [][]byte{nil, {1, 2}, append(v[:8:8], 3, 1), append(v[:8:8], 2, 1, 2, 0), append(bytes.Clone(v), 1)} {
		if _, _, err := decodeMessages(bad); err == nil {
			t.Fatalf("decodeMessages(%x) accepted", bad)
		}
	}
	// A CID too long for its length byte is refused, not written cut short.
	mh, err := multihash.Sum(bytes.Repeat([]byte{7}, maxStateCID), multihash.IDENTITY, -1)
	if err != nil {
		t.Fatal(err)
	}
	long := cid.NewCidV1(cid.Raw, mh)
	ls := long.KeyString()
	for _, invs := range []map[string]*invocation{{long.KeyString(): {}}, {a.KeyString(): {message: ls}}} {
		if v, err := encodeMessages(42, invs); err == nil {
			t.Fatalf("encodeMessages wrote a %d-byte CID: %x", long.ByteLen(), v)
		}
	}
	if got, err := markedMessage(marker(nil, m)); err != nil || got != m {
		t.Fatalf("markedMessage(marker(%s)) = %x, %v", b, got, err)
	}
	if got, err := markedMessage(marker(nil, "")); err != nil || got != "" {
		t.Fatalf("markedMessage(marker(none)) = %x, %v", got, err)
	}
	for _, bad := range [][]byte{{2}, {ranMarker, 1, 2}} {
		if _, err := markedMessage(bad); err == nil {
			t.Fatalf("markedMessage(%x) accepted", bad)
		}
	}
}

// TestAppendDAGJSONItemKeyOrder: maps are written with their keys in bytewise order
// whether their DAG-CBOR order (shorter first) already is that (written in one pass) or
// not (written again, sorted), at every depth, and a map that is not does not disturb the
// writing of what follows it.
func TestAppendDAGJSONItemKeyOrder(t *testing.T) {
	inner := func(keys ...string) datamodel.Node {
		n, err := qp.BuildMap(basicnode.Prototype.Map, int64(len(keys)), func(ma datamodel.MapAssembler) {
			for i, k := range keys {
				qp.MapEntry(ma, k, qp.Int(int64(i)))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		name string
		n    datamodel.Node
	}{
		{"in order", inner("a", "b", "cc")},
		{"shorter after", inner("b", "aa", "ccc")},
		{"nested", func() datamodel.Node {
			n, err := qp.BuildMap(basicnode.Prototype.Map, 4, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "z", qp.Node(inner("b", "aa")))
				qp.MapEntry(ma, "ab", qp.Node(inner("a", "b")))
				qp.MapEntry(ma, "abc", qp.List(2, func(la datamodel.ListAssembler) {
					qp.ListEntry(la, qp.Node(inner("y", "xx")))
					qp.ListEntry(la, qp.Link(cidlink.Link{Cid: machinestest.Link(t)}))
				}))
				qp.MapEntry(ma, "abcd", qp.Bytes([]byte{1, 2, 3}))
			})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}()},
	} {
		want, err := encodeDAGJSON(nil, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		item, err := cbor.AppendNode(nil, tc.n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendDAGJSONItem([]byte("x"), item, 0)
		if err != nil || !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Fatalf("%s: %s (%v), want x%s", tc.name, got, err, want)
		}
	}
}
