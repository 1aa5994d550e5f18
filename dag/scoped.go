package dag

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/w3dag/w3dag/kv"
)

// enginePrefixes are the prefixes of the engine's own keys (see the package
// documentation); no machine view (Tx.KV) may overlap them.
var enginePrefixes = []string{prefixBlock, prefixEntry, prefixOrder, prefixLog, prefixSpaceLog, prefixTask, prefixInvocation, prefixCounter, prefixMeta}

// checkMachinePrefix reports whether prefix may be given to a machine: it ends in "/" and
// neither holds nor lies inside one of the engine's prefixes.
func checkMachinePrefix(prefix string) error {
	if len(prefix) < 2 || !strings.HasSuffix(prefix, "/") {
		return fmt.Errorf("%w: %q (a prefix is at least one byte and a slash)", ErrReservedPrefix, prefix)
	}
	for _, r := range enginePrefixes {
		if strings.HasPrefix(prefix, r) || strings.HasPrefix(r, prefix) {
			return fmt.Errorf("%w: %q overlaps the engine's %q", ErrReservedPrefix, prefix, r)
		}
	}
	return nil
}

// scopedTx is a kv.Tx that refuses keys outside its prefix.
type scopedTx struct {
	kt     kv.Tx
	prefix string
}

var _ kv.Tx = scopedTx{}

func (s scopedTx) check(key []byte) error {
	if !bytes.HasPrefix(key, []byte(s.prefix)) {
		return fmt.Errorf("%w: key %q is outside %q", ErrOutsidePrefix, truncKey(key), s.prefix)
	}
	return nil
}

func truncKey(k []byte) string {
	if len(k) > 64 {
		return string(k[:61]) + "..."
	}
	return string(k)
}

func (s scopedTx) Get(key []byte) ([]byte, error) {
	if err := s.check(key); err != nil {
		return nil, err
	}
	return s.kt.Get(key)
}

func (s scopedTx) Put(key, value []byte) error {
	if err := s.check(key); err != nil {
		return err
	}
	return s.kt.Put(key, value)
}

func (s scopedTx) Delete(key []byte) error {
	if err := s.check(key); err != nil {
		return err
	}
	return s.kt.Delete(key)
}

// Scan clamps the range to the prefix: a nil Start or End means the prefix's first or last
// key; a bound outside the prefix is ErrOutsidePrefix.
func (s scopedTx) Scan(opts kv.ScanOptions, fn func(k, v []byte) error) error {
	if opts.Start == nil {
		opts.Start = []byte(s.prefix)
	} else if err := s.check(opts.Start); err != nil {
		return err
	}
	end := kv.PrefixEnd([]byte(s.prefix))
	if opts.End == nil {
		opts.End = end
	} else if bytes.Compare(opts.End, end) > 0 || bytes.Compare(opts.End, []byte(s.prefix)) < 0 {
		return fmt.Errorf("%w: scan end %q is outside %q", ErrOutsidePrefix, truncKey(opts.End), s.prefix)
	}
	return s.kt.Scan(opts, fn)
}

func (s scopedTx) Add(key []byte, delta int64) error {
	if err := s.check(key); err != nil {
		return err
	}
	return s.kt.Add(key, delta)
}

func (s scopedTx) Counter(key []byte) (int64, error) {
	if err := s.check(key); err != nil {
		return 0, err
	}
	return s.kt.Counter(key)
}
