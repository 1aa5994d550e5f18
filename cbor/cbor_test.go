package cbor_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/multiformats/go-multihash"

	"github.com/w3dag/w3dag/cbor"
)

func testCID(t testing.TB, codec uint64, s string) cid.Cid {
	t.Helper()
	mh, err := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(codec, mh)
}

func build(t testing.TB, f func(na datamodel.NodeAssembler)) datamodel.Node {
	t.Helper()
	n, err := qp.BuildMap(basicnode.Prototype.Any, -1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "v", f)
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := n.LookupByString("v")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// nodes is the table both encoders must agree on.
func nodes(t testing.TB) map[string]datamodel.Node {
	v1 := testCID(t, cid.DagCBOR, "a")
	raw := testCID(t, cid.Raw, "b")
	v0 := cid.NewCidV0(testCID(t, cid.DagProtobuf, "c").Hash())
	out := map[string]datamodel.Node{
		"null":        datamodel.Null,
		"false":       basicnode.NewBool(false),
		"true":        basicnode.NewBool(true),
		"empty text":  basicnode.NewString(""),
		"unicode":     basicnode.NewString("ほげ/ふが ✓"),
		"text 24":     basicnode.NewString(strings.Repeat("x", 24)),
		"text 300":    basicnode.NewString(strings.Repeat("y", 300)),
		"text 70000":  basicnode.NewString(strings.Repeat("z", 70000)),
		"empty bytes": basicnode.NewBytes(nil),
		"bytes 23":    basicnode.NewBytes(bytes.Repeat([]byte{1}, 23)),
		"bytes 256":   basicnode.NewBytes(bytes.Repeat([]byte{2}, 256)),
		"link v1":     basicnode.NewLink(cidlink.Link{Cid: v1}),
		"link raw":    basicnode.NewLink(cidlink.Link{Cid: raw}),
		"link v0":     basicnode.NewLink(cidlink.Link{Cid: v0}),
	}
	for _, v := range []int64{0, 1, 23, 24, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, math.MaxInt64,
		-1, -24, -25, -256, -257, -65536, -65537, -1 << 32, -1<<32 - 1, math.MinInt64} {
		out[fmt.Sprint("int ", v)] = basicnode.NewInt(v)
	}
	out["uint 2^63"] = basicnode.NewUint(1 << 63)
	out["uint max"] = basicnode.NewUint(math.MaxUint64)
	for _, f := range []float64{0, math.Copysign(0, -1), 0.5, -1.5, 1, 100, 1e300, -1e-300, math.MaxFloat64, math.SmallestNonzeroFloat64, 3.141592653589793} {
		out[fmt.Sprintf("float %g (%x)", f, math.Float64bits(f))] = basicnode.NewFloat(f)
	}
	out["empty list"] = build(t, func(na datamodel.NodeAssembler) { qp.List(0, func(datamodel.ListAssembler) {})(na) })
	out["empty map"] = build(t, func(na datamodel.NodeAssembler) { qp.Map(0, func(datamodel.MapAssembler) {})(na) })
	out["list of everything"] = build(t, qp.List(-1, func(la datamodel.ListAssembler) {
		qp.ListEntry(la, qp.Null())
		qp.ListEntry(la, qp.Bool(true))
		qp.ListEntry(la, qp.Int(-7))
		qp.ListEntry(la, qp.Float(2.25))
		qp.ListEntry(la, qp.String("s"))
		qp.ListEntry(la, qp.Bytes([]byte{0, 1}))
		qp.ListEntry(la, qp.Link(cidlink.Link{Cid: v1}))
		qp.ListEntry(la, qp.List(-1, func(la datamodel.ListAssembler) { qp.ListEntry(la, qp.Int(1)) }))
	}))
	out["list of 30"] = build(t, qp.List(-1, func(la datamodel.ListAssembler) {
		for i := range 30 {
			qp.ListEntry(la, qp.Int(int64(i)))
		}
	}))
	// Keys inserted out of canonical order: different lengths, equal lengths, a longer key
	// that sorts bytewise first, the empty key and multi-byte UTF-8.
	out["nested maps"] = build(t, qp.Map(-1, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "status", qp.String("done"))
		qp.MapEntry(ma, "b", qp.Int(2))
		qp.MapEntry(ma, "aaa", qp.Map(-1, func(ma datamodel.MapAssembler) {
			qp.MapEntry(ma, "zz", qp.Float(-0.125))
			qp.MapEntry(ma, "a", qp.Bytes([]byte("x")))
			qp.MapEntry(ma, "yy", qp.Map(-1, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "é", qp.Null())
				qp.MapEntry(ma, "e", qp.Bool(false))
				qp.MapEntry(ma, "", qp.Int(-1000))
			}))
		}))
		qp.MapEntry(ma, "a", qp.Link(cidlink.Link{Cid: raw}))
		qp.MapEntry(ma, "ab", qp.List(-1, func(la datamodel.ListAssembler) {
			qp.ListEntry(la, qp.Map(-1, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "size", qp.Int(1<<40))
				qp.MapEntry(ma, "cid", qp.Link(cidlink.Link{Cid: v0}))
			}))
		}))
		qp.MapEntry(ma, "Z", qp.String("upper sorts before lower"))
	}))
	out["map of 30 keys"] = build(t, qp.Map(-1, func(ma datamodel.MapAssembler) {
		for i := 29; i >= 0; i-- {
			qp.MapEntry(ma, strings.Repeat("k", i%7+1)+string(rune('a'+i)), qp.Int(int64(i)))
		}
	}))
	return out
}

