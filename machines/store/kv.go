package store

import (
	"slices"

	"github.com/w3dag/w3dag/kv"
)

var kvNotFound = kv.ErrNotFound

func scanPrefix(prefix []byte) kv.ScanOptions {
	return kv.ScanOptions{Start: prefix, End: kv.PrefixEnd(prefix)}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
