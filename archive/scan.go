package archive

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/blob"
)

// maxSegmentHeader bounds the CAR header of a segment (a map with one root).
const maxSegmentHeader = 64 << 10

// Scan calls fn with every message in blob storage alone — no kv index, no outbox: the
// messages of every segment (segment/…, in key order, each in CAR order), then the message
// files of their own (workflow/<msg>/<msg>, in key order). Each message's bytes are checked
// against its CID first: a message that does not match, an unreadable segment or a key
// that does not name a message is an error wrapping ErrCorrupt that names it, and ends
// the scan. A message kept twice (a segment written again after a crash, a message in a
// segment and in a file) is reported each time. fn returning blob.ErrStop ends the scan
// without error. Messages still in a kv outbox are not in blob storage: Flush first.
// The bytes fn is given are its own to keep (Scan reads every blob into a new buffer).
func Scan(ctx context.Context, blobs blob.Store, fn func(msg cid.Cid, data []byte) error) error {
	stopped := false
	call := func(msg cid.Cid, data []byte) error {
		err := fn(msg, data)
		if errors.Is(err, blob.ErrStop) {
			stopped = true
		}
		return err
	}
	err := blobs.List(ctx, SegmentPrefix, func(info blob.Info) error {
		seg, err := cid.Decode(strings.TrimPrefix(info.Key, SegmentPrefix))
		if err != nil {
			return fmt.Errorf("%w: key %s does not name a segment: %v", ErrCorrupt, info.Key, err)
		}
		data, err := readBlob(ctx, blobs, info.Key, maxSegmentSize)
		if err != nil {
			return err
		}
		return scanSegment(seg, data, call)
	})
	if err != nil || stopped {
		return err
	}
	return blobs.List(ctx, WorkflowPrefix, func(info blob.Info) error {
		rest := strings.TrimPrefix(info.Key, WorkflowPrefix)
		dir, name, ok := strings.Cut(rest, "/")
		if !ok || dir != name {
			return nil
		}
		msg, err := cid.Decode(name)
		if err != nil {
			return fmt.Errorf("%w: key %s does not name a message: %v", ErrCorrupt, info.Key, err)
		}
		data, err := readBlob(ctx, blobs, info.Key, MaxMessageSize)
		if err != nil {
			return err
		}
		if _, err := checked(msg, data); err != nil {
			return fmt.Errorf("%w (file %s)", err, info.Key)
		}
		return call(msg, data)
	})
}

// scanSegment walks the sections of a segment (a CAR v1: header, then one section a
// message: CID, bytes) and calls fn with each message, checked against its CID.
func scanSegment(seg cid.Cid, data []byte, fn func(cid.Cid, []byte) error) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: segment %s: %s", ErrCorrupt, seg, fmt.Sprintf(format, args...))
	}
	hlen, n := binary.Uvarint(data)
	if n <= 0 || hlen == 0 || hlen > maxSegmentHeader || uint64(len(data)-n) < hlen {
		return bad("bad CAR header")
	}
	pos := n + int(hlen)
	for i := 0; pos < len(data); i++ {
		slen, n := binary.Uvarint(data[pos:])
		if n <= 0 || slen == 0 || uint64(len(data)-pos-n) < slen {
			return bad("section %d is truncated", i)
		}
		section := data[pos+n : pos+n+int(slen)]
		pos += n + int(slen)
		clen, msg, err := cid.CidFromBytes(section)
		if err != nil {
			return bad("section %d: %v", i, err)
		}
		body := section[clen:]
		if _, err := checked(msg, body); err != nil {
			return fmt.Errorf("%w (section %d of segment %s)", err, i, seg)
		}
		if err := fn(msg, body); err != nil {
			return err
		}
	}
	return nil
}
