package replay

import (
	"github.com/ipfs/go-cid"

	"github.com/w3dag/w3dag/archive"
	"github.com/w3dag/w3dag/kv"
	"github.com/w3dag/w3dag/message"
)

// IndexOnly is the dag.Archiver of a replay: the messages of the service's own
// invocations and their replies are already in the archive being replayed, so it writes
// nothing and returns the CID of the message the service archived (the same invocation or
// receipt gives the same message), which the engine indexes as the original did.
type IndexOnly struct{}

// ArchiveInvocation returns the CID of the message carrying inv (archive.InvocationMessage).
func (IndexOnly) ArchiveInvocation(_ kv.Tx, inv cid.Cid, raw []byte) (cid.Cid, error) {
	return message.CID(archive.InvocationMessage(inv, raw)), nil
}

// ArchiveReply returns the CID of the reply carrying rcpt (archive.ReplyMessage).
func (IndexOnly) ArchiveReply(_ kv.Tx, inv, rcpt cid.Cid, raw []byte) (cid.Cid, error) {
	return message.CID(archive.ReplyMessage(inv, rcpt, raw)), nil
}
