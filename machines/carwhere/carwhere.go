package carwhere

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/datamodel"
	"github.com/ipld/go-ipld-prime/fluent/qp"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"

	"github.com/w3dag/w3dag/collection"
	"github.com/w3dag/w3dag/dag"
	"github.com/w3dag/w3dag/internal/nodefield"
)

const (
	// Name is the name of the service collection this package keeps.
	Name = "carwhere"
	// StatusLocated is the status of every carwhere entry.
	StatusLocated = "located"
	// RecordCommand is the command of the self-issued invocation behind every change of a
	// carwhere entry; its args are {content, size, cause}.
	RecordCommand = "/carwhere/record"
	// CodecCAR is the multicodec of a CAR (0x0202); carwhere keys are CIDs with it.
	CodecCAR = collection.CodecCAR
	// KeyPrefix is the first segment of every CAR's blob key.
	KeyPrefix = "carpark"
	// MaxLocations is the most locations one entry keeps; Record refuses more.
	MaxLocations = 64
	// MaxURIs is the most URIs one location keeps.
	MaxURIs = 16
)

// Location is one place a CAR's bytes are held.
type Location struct {
	// Backend is the blob backend, e.g. "fs" or "s3".
	Backend string
	// Bucket is the bucket (s3) or folder (fs); "" when there is none.
	Bucket string
	// Region is the bucket's region; "" when there is none.
	Region string
	// Key is the object key inside the backend, e.g. "carpark/<cid>/<cid>.car".
	Key string
	// URIs are where the bytes can be fetched from.
	URIs []string
}

// Located is the state of a carwhere entry: the CAR's size and where it is held.
type Located struct {
	Size      int64
	Locations []Location
}

// BlobKey is the key of a CAR's bytes in blob storage: "carpark/<cid>/<cid>.car".
func BlobKey(c cid.Cid) string {
	s := c.String()
	return KeyPrefix + "/" + s + "/" + s + ".car"
}

// Path is the carwhere entry of the CAR c: /<service>/carwhere/<c>.
func Path(service string, c cid.Cid) dag.Path {
	return dag.Path{Subject: service, Collection: Name, Key: c.String()}
}

// same reports whether a and b name the same place (everything but the URIs).
func (l Location) same(b Location) bool {
	return l.Backend == b.Backend && l.Bucket == b.Bucket && l.Region == b.Region && l.Key == b.Key
}

func (l Location) check() error {
	if l.Backend == "" || l.Key == "" {
		return fmt.Errorf("%w: backend %q, key %q: both are required", ErrInvalidLocation, l.Backend, l.Key)
	}
	if len(l.URIs) > MaxURIs {
		return fmt.Errorf("%w: %d URIs, the limit is %d", ErrInvalidLocation, len(l.URIs), MaxURIs)
	}
	for _, u := range l.URIs {
		if u == "" {
			return fmt.Errorf("%w: empty URI at %s/%s", ErrInvalidLocation, l.Backend, l.Key)
		}
	}
	return nil
}

// Merge returns the locations of l with those of add united: a location already known
// (same backend, bucket, region and key) gains the URIs it lacked, others are appended.
// changed is false when add brings nothing new.
func (l *Located) Merge(add ...Location) (out *Located, changed bool, err error) {
	out = &Located{Size: l.Size, Locations: make([]Location, len(l.Locations))}
	for i, loc := range l.Locations {
		out.Locations[i] = Location{Backend: loc.Backend, Bucket: loc.Bucket, Region: loc.Region, Key: loc.Key, URIs: slices.Clone(loc.URIs)}
	}
	for _, a := range add {
		if err := a.check(); err != nil {
			return nil, false, err
		}
		i := slices.IndexFunc(out.Locations, a.same)
		if i < 0 {
			out.Locations = append(out.Locations, Location{Backend: a.Backend, Bucket: a.Bucket, Region: a.Region, Key: a.Key, URIs: slices.Clone(a.URIs)})
			changed = true
			continue
		}
		for _, u := range a.URIs {
			if !slices.Contains(out.Locations[i].URIs, u) {
				out.Locations[i].URIs = append(out.Locations[i].URIs, u)
				changed = true
			}
		}
		if len(out.Locations[i].URIs) > MaxURIs {
			return nil, false, fmt.Errorf("%w: %d URIs at %s/%s, the limit is %d", ErrInvalidLocation, len(out.Locations[i].URIs), a.Backend, a.Key, MaxURIs)
		}
	}
	if len(out.Locations) > MaxLocations {
		return nil, false, fmt.Errorf("%w: %d locations, the limit is %d", ErrInvalidLocation, len(out.Locations), MaxLocations)
	}
	return out, changed, nil
}

