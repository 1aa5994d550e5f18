package dag

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/internal/cidtext"
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

func blockKey(c cid.Cid) []byte {
	k := c.KeyString() // the CID's bytes, without Bytes' copy
	return append(append(make([]byte, 0, len(prefixBlock)+len(k)), prefixBlock...), k...)
}

// entryKey is the kv key of the entry p names: its key and, for entries named by more
// than their key (Reader collections, e.g. metrics' <group>/<counter>), its fields.
// Callers pass p without the fields that address into a state.
func entryKey(p Path) []byte {
	return joinKey(prefixEntry, p.Subject, "/", p.Collection, "/", entryName(p))
}

// joinKey returns the concatenation of parts as a key, in one allocation (a string
// concatenation converted to bytes costs two).
func joinKey(parts ...string) []byte {
	n := 0
	for _, s := range parts {
		n += len(s)
	}
	k := make([]byte, 0, n)
	for _, s := range parts {
		k = append(k, s...)
	}
	return k
}

// entryName is the name of the entry p names inside its collection: the key, followed by
// p's fields for entries named by more than their key ("store/add-total" in metrics).
// Keys never hold "/", so the name splits back into key and fields (splitEntryName).
func entryName(p Path) string {
	if len(p.Fields) == 0 {
		return p.Key
	}
	return p.Key + "/" + strings.Join(p.Fields, "/")
}

// splitEntryName returns the path of the entry named name in the collection of p.
func splitEntryName(p Path, name string) Path {
	q := Path{Subject: p.Subject, Collection: p.Collection, Key: name}
	if i := strings.IndexByte(name, '/'); i >= 0 {
		q.Key = name[:i]
		q.Fields = strings.Split(name[i+1:], "/")
	}
	return q
}

func orderPrefix(p Path) []byte {
	return joinKey(prefixOrder, p.Subject, "/", p.Collection, "/")
}

func orderKey(p Path, order uint64) []byte {
	k := make([]byte, 0, len(prefixOrder)+len(p.Subject)+1+len(p.Collection)+1+8)
	k = append(append(append(append(append(k, prefixOrder...), p.Subject...), '/'), p.Collection...), '/')
	return binary.BigEndian.AppendUint64(k, order)
}

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

func logKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(make([]byte, 0, len(prefixLog)+8), prefixLog...), seq)
}

func spaceLogPrefix(subject string) []byte { return joinKey(prefixSpaceLog, subject, "/") }

func spaceLogKey(subject string, seq uint64) []byte {
	k := make([]byte, 0, len(prefixSpaceLog)+len(subject)+1+8)
	k = append(append(append(k, prefixSpaceLog...), subject...), '/')
	return binary.BigEndian.AppendUint64(k, seq)
}

// putLog writes the commit-log record of seq and its copy in the subject's space log. The
// copy names the path relative to the subject, which its key already holds (a DID is
// most of an absolute path); decodeSpaceLog reads both forms.
func putLog(kt kv.Tx, seq uint64, p Path, receipt cid.Cid) error {
	return putLogOf(kt, seq, p, p.String(), receipt)
}

// putLogOf is putLog for a caller that has p spelled already (abs is p.String()).
func putLogOf(kt kv.Tx, seq uint64, p Path, abs string, receipt cid.Cid) error {
	if err := kt.Put(logKey(seq), logRecord(receipt, abs)); err != nil {
		return err
	}
	return kt.Put(spaceLogKey(p.Subject, seq), logRecord(receipt, p.Rel()))
}

// logRecord is a commit-log record: the receipt CID, length-prefixed, then the path.
func logRecord(receipt cid.Cid, path string) []byte {
	c := receipt.KeyString()
	b := make([]byte, 0, binary.MaxVarintLen64+len(c)+len(path))
	b = appendString(b, c)
	return append(b, path...)
}

func taskResultKey(task cid.Cid) []byte { return taskResultKeyOf(cidtext.String(task)) }

// taskResultKeyOf is taskResultKey of the task CID spelled task (cid.Cid.String).
func taskResultKeyOf(task string) []byte {
	return joinKey(prefixTask, task, "/", task, ".result")
}

func taskInvocationKey(task, inv cid.Cid) []byte {
	return taskInvocationKeyOf(cidtext.String(task), inv)
}

// taskInvocationKeyOf is taskInvocationKey of the task CID spelled task (cid.Cid.String).
func taskInvocationKeyOf(task string, inv cid.Cid) []byte {
	return joinKey(prefixTask, task, "/", cidtext.String(inv), ".invocation")
}

func invocationMessageKey(inv, msg cid.Cid, out bool) []byte {
	suffix := ".in"
	if out {
		suffix = ".out"
	}
	return []byte(prefixInvocation + inv.String() + "/" + msg.String() + suffix)
}

func counterKey(name string) []byte { return []byte(prefixCounter + name) }

func encodeLog(p Path, receipt cid.Cid) []byte { return logRecord(receipt, p.String()) }

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

// decodeSpaceLog decodes a record of subject's space log: receipt CID and the path
// relative to subject, or (records written before paths were stored relative) the
// absolute path.
func decodeSpaceLog(subject string, seq uint64, v []byte) (Event, error) {
	r := &reader{b: v}
	c := r.cid(false)
	if r.err != nil {
		return Event{}, fmt.Errorf("space log record %d: %w", seq, r.err)
	}
	s := string(r.b)
	if !strings.HasPrefix(s, "/") {
		s = "/" + subject + "/" + s
	}
	p, err := ParsePath(s)
	if err != nil {
		return Event{}, fmt.Errorf("%w: space log record %d: %w", ErrCorrupt, seq, err)
	}
	return Event{Seq: seq, Path: p, Receipt: c}, nil
}

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
