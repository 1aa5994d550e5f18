package ops

import (
	"fmt"

	"github.com/ipld/go-ipld-prime/datamodel"

	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/ucan"
)

// args are the decoded arguments of a command.
type args struct {
	path  string
	value datamodel.Node // put
	query dag.Query      // select
}

// fields lists the arguments each command accepts; the ones in required must be present.
var (
	fields = map[string][]string{
		CmdPut:    {"path", "value"},
		CmdGet:    {"path"},
		CmdRemove: {"path"},
		CmdSelect: {"path", "limit", "cursor", "status"},
	}
	required = map[string][]string{
		CmdPut:    {"path", "value"},
		CmdGet:    {"path"},
		CmdRemove: {"path"},
		CmdSelect: {"path"},
	}
)

// decodeArgs reads the arguments of cmd from inv, naming the field that is wrong.
func decodeArgs(cmd string, inv *ucan.Invocation) (args, error) {
	var a args
	n := inv.Args
	if n == nil || n.Kind() != datamodel.Kind_Map {
		return a, fmt.Errorf("%w: args must be a map", ErrInvalidArgs)
	}
	allowed := fields[cmd]
	for it := n.MapIterator(); !it.Done(); {
		k, _, err := it.Next()
		if err != nil {
			return a, fmt.Errorf("%w: %v", ErrInvalidArgs, err)
		}
		key, _ := k.AsString()
		known := false
		for _, f := range allowed {
			known = known || f == key
		}
		if !known {
			return a, fmt.Errorf("%w: %s takes no argument %q (it takes %v)", ErrInvalidArgs, cmd, key, allowed)
		}
	}
	for _, f := range required[cmd] {
		if _, err := n.LookupByString(f); err != nil {
			return a, fmt.Errorf("%w: %s needs args.%s", ErrInvalidArgs, cmd, f)
		}
	}
	pn, _ := n.LookupByString("path")
	path, err := pn.AsString()
	if err != nil {
		return a, fmt.Errorf("%w: args.path must be a string, not %s", ErrInvalidArgs, pn.Kind())
	}
	a.path = path
	switch cmd {
	case CmdPut:
		a.value, _ = n.LookupByString("value")
	case CmdSelect:
		if v, err := n.LookupByString("limit"); err == nil && !v.IsNull() {
			limit, err := v.AsInt()
			if err != nil {
				return a, fmt.Errorf("%w: args.limit must be an integer, not %s", ErrInvalidArgs, v.Kind())
			}
			if limit < 1 || limit > dag.MaxSelectLimit {
				return a, fmt.Errorf("%w: args.limit %d is outside 1…%d", ErrInvalidArgs, limit, dag.MaxSelectLimit)
			}
			a.query.Limit = int(limit)
		}
		for _, f := range []struct {
			name string
			dst  *string
		}{{"cursor", &a.query.Cursor}, {"status", &a.query.Status}} {
			if v, err := n.LookupByString(f.name); err == nil && !v.IsNull() {
				s, err := v.AsString()
				if err != nil {
					return a, fmt.Errorf("%w: args.%s must be a string, not %s", ErrInvalidArgs, f.name, v.Kind())
				}
				*f.dst = s
			}
		}
	}
	return a, nil
}
