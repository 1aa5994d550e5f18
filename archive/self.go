package archive

import (
	"encoding/binary"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/cbor"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/message"
)

// InvocationMessage returns the agent message that carries the self-issued invocation inv
// (its CID and bytes) alone: a CAR message whose root lists inv among its invocations,
// followed by inv's block. The bytes depend on the invocation only, so its message CID
// (message.CID) does too. They are message.Encode's for that message, written directly
// (the committer makes one per self-issued invocation; TestOneMessageBytes holds the two
// to the same bytes).
func InvocationMessage(inv cid.Cid, raw []byte) []byte {
	// {Tag: {"invocations": [inv]}}
	root := rootOf("invocations", inv.ByteLen())
	root = cbor.AppendHead(root, cbor.MajorArray, 1)
	root = cbor.AppendLink(root, inv)
	return oneBlockCAR(root, inv, raw)
}

// ReplyMessage returns the reply message that carries the receipt rcpt (raw: its bytes)
// of the invocation inv, as the server answers a request of one invocation:
// {receipts: {inv: rcpt}} followed by the receipt's block. As InvocationMessage, the
// bytes are message.Encode's, written directly.
func ReplyMessage(inv, rcpt cid.Cid, raw []byte) []byte {
	// {Tag: {"receipts": {inv: rcpt}}}
	root := rootOf("receipts", 64+rcpt.ByteLen())
	root = cbor.AppendHead(root, cbor.MajorMap, 1)
	root = cbor.AppendText(root, inv.String())
	root = cbor.AppendLink(root, rcpt)
	return oneBlockCAR(root, rcpt, raw)
}

// rootOf returns the start of a message's root block with the one section field:
// {Tag: {field: — the caller appends field's value, of up to n bytes more.
func rootOf(field string, n int) []byte {
	root := make([]byte, 0, 64+n)
	root = cbor.AppendHead(root, cbor.MajorMap, 1)
	root = cbor.AppendText(root, message.Tag)
	root = cbor.AppendHead(root, cbor.MajorMap, 1)
	return cbor.AppendText(root, field)
}

// oneBlockCAR returns the CAR (v1) of a message: its DAG-CBOR root block root, then the
// block c with bytes raw, as message.EncodeCAR writes it.
func oneBlockCAR(root []byte, c cid.Cid, raw []byte) []byte {
	rc := message.Sum(message.CodecDAGCBOR, root)
	rcb, cb := rc.Bytes(), c.Bytes()
	// The header {"roots": [rc], "version": 1}, keys in DAG-CBOR order.
	header := make([]byte, 0, 32+len(rcb))
	header = cbor.AppendHead(header, cbor.MajorMap, 2)
	header = cbor.AppendText(header, "roots")
	header = cbor.AppendHead(header, cbor.MajorArray, 1)
	header = cbor.AppendLink(header, rc)
	header = cbor.AppendText(header, "version")
	header = cbor.AppendInt(header, 1)
	out := make([]byte, 0, 3*binary.MaxVarintLen64+len(header)+len(rcb)+len(root)+len(cb)+len(raw))
	out = binary.AppendUvarint(out, uint64(len(header)))
	out = append(out, header...)
	out = binary.AppendUvarint(out, uint64(len(rcb)+len(root)))
	out = append(out, rcb...)
	out = append(out, root...)
	out = binary.AppendUvarint(out, uint64(len(cb)+len(raw)))
	out = append(out, cb...)
	return append(out, raw...)
}

// ArchiveInvocation writes the agent message that carries the service's own invocation
// inv (InvocationMessage) into the outbox through kt, a transaction of the outbox's kv
// store (the caller's: the one that creates or runs the invocation, so the message is
// durable exactly when what the invocation causes is), and returns the message's CID. Run
// moves it to blob storage like any other message. It needs an outbox (Options.Outbox):
// without one it fails with ErrWrite. Writing a message again is harmless (it is one key).
func (a *Archive) ArchiveInvocation(kt kv.Tx, inv cid.Cid, raw []byte) (cid.Cid, error) {
	if a.ob == nil {
		return cid.Undef, fmt.Errorf("%w: invocation %s: the archive has no outbox to write in a transaction", ErrWrite, inv)
	}
	return a.putTx(kt, inv, InvocationMessage(inv, raw))
}

// ArchiveReply writes the reply message of the service's own invocation inv, carrying its
// receipt rcpt (raw: its bytes; ReplyMessage), into the outbox through kt, the
// transaction that issues the receipt, and returns the message's CID. As
// ArchiveInvocation, it needs an outbox.
func (a *Archive) ArchiveReply(kt kv.Tx, inv, rcpt cid.Cid, raw []byte) (cid.Cid, error) {
	if a.ob == nil {
		return cid.Undef, fmt.Errorf("%w: reply of %s: the archive has no outbox to write in a transaction", ErrWrite, inv)
	}
	return a.putTx(kt, inv, ReplyMessage(inv, rcpt, raw))
}

// putTx writes message data about invocation inv into the outbox through kt.
func (a *Archive) putTx(kt kv.Tx, inv cid.Cid, data []byte) (cid.Cid, error) {
	if len(data) > kv.MaxValueSize {
		return cid.Undef, fmt.Errorf("%w: invocation %s: its message is %d bytes, more than a kv value holds (%d)", ErrWrite, inv, len(data), kv.MaxValueSize)
	}
	msg := message.CID(data)
	if err := kt.Put(outboxKey(msg), data); err != nil {
		return cid.Undef, fmt.Errorf("%w: message %s of invocation %s: %w", ErrWrite, msg, inv, err)
	}
	a.ob.wrote(msg, nil, 0) // the caller's transaction has not committed yet: no bytes
	return msg, nil
}
