package archive

import (
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/message"
)

// InvocationMessage returns the agent message that carries the self-issued invocation inv
// (its CID and bytes) alone: a CAR message whose root lists inv among its invocations,
// followed by inv's block. The bytes depend on the invocation only, so its message CID
// (message.CID) does too.
func InvocationMessage(inv cid.Cid, raw []byte) ([]byte, error) {
	data, err := message.Encode(&message.Message{
		Invocations: []cid.Cid{inv},
		Blocks:      []message.Block{{CID: inv, Data: raw}},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: message of invocation %s: %w", ErrWrite, inv, err)
	}
	return data, nil
}

// ReplyMessage returns the reply message that carries the receipt rcpt (raw: its bytes)
// of the invocation inv, as the server answers a request of one invocation:
// {receipts: {inv: rcpt}} followed by the receipt's block.
func ReplyMessage(inv, rcpt cid.Cid, raw []byte) ([]byte, error) {
	data, err := message.Encode(&message.Message{
		Receipts: []message.Receipt{{Invocation: inv, Receipt: rcpt}},
		Blocks:   []message.Block{{CID: rcpt, Data: raw}},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: reply of invocation %s: %w", ErrWrite, inv, err)
	}
	return data, nil
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
	data, err := InvocationMessage(inv, raw)
	if err != nil {
		return cid.Undef, err
	}
	return a.putTx(kt, inv, data)
}

// ArchiveReply writes the reply message of the service's own invocation inv, carrying its
// receipt rcpt (raw: its bytes; ReplyMessage), into the outbox through kt, the
// transaction that issues the receipt, and returns the message's CID. As
// ArchiveInvocation, it needs an outbox.
func (a *Archive) ArchiveReply(kt kv.Tx, inv, rcpt cid.Cid, raw []byte) (cid.Cid, error) {
	if a.ob == nil {
		return cid.Undef, fmt.Errorf("%w: reply of %s: the archive has no outbox to write in a transaction", ErrWrite, inv)
	}
	data, err := ReplyMessage(inv, rcpt, raw)
	if err != nil {
		return cid.Undef, err
	}
	return a.putTx(kt, inv, data)
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
	a.ob.written()
	return msg, nil
}
