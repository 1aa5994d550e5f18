package dag

import (
	"fmt"

	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/receipts"
	"github.com/w3dag/w3dag/ucan"
)

// Reader is implemented by machines of collections whose entries are computed when read
// rather than stored, such as counters (package machines/metrics): dag/get of a path in
// such a collection asks Read, inside the read transaction, instead of looking up a
// stored entry. Such an entry has no stored receipts: its head is a receipt the engine
// issues for the read (ran = the get invocation, not stored), signed like any other.
type Reader interface {
	// Read returns the path of the entry p addresses (p without fields, or with the
	// first fields when the entry's name spans them) and its state (a map with a string
	// "status"), or an error wrapping ErrNotFound. Get looks the fields of p after the
	// entry's address up in that state.
	Read(tx *Tx, p Path) (entry Path, state datamodel.Node, err error)
}

// getEntry reads the entry p addresses for Get, with its head receipt's bytes: a stored
// entry, or one the collection's Reader computes.
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
	ep, state, err := r.Read(t, p)
	if err != nil {
		return nil, nil, err
	}
	if ep.Subject != p.Subject || ep.Collection != p.Collection || ep.Key != p.Key || len(ep.Fields) > len(p.Fields) {
		return nil, nil, fmt.Errorf("%w: reader of %q answered %s for %s", ErrInvalidState, p.Collection, ep, p)
	}
	status, err := statusOf(state)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", ep, err)
	}
	rc := receipts.Receipt{Ran: inv.CID, Out: receipts.Out{Ok: state}, Path: ep.String(), TS: e.clock().UnixMilli(), Seq: seq}
	tok, err := receipts.Issue(e.signer, rc, e.seal)
	if err != nil {
		return nil, nil, err
	}
	return &Entry{Path: ep, Head: tok.CID, Status: status, State: state, Seq: seq}, tok.Raw, nil
}

// fieldsPath returns p with only the fields that address into ent's state (those after
// the entry's own address).
func fieldsPath(p Path, ent *Entry) Path {
	q := p
	q.Fields = p.Fields[len(ent.Path.Fields):]
	return q
}
