package dag

import "github.com/w3dag/w3dag/cbor"

// encodePage encodes the page block {entries: [{key, head, state}]} (map keys in DAG-CBOR
// order), splicing the stored (already canonical) state bytes of entries instead of
// re-encoding them. It writes with package cbor, as encodeNode does.
func encodePage(page *Page) []byte {
	size := 16
	for _, e := range page.Entries {
		size += 64 + len(entryName(e.Path)) + len(e.stateRaw)
	}
	b := make([]byte, 0, size)
	b = cbor.AppendHead(b, cbor.MajorMap, 1)
	b = cbor.AppendText(b, "entries")
	b = cbor.AppendHead(b, cbor.MajorArray, uint64(len(page.Entries)))
	for _, e := range page.Entries {
		b = cbor.AppendHead(b, cbor.MajorMap, 3)
		b = cbor.AppendText(b, "key")
		b = cbor.AppendText(b, entryName(e.Path))
		b = cbor.AppendText(b, "head")
		b = cbor.AppendLink(b, e.Head)
		b = cbor.AppendText(b, "state")
		b = append(b, e.stateRaw...)
	}
	return b
}
