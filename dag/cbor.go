package dag

import "github.com/ipfs/go-cid"

// A minimal DAG-CBOR writer for the page block, which splices the stored (already
// canonical) state bytes of entries instead of re-encoding them.

const (
	majUint  = 0
	majBytes = 2
	majText  = 3
	majArray = 4
	majMap   = 5
	majTag   = 6
)

func cborHead(b []byte, maj byte, n uint64) []byte {
	m := maj << 5
	switch {
	case n < 24:
		return append(b, m|byte(n))
	case n <= 0xff:
		return append(b, m|24, byte(n))
	case n <= 0xffff:
		return append(b, m|25, byte(n>>8), byte(n))
	case n <= 0xffffffff:
		return append(b, m|26, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(b, m|27, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func cborText(b []byte, s string) []byte {
	b = cborHead(b, majText, uint64(len(s)))
	return append(b, s...)
}

func cborLink(b []byte, c cid.Cid) []byte {
	raw := c.Bytes()
	b = cborHead(b, majTag, 42)
	b = cborHead(b, majBytes, uint64(len(raw)+1))
	b = append(b, 0)
	return append(b, raw...)
}

// encodePage encodes {entries: [{key, head, state}]} (map keys in DAG-CBOR order).
func encodePage(page *Page) []byte {
	size := 16
	for _, e := range page.Entries {
		size += 64 + len(e.Path.Key) + len(e.stateRaw)
	}
	b := make([]byte, 0, size)
	b = cborHead(b, majMap, 1)
	b = cborText(b, "entries")
	b = cborHead(b, majArray, uint64(len(page.Entries)))
	for _, e := range page.Entries {
		b = cborHead(b, majMap, 3)
		b = cborText(b, "key")
		b = cborText(b, e.Path.Key)
		b = cborText(b, "head")
		b = cborLink(b, e.Head)
		b = cborText(b, "state")
		b = append(b, e.stateRaw...)
	}
	return b
}
