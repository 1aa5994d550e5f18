package dag

import (
	"encoding/binary"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/kv"
)

// Key layout in kv (see the package documentation).
const (
	prefixBlock = "block/"
	prefixEntry = "entry/"
	prefixOrder = "order/"
	prefixLog   = "log/"
	// prefixSpaceLog indexes the commit log by subject: spacelog/<subject>/<seq BE8>
	// holds the same record as log/<seq BE8>, so a watcher of one space replays its
	// history without reading every other space's records.
	prefixSpaceLog   = "spacelog/"
	prefixTask       = "task/"
	prefixInvocation = "invocation/"
	prefixCounter    = "counter/"
	prefixMeta       = "meta/"
	keySeq           = prefixMeta + "seq"
	// keyService holds the DID of the service whose key signs the receipts in the store,
	// written by the first Open; every later Open (of any process sharing the store)
	// must sign with the same DID.
	keyService = prefixMeta + "service"
	// keySpaceLogFrom holds the last sequence committed before the store had a space log
	// (BE8): records at or below it are only in the global log.
	keySpaceLogFrom = prefixMeta + "spacelog-from"
)

func be64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

func blockKey(c cid.Cid) []byte { return append([]byte(prefixBlock), c.Bytes()...) }

func entryKey(p Path) []byte {
	return []byte(prefixEntry + p.Subject + "/" + p.Collection + "/" + p.Key)
}

func orderPrefix(p Path) []byte {
	return []byte(prefixOrder + p.Subject + "/" + p.Collection + "/")
}

func orderKey(p Path, order uint64) []byte { return append(orderPrefix(p), be64(order)...) }

func orderValue(status, key string) []byte {
	b := make([]byte, 0, len(status)+1+len(key))
	b = append(b, status...)
	b = append(b, 0)
	return append(b, key...)
}

func parseOrderValue(v []byte) (status, key string, err error) {
	for i, c := range v {
		if c == 0 {
			return string(v[:i]), string(v[i+1:]), nil
		}
	}
	return "", "", fmt.Errorf("%w: order index value without separator", ErrCorrupt)
}

func logKey(seq uint64) []byte { return append([]byte(prefixLog), be64(seq)...) }

func spaceLogPrefix(subject string) []byte { return []byte(prefixSpaceLog + subject + "/") }

func spaceLogKey(subject string, seq uint64) []byte {
	return append(spaceLogPrefix(subject), be64(seq)...)
}

// putLog writes the commit-log record of seq and its copy in the subject's space log.
func putLog(kt kv.Tx, seq uint64, p Path, receipt cid.Cid) error {
	rec := encodeLog(p, receipt)
	if err := kt.Put(logKey(seq), rec); err != nil {
		return err
	}
	return kt.Put(spaceLogKey(p.Subject, seq), rec)
}

func taskResultKey(task cid.Cid) []byte {
	s := task.String()
	return []byte(prefixTask + s + "/" + s + ".result")
}

func taskInvocationKey(task, inv cid.Cid) []byte {
	return []byte(prefixTask + task.String() + "/" + inv.String() + ".invocation")
}

func invocationMessageKey(inv, msg cid.Cid, out bool) []byte {
	suffix := ".in"
	if out {
		suffix = ".out"
	}
	return []byte(prefixInvocation + inv.String() + "/" + msg.String() + suffix)
}

func counterKey(name string) []byte { return []byte(prefixCounter + name) }

func encodeLog(p Path, receipt cid.Cid) []byte {
	b := appendBytes(nil, receipt.Bytes())
	return append(b, p.String()...)
}

func decodeLog(seq uint64, v []byte) (Event, error) {
	r := &reader{b: v}
	c := r.cid(false)
	if r.err != nil {
		return Event{}, fmt.Errorf("log record %d: %w", seq, r.err)
	}
	p, err := ParsePath(string(r.b))
	if err != nil {
		return Event{}, fmt.Errorf("%w: log record %d: %w", ErrCorrupt, seq, err)
	}
	return Event{Seq: seq, Path: p, Receipt: c}, nil
}

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
