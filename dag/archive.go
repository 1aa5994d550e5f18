package dag

import (
	"bytes"
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
	// ArchiveReply writes, through kt, the reply message that carries the receipt rcpt
	// (raw: its bytes) of the invocation inv, as the server answers a client, and returns
	// the message's CID.
	ArchiveReply(kt kv.Tx, inv, rcpt cid.Cid, raw []byte) (cid.Cid, error)
}

// archiveReply archives the reply of the operation o, run with the service's own
// invocation, through kt, and indexes it as invocation/<inv>/<msg>.out, as
// Engine.RecordReply does for the server's replies. A receipt not yet issued (a state
// change, signed when the batch flushes) is archived when it is.
func (o *writeOp) archiveReply(t *Tx) error {
	if o.res == nil {
		return nil
	}
	write := func(kt kv.Tx, rcpt *ucan.Token) error {
		return o.e.archiveReplyMessage(kt, o.inv.CID, rcpt.CID, rcpt.Raw)
	}
	if o.res.Receipt != nil {
		return write(t.kt, o.res.Receipt)
	}
	if o.pr == nil {
		return fmt.Errorf("dag: operation of %s has neither a receipt nor a pending one", o.inv.CID)
	}
	raw := t.b.raw
	o.pr.apply = append(o.pr.apply, func(tok *ucan.Token) error { return write(raw, tok) })
	return nil
}

// archiveSelf archives the self-issued invocation tok (Options.Archive) through kt and
// indexes it as client messages are: invocation/<inv>/<msg>.in and
// task/<task>/<inv>.invocation, and returns the message's CID. Without an Archiver it
// does nothing and returns cid.Undef.
func (e *Engine) archiveSelf(kt kv.Tx, tok *ucan.Token, task cid.Cid) (cid.Cid, error) {
	if e.archive == nil {
		return cid.Undef, nil
	}
	msg, err := e.archive.ArchiveInvocation(kt, tok.CID, tok.Raw)
	if err != nil {
		return cid.Undef, fmt.Errorf("archiving invocation %s: %w", tok.CID, err)
	}
	if err := kt.Put(invocationMessageKey(tok.CID, msg, false), msg.Bytes()); err != nil {
		return cid.Undef, fmt.Errorf("indexing invocation %s: %w", tok.CID, err)
	}
	if !task.Defined() {
		if task, err = tok.Invocation.Task(); err != nil {
			return cid.Undef, fmt.Errorf("computing task of %s: %w", tok.CID, err)
		}
	}
	if err := kt.Put(taskInvocationKey(task, tok.CID), tok.CID.Bytes()); err != nil {
		return cid.Undef, fmt.Errorf("indexing task of %s: %w", tok.CID, err)
	}
	return msg, nil
}

// archived reports whether the invocation inv came in (or was archived in) a message:
// it has an invocation/<inv>/<msg>.in index.
func archived(kt kv.Tx, inv cid.Cid) (bool, error) {
	prefix := []byte(prefixInvocation + inv.String() + "/")
	found := false
	err := kt.Scan(kv.ScanOptions{Start: prefix, End: kv.PrefixEnd(prefix)}, func(k, _ []byte) error {
		if bytes.HasSuffix(k, []byte(".in")) {
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

// Archive stores the service's own invocation tok, made by an earlier run of the service
// and read back from its archive (replay), as Tx.Invoke stores one it makes: as a block
// and, with Options.Archive, archived and indexed (invocation/<inv>/<msg>.in,
// task/<task>/<inv>.invocation).
func (t *Tx) Archive(tok *ucan.Token) error {
	if tok == nil || tok.Invocation == nil || tok.Invocation.Issuer != t.e.service {
		return fmt.Errorf("%w: Archive takes an invocation the service issued", ErrInvalidWrite)
	}
	if err := t.PutBlock(tok.CID, tok.Raw); err != nil {
		return err
	}
	if _, err := t.e.archiveSelf(t.kt, tok, cid.Undef); err != nil {
		return err
	}
	t.b.remember(tok)
	return nil
}

// Reply archives, with Options.Archive, the reply message carrying the receipt rcpt (a
// stored block, e.g. the head a Tx.Put returned) of the service's own invocation inv, made
// in this transaction (Tx.Invoke) or read back from the archive (Tx.Archive), and indexes
// it as invocation/<inv>/<msg>.out, as an operation run with a self-issued invocation
// archives its reply. Use it when a system write is all that inv does (the task runner's
// claims and outcomes), so that a replay of the archive finds the receipt the write got.
// Without an Archiver it does nothing.
func (t *Tx) Reply(inv *ucan.Token, rcpt cid.Cid) error {
	if inv == nil || inv.Invocation == nil || !rcpt.Defined() {
		return fmt.Errorf("%w: Reply needs an invocation and a receipt", ErrInvalidWrite)
	}
	if t.e.archive == nil {
		return nil
	}
	raw, err := t.Block(rcpt)
	if err != nil {
		return fmt.Errorf("archiving the reply of %s: %w", inv.CID, err)
	}
	return t.e.archiveReplyMessage(t.kt, inv.CID, rcpt, raw)
}

// archiveReplyMessage archives, through kt, the reply message carrying the receipt rcpt
// (raw: its bytes) of the invocation inv and indexes it as invocation/<inv>/<msg>.out.
// The engine must have an Archiver.
func (e *Engine) archiveReplyMessage(kt kv.Tx, inv, rcpt cid.Cid, raw []byte) error {
	msg, err := e.archive.ArchiveReply(kt, inv, rcpt, raw)
	if err != nil {
		return fmt.Errorf("archiving the reply of %s: %w", inv, err)
	}
	if err := kt.Put(invocationMessageKey(inv, msg, true), msg.Bytes()); err != nil {
		return fmt.Errorf("indexing the reply of %s: %w", inv, err)
	}
	return nil
}