// TestAppendNodeMatchesDagcbor checks that AppendNode writes exactly what go-ipld-prime's
// dagcbor.Encode writes, and that Encode and AppendNode onto a prefix agree.
func TestAppendNodeMatchesDagcbor(t *testing.T) {
	for name, n := range nodes(t) {
		t.Run(name, func(t *testing.T) {
			var want bytes.Buffer
			if err := dagcbor.Encode(n, &want); err != nil {
				t.Fatal(err)
			}
			got, err := cbor.Encode(n)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("Encode\n got %x\nwant %x", got, want.Bytes())
			}
			prefixed, err := cbor.AppendNode([]byte{0xaa}, n)
			if err != nil || prefixed[0] != 0xaa || !bytes.Equal(prefixed[1:], want.Bytes()) {
				t.Fatalf("AppendNode onto a prefix = %x, %v", prefixed, err)
			}
		})
	}
}

// TestAppendNodeRefuses checks the nodes DAG-CBOR cannot represent.
func TestAppendNodeRefuses(t *testing.T) {
	deep := datamodel.Node(basicnode.NewInt(1))
	for range cbor.MaxDepth {
		inner := deep
		deep = build(t, qp.List(1, func(la datamodel.ListAssembler) { qp.ListEntry(la, qp.Node(inner)) }))
	}
	tests := map[string]datamodel.Node{
		"NaN":               basicnode.NewFloat(math.NaN()),
		"+Inf":              basicnode.NewFloat(math.Inf(1)),
		"-Inf in a map":     build(t, qp.Map(1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "f", qp.Float(math.Inf(-1))) })),
		"invalid UTF-8":     basicnode.NewString("a\xffb"),
		"invalid UTF-8 key": build(t, qp.Map(1, func(ma datamodel.MapAssembler) { qp.MapEntry(ma, "\xfe", qp.Int(1)) })),
		"undefined link":    basicnode.NewLink(cidlink.Link{Cid: cid.Undef}),
		"nil":               nil,
		"too deep":          deep,
	}
	for name, n := range tests {
		t.Run(name, func(t *testing.T) {
			b, err := cbor.AppendNode(nil, n)
			if !errors.Is(err, cbor.ErrUnencodable) {
				t.Fatalf("AppendNode = %x, %v; want ErrUnencodable", b, err)
			}
		})
	}
	// One level less than too deep is fine.
	ok, err := deep.LookupByIndex(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cbor.Encode(ok); err != nil {
		t.Fatalf("%d levels: %v", cbor.MaxDepth-1, err)
	}
}

