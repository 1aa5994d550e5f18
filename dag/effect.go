package dag

import (
	"fmt"

	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/ucan"
)

// PutEffect writes state at p as the whole work of inv, an invocation of this Tx
// (Tx.Invoke): Tx.Put with inv as the receipt's ran, Tx.SetResult of the entry's head
// for inv, and Tx.Effect of inv, so the operation's receipt lists inv in its fx and the
// walk from there finds the write. It is what a self-issued invocation does whose only
// work is a system write (a usage record, a carwhere update, an aggregate's new member).
// Errors are Put's and SetResult's; on one, inv is not listed.
func (t *Tx) PutEffect(p Path, inv *ucan.Token, state datamodel.Node) (*Entry, error) {
	if inv == nil || inv.Invocation == nil {
		return nil, fmt.Errorf("%w: PutEffect of %s needs an invocation", ErrInvalidWrite, p)
	}
	ent, err := t.Put(p, inv.CID, state)
	if err != nil {
		return nil, err
	}
	if err := t.SetResult(inv, ent.Head); err != nil {
		return nil, err
	}
	t.Effect(inv.CID)
	return ent, nil
}
