package dag

import (
	"github.com/w3dag/w3dag/collection"
)

// Path addresses the DAG: /<subject DID>/<collection>/<key>[/<field>…] (see
// collection.Path). Collection and Key may be empty for paths naming a whole subject or
// collection (select, watch).
type Path = collection.Path

// ParsePath parses an absolute path "/did:key:z…/store/bag…[/field…]" by the path grammar
// (collection.Parse); a path that does not follow it fails with ErrInvalidPath. Keys are
// taken as written: Engine.Canonical checks them against their collection's key rule and
// normalises them.
func ParsePath(s string) (Path, error) {
	p, err := collection.Parse(s)
	if err != nil {
		return Path{}, failure(ErrInvalidPath, "%s", err)
	}
	return p, nil
}

// ParseRelative parses a path relative to subject, as args.path of an invocation carries
// it: "store/bag…[/field…]" (collection.ParseRelative). The collection is required. Keys
// are taken as written, as by ParsePath.
func ParseRelative(subject, rel string) (Path, error) {
	p, err := collection.ParseRelative(subject, rel)
	if err != nil {
		return Path{}, failure(ErrInvalidPath, "%s", err)
	}
	return p, nil
}