// TestAppendHeadReadHead checks every argument width at its boundaries, for every major
// type that has an argument, both ways.
func TestAppendHeadReadHead(t *testing.T) {
	tests := []struct {
		n    uint64
		want []byte // for major type 0
	}{
		{0, []byte{0x00}},
		{23, []byte{0x17}},
		{24, []byte{0x18, 24}},
		{255, []byte{0x18, 0xff}},
		{256, []byte{0x19, 0x01, 0x00}},
		{65535, []byte{0x19, 0xff, 0xff}},
		{65536, []byte{0x1a, 0, 1, 0, 0}},
		{1<<32 - 1, []byte{0x1a, 0xff, 0xff, 0xff, 0xff}},
		{1 << 32, []byte{0x1b, 0, 0, 0, 1, 0, 0, 0, 0}},
		{math.MaxUint64, []byte{0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	}
	for _, tt := range tests {
		for major := byte(cbor.MajorUint); major <= cbor.MajorTag; major++ {
			want := append([]byte{tt.want[0] | major<<5}, tt.want[1:]...)
			got := cbor.AppendHead([]byte{}, major, tt.n)
			if !bytes.Equal(got, want) {
				t.Fatalf("AppendHead(%d, %d) = %x, want %x", major, tt.n, got, want)
			}
			m, arg, n, err := cbor.ReadHead(append(got, 0xff)) // a byte of what follows
			if err != nil || m != major || arg != tt.n || n != len(want) {
				t.Fatalf("ReadHead(%x) = %d, %d, %d, %v", got, m, arg, n, err)
			}
		}
	}
}

func TestReadHead(t *testing.T) {
	tests := []struct {
		name      string
		in        []byte
		major     byte
		arg       uint64
		n         int
		wantErr   error
		wantInErr string
	}{
		{"immediate", []byte{0x17}, cbor.MajorUint, 23, 1, nil, ""},
		{"negative", []byte{0x38, 24}, cbor.MajorNegint, 24, 2, nil, ""},
		{"map", []byte{0xa2, 0x61}, cbor.MajorMap, 2, 1, nil, ""},
		{"false", []byte{cbor.False}, cbor.MajorSimple, 20, 1, nil, ""},
		{"null", []byte{cbor.Null}, cbor.MajorSimple, 22, 1, nil, ""},
		{"float64 leaves its bits", []byte{cbor.Float64, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}, cbor.MajorSimple, 27, 1, nil, ""},
		{"float16", []byte{0xf9, 0x3c, 0x00}, cbor.MajorSimple, 25, 1, nil, ""},
		{"empty", nil, 0, 0, 0, cbor.ErrMalformed, "unexpected end"},
		{"1-byte short", []byte{0x18, 23}, 0, 0, 0, cbor.ErrNonCanonical, "argument 23 not in its shortest form"},
		{"2-byte short", []byte{0x59, 0x00, 0xff}, 0, 0, 0, cbor.ErrNonCanonical, "shortest"},
		{"4-byte short", []byte{0x7a, 0x00, 0x00, 0xff, 0xff}, 0, 0, 0, cbor.ErrNonCanonical, "shortest"},
		{"8-byte short", []byte{0x9b, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, 0, 0, 0, cbor.ErrNonCanonical, "shortest"},
		{"truncated 1", []byte{0x18}, 0, 0, 0, cbor.ErrMalformed, "truncated"},
		{"truncated 2", []byte{0x19, 0x01}, 0, 0, 0, cbor.ErrMalformed, "truncated"},
		{"truncated 8", []byte{0x1b, 0, 0, 0, 1, 0, 0, 0}, 0, 0, 0, cbor.ErrMalformed, "truncated"},
		{"indefinite list", []byte{0x9f}, 0, 0, 0, cbor.ErrNonCanonical, "indefinite"},
		{"indefinite text", []byte{0x7f}, 0, 0, 0, cbor.ErrNonCanonical, "indefinite"},
		{"reserved 28", []byte{0x1c}, 0, 0, 0, cbor.ErrMalformed, "reserved additional information 28"},
		{"reserved 30", []byte{0xde}, 0, 0, 0, cbor.ErrMalformed, "reserved additional information 30"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			major, arg, n, err := cbor.ReadHead(tt.in)
			if tt.wantErr != nil {
				var he *cbor.HeadError
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &he) || !strings.Contains(err.Error(), tt.wantInErr) {
					t.Fatalf("ReadHead(% x) error = %v, want a *HeadError wrapping %v mentioning %q", tt.in, err, tt.wantErr, tt.wantInErr)
				}
				return
			}
			if err != nil || major != tt.major || arg != tt.arg || n != tt.n {
				t.Fatalf("ReadHead(% x) = %d, %d, %d, %v; want %d, %d, %d", tt.in, major, arg, n, err, tt.major, tt.arg, tt.n)
			}
		})
	}
}

func TestScalars(t *testing.T) {
	c := testCID(t, cid.DagCBOR, "x")
	f, err := cbor.AppendFloat(nil, 1.5)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  []byte
		want datamodel.Node
	}{
		{"text", cbor.AppendText(nil, "héllo"), basicnode.NewString("héllo")},
		{"bytes", cbor.AppendBytes(nil, []byte{9, 8, 7}), basicnode.NewBytes([]byte{9, 8, 7})},
		{"int", cbor.AppendInt(nil, -100000), basicnode.NewInt(-100000)},
		{"bool", cbor.AppendBool(nil, true), basicnode.NewBool(true)},
		{"null", cbor.AppendNull(nil), datamodel.Null},
		{"float", f, basicnode.NewFloat(1.5)},
		{"link", cbor.AppendLink(nil, c), basicnode.NewLink(cidlink.Link{Cid: c})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want bytes.Buffer
			if err := dagcbor.Encode(tt.want, &want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(tt.got, want.Bytes()) {
				t.Fatalf("got %x, want %x", tt.got, want.Bytes())
			}
		})
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if b, err := cbor.AppendFloat([]byte{1}, bad); !errors.Is(err, cbor.ErrUnencodable) || !bytes.Equal(b, []byte{1}) {
			t.Fatalf("AppendFloat(%v) = %x, %v", bad, b, err)
		}
	}
}

