package cbor

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ipfs/go-cid"
)

// CBOR major types: the top three bits of a head's first byte.
const (
	MajorUint   = 0
	MajorNegint = 1
	MajorBytes  = 2
	MajorText   = 3
	MajorArray  = 4
	MajorMap    = 5
	MajorTag    = 6
	MajorSimple = 7 // simple values (false, true, null) and floats
)

// TagCID is the CBOR tag DAG-CBOR uses for links, the only tag it allows.
const TagCID = 42

// The one-byte data items of DAG-CBOR, and the first byte of a 64-bit float.
const (
	False   = 0xf4
	True    = 0xf5
	Null    = 0xf6
	Float64 = 0xfb
)

// AppendHead appends the head of a data item of major type major (MajorUint..MajorTag)
// with argument n (a value, a length or a tag number), in its shortest form.
func AppendHead(b []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= math.MaxUint8:
		return append(b, m|24, byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(b, m|25), uint16(n))
	case n <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(b, m|26), uint32(n))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), n)
}

// AppendText appends s as a text string. s must be valid UTF-8 (AppendNode checks).
func AppendText(b []byte, s string) []byte {
	return append(AppendHead(b, MajorText, uint64(len(s))), s...)
}

// AppendBytes appends v as a byte string.
func AppendBytes(b, v []byte) []byte {
	return append(AppendHead(b, MajorBytes, uint64(len(v))), v...)
}

// AppendInt appends an integer.
func AppendInt(b []byte, v int64) []byte {
	if v >= 0 {
		return AppendHead(b, MajorUint, uint64(v))
	}
	return AppendHead(b, MajorNegint, uint64(-1-v))
}

// AppendBool appends false or true.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, True)
	}
	return append(b, False)
}

// AppendNull appends null.
func AppendNull(b []byte) []byte { return append(b, Null) }

// AppendFloat appends f as a 64-bit float, the only width DAG-CBOR writes. NaN and the
// infinities are refused (ErrUnencodable).
func AppendFloat(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, fmt.Errorf("%w: float %v (NaN and infinities are not allowed)", ErrUnencodable, f)
	}
	return binary.BigEndian.AppendUint64(append(b, Float64), math.Float64bits(f)), nil
}

// AppendLink appends c as a link: tag 42 over the byte string 0x00 || CID bytes. c must be
// defined.
func AppendLink(b []byte, c cid.Cid) []byte {
	return appendCIDBytes(b, c.KeyString()) // the CID's bytes, without Bytes' copy
}

func appendCIDBytes(b []byte, raw string) []byte {
	b = AppendHead(b, MajorTag, TagCID)
	b = AppendHead(b, MajorBytes, uint64(len(raw)+1))
	b = append(b, 0)
	return append(b, raw...)
}

// CompareKeys orders map keys the DAG-CBOR way: shorter first, then bytewise. It returns a
// negative number, zero or a positive number as a sorts before, with or after b. Keys
// read as bytes (archive/logs) compare without a copy: string(a) inside a comparison
// allocates nothing.
func CompareKeys[K string | []byte](a, b K) int {
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	switch {
	case string(a) < string(b):
		return -1
	case string(a) > string(b):
		return 1
	}
	return 0
}
