package ops

import (
	"errors"
	"fmt"

	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/ucan"
	"github.com/w3dag/w3dag/ucan/policy"
)

// Path policies apply per entry: the policies of an invocation's delegations are matched
// against its args with args.path in canonical form (collection.Path.Rel of the parsed and
// canonicalised path), then — for a path below an entry — with args.path set to that
// entry, and — for a select or a watch — with args.path set to each entry the read would
// return. A policy that denies an entry therefore denies it by every route: another
// spelling of its key, a field below it, a select or a watch of its collection.

// withPath returns args (a map, or nil) with its "path" set to rel and every other field
// as it is.
func withPath(args datamodel.Node, rel string) datamodel.Node {
	nb := basicnode.Prototype.Map.NewBuilder()
	n := int64(1)
	if args != nil && args.Kind() == datamodel.Kind_Map {
		n += args.Length()
	}
	ma, err := nb.BeginMap(n)
	if err != nil {
		return nil
	}
	if args != nil && args.Kind() == datamodel.Kind_Map {
		for it := args.MapIterator(); !it.Done(); {
			k, v, err := it.Next()
			if err != nil {
				return nil
			}
			key, err := k.AsString()
			if err != nil || key == "path" {
				continue
			}
			if ma.AssembleKey().AssignString(key) != nil || ma.AssembleValue().AssignNode(v) != nil {
				return nil
			}
		}
	}
	if ma.AssembleKey().AssignString("path") != nil || ma.AssembleValue().AssignString(rel) != nil {
		return nil
	}
	if ma.Finish() != nil {
		return nil
	}
	return nb.Build()
}

// hasStatements reports whether any policy has a statement (an empty policy allows all).
func hasStatements(pols []policy.Policy) bool {
	for _, p := range pols {
		if len(p) > 0 {
			return true
		}
	}
	return false
}

// matchAll matches every policy against args within b; a spent budget is
// ErrBudgetExceeded.
func matchAll(pols []policy.Policy, args datamodel.Node, b *Budget) error {
	if args == nil {
		return fmt.Errorf("%w: args cannot be rebuilt for policy matching", ErrInvalidArgs)
	}
	for i, p := range pols {
		if err := p.CheckWithin(args, b.steps); err != nil {
			if errors.Is(err, policy.ErrTooComplex) {
				return exceeded(LimitMessageWork, b.work, "matching the policies of the invocation's proofs spent the work the message had left")
			}
			return fmt.Errorf("proof %d of the chain: %w", i, err)
		}
	}
	return nil
}

// entryRefusal is the refusal of an invocation whose policies do not hold for entry.
func entryRefusal(err error, entry dag.Path) error {
	if errors.Is(err, ErrBudgetExceeded) {
		return err
	}
	return &ucan.Error{Name: ucan.MatchError, Err: err,
		Message: fmt.Sprintf("the delegation's policy does not hold for the entry %s: %v", entry.Rel(), err)}
}

// entryFilter returns the per-entry check of a read: the policies matched against args
// with args.path set to the entry, within b. A spent budget is an error (the read fails
// with BudgetExceeded); a policy that does not hold skips the entry.
func entryFilter(pols []policy.Policy, args datamodel.Node, b *Budget) func(dag.Path) (bool, error) {
	return func(ep dag.Path) (bool, error) {
		err := matchAll(pols, withPath(args, ep.Rel()), b)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, ErrBudgetExceeded):
			return false, err
		default:
			return false, nil
		}
	}
}
