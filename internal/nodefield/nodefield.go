package nodefield

import (
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
)

// Get returns the field name of the map n: ErrNotMap when n is not a map, ErrMissing
// when the field is absent or null.
func Get(n datamodel.Node, name string) (datamodel.Node, error) {
	if n == nil || n.Kind() != datamodel.Kind_Map {
		return nil, fmt.Errorf("%w: reading %q", ErrNotMap, name)
	}
	v, err := n.LookupByString(name)
	if err != nil || v == nil || v.IsAbsent() || v.IsNull() {
		return nil, fmt.Errorf("%w: %q", ErrMissing, name)
	}
	return v, nil
}

// Int returns the integer field name of the map n (errors as Get's, or ErrKind).
func Int(n datamodel.Node, name string) (int64, error) {
	v, err := Get(n, name)
	if err != nil {
		return 0, err
	}
	i, err := v.AsInt()
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not an integer", ErrKind, name)
	}
	return i, nil
}

// String returns the string field name of the map n (errors as Get's, or ErrKind).
func String(n datamodel.Node, name string) (string, error) {
	v, err := Get(n, name)
	if err != nil {
		return "", err
	}
	s, err := v.AsString()
	if err != nil {
		return "", fmt.Errorf("%w: %q is not a string", ErrKind, name)
	}
	return s, nil
}

// Link returns the CID of the link field name of the map n (errors as Get's, or ErrKind
// for a field that is not a link or not a CID link).
func Link(n datamodel.Node, name string) (cid.Cid, error) {
	v, err := Get(n, name)
	if err != nil {
		return cid.Undef, err
	}
	l, err := v.AsLink()
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %q is not a link", ErrKind, name)
	}
	cl, ok := l.(cidlink.Link)
	if !ok || !cl.Cid.Defined() {
		return cid.Undef, fmt.Errorf("%w: %q is not a CID", ErrKind, name)
	}
	return cl.Cid, nil
}