// Node returns l as the schema's CarwhereLocated: {status: "located", size, locations}.
func (l *Located) Node() (datamodel.Node, error) {
	return qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, dag.StatusKey, qp.String(StatusLocated))
		qp.MapEntry(ma, "size", qp.Int(l.Size))
		qp.MapEntry(ma, "locations", locationsNode(l.Locations))
	})
}

func locationsNode(locs []Location) qp.Assemble {
	return qp.List(int64(len(locs)), func(la datamodel.ListAssembler) {
		for _, loc := range locs {
			qp.ListEntry(la, qp.Map(-1, func(ma datamodel.MapAssembler) {
				qp.MapEntry(ma, "backend", qp.String(loc.Backend))
				if loc.Bucket != "" {
					qp.MapEntry(ma, "bucket", qp.String(loc.Bucket))
				}
				if loc.Region != "" {
					qp.MapEntry(ma, "region", qp.String(loc.Region))
				}
				qp.MapEntry(ma, "key", qp.String(loc.Key))
				qp.MapEntry(ma, "uris", qp.List(int64(len(loc.URIs)), func(ua datamodel.ListAssembler) {
					for _, u := range loc.URIs {
						qp.ListEntry(ua, qp.String(u))
					}
				}))
			}))
		}
	})
}

// Parse reads a located state (or a CarwhereInput {size, locations}, which has the same
// fields but no status).
func Parse(n datamodel.Node) (*Located, error) {
	if n == nil || n.Kind() != datamodel.Kind_Map {
		return nil, fmt.Errorf("%w: not a map", ErrInvalidState)
	}
	if s, err := n.LookupByString(dag.StatusKey); err == nil {
		if st, err := s.AsString(); err != nil || st != StatusLocated {
			return nil, fmt.Errorf("%w: status is not %q", ErrInvalidState, StatusLocated)
		}
	}
	size, err := nodefield.Int(n, "size")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidState, err)
	}
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size %d", ErrInvalidState, size)
	}
	ln, err := n.LookupByString("locations")
	if err != nil || ln.Kind() != datamodel.Kind_List {
		return nil, fmt.Errorf("%w: no locations list", ErrInvalidState)
	}
	l := &Located{Size: size}
	it := ln.ListIterator()
	for !it.Done() {
		i, v, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("%w: locations: %w", ErrInvalidState, err)
		}
		loc, err := parseLocation(v)
		if err != nil {
			return nil, fmt.Errorf("locations/%d: %w", i, err)
		}
		l.Locations = append(l.Locations, loc)
	}
	return l, nil
}

func parseLocation(n datamodel.Node) (Location, error) {
	var loc Location
	if n.Kind() != datamodel.Kind_Map {
		return loc, fmt.Errorf("%w: location is not a map", ErrInvalidState)
	}
	var err error
	if loc.Backend, err = optionalString(n, "backend", true); err != nil {
		return loc, err
	}
	if loc.Bucket, err = optionalString(n, "bucket", false); err != nil {
		return loc, err
	}
	if loc.Region, err = optionalString(n, "region", false); err != nil {
		return loc, err
	}
	if loc.Key, err = optionalString(n, "key", true); err != nil {
		return loc, err
	}
	un, err := n.LookupByString("uris")
	if err != nil || un.Kind() != datamodel.Kind_List {
		return loc, fmt.Errorf("%w: location has no uris list", ErrInvalidState)
	}
	it := un.ListIterator()
	for !it.Done() {
		_, v, err := it.Next()
		if err != nil {
			return loc, fmt.Errorf("%w: uris: %w", ErrInvalidState, err)
		}
		s, err := v.AsString()
		if err != nil {
			return loc, fmt.Errorf("%w: a uri is not a string", ErrInvalidState)
		}
		loc.URIs = append(loc.URIs, s)
	}
	return loc, nil
}

