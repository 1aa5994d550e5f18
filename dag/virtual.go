package dag

import (
	"fmt"
	"slices"

	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// Reader is implemented by machines of collections whose entries are named by their key
// and the first fields of a path (metrics: /<did>/metrics/<group>/<counter>), or computed
// when read: dag/get of a path in such a collection asks Read, inside the read
// transaction, instead of looking up the entry p.Entry() names. Such collections' entries
// are written with Tx.Put on the path with its naming fields, read with Tx.EntryAt, and
// listed by select under the name "<key>/<field>…".
type Reader interface {
	// Read returns the entry p addresses: a stored one (Tx.EntryAt, with its Head), or
	// one computed for the read (Head undefined; Path and State set: the engine issues a
	// receipt for the read, ran = the get invocation, not stored). Its Path is p without
	// fields or with the first fields (those that name the entry); Get looks the fields of
	// p after them up in the state. A missing entry is an error wrapping ErrNotFound.
	Read(tx *Tx, p Path) (*Entry, error)
}

// getEntry reads the entry p addresses for Get, with its head receipt's bytes: a stored
// entry, or one the collection's Reader finds or computes.
func (e *Engine) getEntry(t *Tx, inv *ucan.Token, c *resolved, p Path, seq uint64) (*Entry, []byte, error) {
	r, ok := c.Machine.(Reader)
	if !ok {
		ent, err := t.Entry(p)
		if err != nil {
			return nil, nil, err
		}
		head, err := t.Block(ent.Head)
		return ent, head, err
	}
	ent, err := r.Read(t, p)
	if err != nil {
		return nil, nil, err
	}
	ep := ent.Path
	if ep.Subject != p.Subject || ep.Collection != p.Collection || ep.Key != p.Key || len(ep.Fields) > len(p.Fields) || !slices.Equal(ep.Fields, p.Fields[:len(ep.Fields)]) {
		return nil, nil, fmt.Errorf("%w: reader of %q answered %s for %s", ErrInvalidState, p.Collection, ep, p)
	}
	if ent.Head.Defined() {
		head, err := t.Block(ent.Head)
		return ent, head, err
	}
	status, err := statusOf(ent.State)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ep, err)
	}
	rc := receipts.Receipt{Ran: inv.CID, Out: receipts.Out{Ok: ent.State}, Path: ep.String(), TS: e.clock().UnixMilli(), Seq: seq}
	tok, err := receipts.Issue(e.signer, rc, e.seal)
	if err != nil {
		return nil, nil, err
	}
	return &Entry{Path: ep, Head: tok.CID, Status: status, State: ent.State, Seq: seq}, tok.Raw, nil
}

// fieldsPath returns p with only the fields that address into ent's state (those after
// the entry's own address).
func fieldsPath(p Path, ent *Entry) Path {
	q := p
	q.Fields = p.Fields[len(ent.Path.Fields):]
	return q
}
