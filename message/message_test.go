package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
)

// token returns a DAG-CBOR block standing in for a token: a CBOR byte string.
func token(s string) Block {
	data := append([]byte{0x40 + byte(len(s))}, s...)
	return NewBlock(CodecDAGCBOR, data)
}

func TestRoundTripRequest(t *testing.T) {
	a, b, p := token("inv-a"), token("inv-b"), token("proof")
	m := &Message{Invocations: []cid.Cid{a.CID, b.CID}, Blocks: []Block{a, b, p}}
	data, err := Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Invocations) != 2 || !got.Invocations[0].Equals(a.CID) || !got.Invocations[1].Equals(b.CID) {
		t.Fatalf("invocations = %v", got.Invocations)
	}
	if len(got.Blocks) != 3 || !bytes.Equal(got.Index()[p.CID], p.Data) {
		t.Fatalf("blocks = %v", got.Blocks)
	}
	again, err := Encode(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Fatal("re-encoding a decoded message changed its bytes")
	}
	if CID(data).Type() != CodecCAR {
		t.Fatal("message CID codec is not car")
	}
}

func TestRoundTripReply(t *testing.T) {
	r1, r2 := token("receipt-1"), token("receipt-2")
	i1, i2 := token("inv-1"), token("inv-2")
	rs := []Receipt{{Invocation: i2.CID, Receipt: r2.CID}, {Invocation: i1.CID, Receipt: r1.CID}}
	SortReceipts(rs)
	data, err := Encode(&Message{Receipts: rs, Blocks: []Block{r1, r2}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Invocations) != 0 || len(got.Receipts) != 2 {
		t.Fatalf("got %+v", got)
	}
	for i := range rs {
		if got.Receipts[i] != rs[i] {
			t.Fatalf("receipt %d = %v, want %v", i, got.Receipts[i], rs[i])
		}
	}
}

func TestEncodeMissingBlock(t *testing.T) {
	a := token("a")
	if _, err := Encode(&Message{Invocations: []cid.Cid{a.CID}}); err == nil {
		t.Fatal("encoding an invocation without its block succeeded")
	}
}

func TestDecodeErrors(t *testing.T) {
	a := token("a")
	good, err := Encode(&Message{Invocations: []cid.Cid{a.CID}, Blocks: []Block{a}})
	if err != nil {
		t.Fatal(err)
	}
	car := func(roots []cid.Cid, blocks ...Block) []byte {
		b, err := EncodeCAR(roots, blocks)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rootOf := func(s string) Block { return NewBlock(CodecDAGCBOR, []byte(s)) }
	// {"w3dag/message@1": {"invocations": []}}
	emptyRoot := NewBlock(CodecDAGCBOR, append(append([]byte{0xa1, 0x6f}, Tag...), 0xa1, 0x6b, 'i', 'n', 'v', 'o', 'c', 'a', 't', 'i', 'o', 'n', 's', 0x80))
	// {"other": 1}
	otherRoot := NewBlock(CodecDAGCBOR, []byte{0xa1, 0x65, 'o', 't', 'h', 'e', 'r', 0x01})
	tampered := bytes.Clone(good)
	tampered[len(tampered)-1] ^= 0xff
	var many []cid.Cid
	var manyBlocks []Block
	for i := 0; i < 3; i++ {
		b := token(strings.Repeat("x", i+1))
		many = append(many, b.CID)
		manyBlocks = append(manyBlocks, b)
	}
	manyMsg, err := Encode(&Message{Invocations: many, Blocks: manyBlocks})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		data []byte
		lim  Limits
		want error
		msg  string
	}{
		{"empty", nil, Limits{}, ErrMalformed, "CAR header"},
		{"garbage", []byte("hello, world"), Limits{}, ErrMalformed, "CAR header"},
		{"truncated", good[:len(good)-3], Limits{}, ErrMalformed, "truncated"},
		{"tampered block", tampered, Limits{}, ErrMalformed, "integrity"},
		{"no roots", car(nil, a), Limits{}, ErrMalformed, "exactly 1 root"},
		{"two roots", car([]cid.Cid{a.CID, a.CID}, a), Limits{}, ErrMalformed, "exactly 1 root"},
		{"root missing", car([]cid.Cid{rootOf("x").CID}, a), Limits{}, ErrMalformed, "not in the CAR"},
		{"root not a map", car([]cid.Cid{a.CID}, a), Limits{}, ErrMalformed, "single key"},
		{"wrong tag", car([]cid.Cid{otherRoot.CID}, otherRoot), Limits{}, ErrMalformed, "single key"},
		{"no invocations", car([]cid.Cid{emptyRoot.CID}, emptyRoot), Limits{}, ErrMalformed, "no invocations"},
		{"invocation block missing", car([]cid.Cid{CID(good)}, Block{CID: CID(good), Data: good}), Limits{}, ErrMalformed, "not DAG-CBOR"},
		{"too large", good, Limits{MaxSize: 10}, ErrTooLarge, "limit 10"},
		{"too many invocations", manyMsg, Limits{MaxInvocations: 2}, ErrTooLarge, "3 invocations"},
		{"block too large", good, Limits{MaxBlockSize: 1}, ErrTooLarge, "limit 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data, tc.lim)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %q, want it to mention %q", err, tc.msg)
			}
		})
	}
}