// optionalString is the string field name of the map n; a missing one is "" unless
// required.
func optionalString(n datamodel.Node, name string, required bool) (string, error) {
	s, err := nodefield.String(n, name)
	if errors.Is(err, nodefield.ErrMissing) && !required {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidState, err)
	}
	return s, nil
}

// Get returns the located state of the CAR c as the transaction sees it, or an error
// wrapping dag.ErrNotFound when the CAR is not located.
func Get(tx *dag.Tx, c cid.Cid) (*Located, error) {
	e, err := tx.Entry(Path(tx.Service(), c))
	if err != nil {
		return nil, err
	}
	return parseEntry(e)
}

// Lookup returns the located state of the CAR c and the entry holding it, or an error
// wrapping dag.ErrNotFound.
func Lookup(ctx context.Context, r EntryReader, service string, c cid.Cid) (*Located, *dag.Entry, error) {
	e, err := r.Entry(ctx, Path(service, c))
	if err != nil {
		return nil, nil, err
	}
	l, err := parseEntry(e)
	return l, e, err
}

func parseEntry(e *dag.Entry) (*Located, error) {
	l, err := Parse(e.State)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Path, err)
	}
	return l, nil
}

// EntryReader reads entries; *dag.Engine implements it.
type EntryReader interface {
	Entry(ctx context.Context, p dag.Path) (*dag.Entry, error)
}

// Record notes in the transaction that the CAR c of size bytes is held at locs: it
// creates the carwhere entry, or adds the locations it lacked. The change is the work of
// a self-issued RecordCommand invocation {content, size, cause} (cause: the invocation
// that caused it, e.g. the store put or delivery), the receipt's ran; the receipt is
// recorded as that invocation's result (dag.Tx.SetResult) and the invocation is listed in
// the fx of the receipt the engine issues for tx's operation (dag.Tx.Effect). A CAR
// already located with all of locs is left as is (no invocation, no effect). It returns
// the located state after the change. A different size than the one recorded is
// ErrSizeConflict.
func Record(tx *dag.Tx, cause, c cid.Cid, size int64, locs ...Location) (*Located, error) {
	if c.Type() != CodecCAR {
		return nil, fmt.Errorf("%w: %s has codec 0x%x", ErrNotCAR, c, c.Type())
	}
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size %d of %s", ErrSizeConflict, size, c)
	}
	cur, err := Get(tx, c)
	exists := err == nil
	switch {
	case errors.Is(err, dag.ErrNotFound):
		cur = &Located{Size: size}
	case err != nil:
		return nil, fmt.Errorf("locating %s: %w", c, err)
	case cur.Size != size:
		return nil, fmt.Errorf("%w: %s is located with %d bytes, not %d", ErrSizeConflict, c, cur.Size, size)
	}
	next, changed, err := cur.Merge(locs...)
	if err != nil {
		return nil, fmt.Errorf("locating %s: %w", c, err)
	}
	if exists && !changed {
		return cur, nil
	}
	n, err := next.Node()
	if err != nil {
		return nil, fmt.Errorf("locating %s: %w", c, err)
	}
	if !cause.Defined() {
		return nil, fmt.Errorf("locating %s: no cause", c)
	}
	args, err := qp.BuildMap(basicnode.Prototype.Map, 3, func(ma datamodel.MapAssembler) {
		qp.MapEntry(ma, "content", qp.Link(cidlink.Link{Cid: c}))
		qp.MapEntry(ma, "size", qp.Int(size))
		qp.MapEntry(ma, "cause", qp.Link(cidlink.Link{Cid: cause}))
	})
	if err != nil {
		return nil, fmt.Errorf("locating %s: %w", c, err)
	}
	inv, err := tx.Invoke(RecordCommand, args)
	if err != nil {
		return nil, fmt.Errorf("locating %s: %w", c, err)
	}
	if _, err := tx.PutEffect(Path(tx.Service(), c), inv, n); err != nil {
		return nil, fmt.Errorf("locating %s: %w", c, err)
	}
	return next, nil
}