func TestCompareKeys(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "a", -1},
		{"b", "aa", -1},
		{"zz", "aaa", -1},
		{"a", "b", -1},
		{"B", "a", -1},
		{"abc", "abc", 0},
		{"ab", "aa", 1},
		{"aaaa", "zzz", 1},
	}
	for _, tt := range tests {
		got := cbor.CompareKeys(tt.a, tt.b)
		if (got < 0) != (tt.want < 0) || (got == 0) != (tt.want == 0) || (got > 0) != (tt.want > 0) {
			t.Errorf("CompareKeys(%q, %q) = %d, want sign %d", tt.a, tt.b, got, tt.want)
		}
		got = cbor.CompareKeys([]byte(tt.a), []byte(tt.b))
		if (got < 0) != (tt.want < 0) || (got == 0) != (tt.want == 0) || (got > 0) != (tt.want > 0) {
			t.Errorf("CompareKeys([]byte(%q), []byte(%q)) = %d, want sign %d", tt.a, tt.b, got, tt.want)
		}
	}
	// Keys read as bytes (archive/logs) are compared in place, even past the 32 bytes a
	// string conversion can hold on the stack.
	a := []byte("bafyreibhvqwertyuiopasdfghjklzxcvbnm234567abcdefghijklmnopq")
	b := []byte("bafyreibhvqwertyuiopasdfghjklzxcvbnm234567abcdefghijklmnopr")
	if n := testing.AllocsPerRun(10, func() { cbor.CompareKeys(a, b) }); n != 0 {
		t.Errorf("CompareKeys of %d-byte []byte keys: %v allocations, want 0", len(a), n)
	}
}