func TestDecodeTestdata(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.car"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.car files")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decode(data, Limits{})
		bad := strings.HasPrefix(filepath.Base(f), "bad-")
		if bad && err == nil {
			t.Errorf("%s: decoded without error", f)
		}
		if !bad && err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	a := token("a")
	raw := NewBlock(CodecRaw, []byte{1, 2, 3})
	data, err := EncodeJSON([]cid.Cid{a.CID}, []Block{a, raw})
	if err != nil {
		t.Fatal(err)
	}
	roots, blocks, err := DecodeJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || !roots[0].Equals(a.CID) || len(blocks) != 2 ||
		!bytes.Equal(blocks[0].Data, a.Data) || !bytes.Equal(blocks[1].Data, raw.Data) {
		t.Fatalf("roots %v blocks %v", roots, blocks)
	}
	forged := bytes.Replace(data, []byte(`"data":{"/":{"bytes":"YQ"}}`), []byte(`"data":{"/":{"bytes":"Yg"}}`), 1)
	if bytes.Equal(forged, data) {
		t.Fatalf("test did not alter the document: %s", data)
	}
	if _, _, err := DecodeJSON(forged); !errors.Is(err, ErrMalformed) {
		t.Fatalf("forged block: err = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.car"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data, Limits{})
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrTooLarge: %v", err)
			}
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded message does not re-encode: %v", err)
		}
		if _, err := Decode(again, Limits{}); err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
	})
}

func TestDecodeJSONTestdata(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.json: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = DecodeJSON(data)
		if bad := strings.HasPrefix(filepath.Base(f), "bad-"); bad != (err != nil) {
			t.Errorf("%s: err = %v", f, err)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		roots, blocks, err := DecodeJSON(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		for _, b := range blocks {
			if got, err := b.CID.Prefix().Sum(b.Data); err != nil || !got.Equals(b.CID) {
				t.Fatalf("block %s does not hash to its CID", b.CID)
			}
		}
		if _, err := EncodeJSON(roots, blocks); err != nil {
			t.Fatalf("decoded blocks do not re-encode: %v", err)
		}
	})
}

// TestEncodeCARSectionLengths writes blocks whose section lengths (CID + data) need one,
// two and three varint bytes, on both sides of each boundary, and reads them back with
// go-car's reader.
func TestEncodeCARSectionLengths(t *testing.T) {
	root := token("root")
	cidLen := root.CID.ByteLen()
	for _, section := range []int{cidLen, 127, 128, 300, 16383, 16384, 70000} {
		t.Run(strconv.Itoa(section), func(t *testing.T) {
			data := bytes.Repeat([]byte{0x5a}, section-cidLen)
			b := NewBlock(CodecDAGCBOR, data)
			if got := b.CID.ByteLen() + len(b.Data); got != section {
				t.Fatalf("section of %d bytes, want %d", got, section)
			}
			enc, err := EncodeCAR([]cid.Cid{root.CID}, []Block{root, b})
			if err != nil {
				t.Fatal(err)
			}
			roots, blocks, err := DecodeCAR(enc, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if len(roots) != 1 || !roots[0].Equals(root.CID) || len(blocks) != 2 ||
				!blocks[1].CID.Equals(b.CID) || !bytes.Equal(blocks[1].Data, data) {
				t.Fatalf("read back roots %v, %d blocks", roots, len(blocks))
			}
			// The last section starts with its length as a minimal uvarint.
			head := binary.AppendUvarint(nil, uint64(section))
			if at := len(enc) - section - len(head); !bytes.Equal(enc[at:at+len(head)], head) {
				t.Fatalf("section length bytes %x, want %x", enc[at:at+len(head)], head)
			}
		})
	}
}

// TestAppendSectionHeadCIDv0 frames a block whose CID is a CIDv0 (the gateway streams
// dag-pb blocks of such CIDs) and reads it back with go-car's reader: the section holds
// the CID's bytes, the bare multihash.
func TestAppendSectionHeadCIDv0(t *testing.T) {
	data := []byte("\x0a\x02\x08\x01") // a dag-pb node: an empty UnixFS directory
	v1 := Sum(cid.DagProtobuf, data)
	v0 := cid.NewCidV0(v1.Hash())
	car := AppendCARHeader(nil, []cid.Cid{v0})
	car = AppendSectionHead(car, v0, len(data))
	car = append(car, data...)
	roots, blocks, err := decodeCARRef(car, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || !roots[0].Equals(v0) || len(blocks) != 1 || !blocks[0].CID.Equals(v0) ||
		!bytes.Equal(blocks[0].Data, data) {
		t.Fatalf("read back roots %v, blocks %v", roots, blocks)
	}
}
