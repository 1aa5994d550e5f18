package dag

import (
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/ucan"
)

// Archiver writes the agent messages of the service's own invocations inside the engine's
// transactions (Options.Archive; *archive.Archive implements it). Client messages are
// archived before they reach the engine; an invocation the service issues itself is
// archived in the transaction that creates it (Tx.Invoke) or, for one made outside a
// transaction (Engine.Invoke) and run by an operation, in the transaction that runs it:
// the message is durable exactly when what the invocation causes is.
type Archiver interface {
	// ArchiveInvocation writes, through kt, the agent message that carries the
	// invocation inv (raw: its bytes) and returns the message's CID. The same
	// invocation gives the same message. kt is the operation's transaction; the
	// Archiver writes only keys of its own.
	ArchiveInvocation(kt kv.Tx, inv cid.Cid, raw []byte) (cid.Cid, error)
}

// archiveSelf archives the self-issued invocation tok (Options.Archive) through kt and
// indexes it as client messages are: invocation/<inv>/<msg>.in and
// task/<task>/<inv>.invocation. Without an Archiver it does nothing.
func (e *Engine) archiveSelf(kt kv.Tx, tok *ucan.Token, task cid.Cid) error {
	if e.archive == nil {
		return nil
	}
	msg, err := e.archive.ArchiveInvocation(kt, tok.CID, tok.Raw)
	if err != nil {
		return fmt.Errorf("archiving invocation %s: %w", tok.CID, err)
	}
	if err := kt.Put(invocationMessageKey(tok.CID, msg, false), msg.Bytes()); err != nil {
		return fmt.Errorf("indexing invocation %s: %w", tok.CID, err)
	}
	if !task.Defined() {
		if task, err = tok.Invocation.Task(); err != nil {
			return fmt.Errorf("computing task of %s: %w", tok.CID, err)
		}
	}
	if err := kt.Put(taskInvocationKey(task, tok.CID), tok.CID.Bytes()); err != nil {
		return fmt.Errorf("indexing task of %s: %w", tok.CID, err)
	}
	return nil
}

// archived reports whether the invocation inv came in (or was archived in) a message:
// it has an invocation/<inv>/<msg>.in index.
func archived(kt kv.Tx, inv cid.Cid) (bool, error) {
	prefix := []byte(prefixInvocation + inv.String() + "/")
	found := false
	err := kt.Scan(kv.ScanOptions{Start: prefix, End: kv.PrefixEnd(prefix)}, func(k, _ []byte) error {
		if len(k) > 3 && string(k[len(k)-3:]) == ".in" {
			found = true
			return kv.ErrStop
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("looking up the messages of %s: %w", inv, err)
	}
	return found, nil
}
