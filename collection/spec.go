package collection

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ipfs/go-cid"
)

// CodecCAR is the multicodec of a CAR file (0x0202); KeyCARCID keys must be CIDs with it.
const CodecCAR = 0x0202

// KeyRule says how the keys of a collection are written.
type KeyRule int

const (
	// KeyString (the zero value) is any non-empty segment without control characters or
	// "/"; keys are used as given.
	KeyString KeyRule = iota
	// KeyCID is a CID in its canonical string form (CIDv0 base58btc, CIDv1 base32);
	// other bases are accepted and normalised.
	KeyCID
	// KeyCARCID is a CID whose codec is CodecCAR, normalised like KeyCID.
	KeyCARCID
)

// String returns "string", "cid" or "car-cid".
func (r KeyRule) String() string {
	switch r {
	case KeyString:
		return "string"
	case KeyCID:
		return "cid"
	case KeyCARCID:
		return "car-cid"
	}
	return "KeyRule(" + strconv.Itoa(int(r)) + ")"
}

// Subjects is a set of the kinds of subject that have a collection.
type Subjects uint8

const (
	// Space is a user's space: a did:key subject.
	Space Subjects = 1 << iota
	// Service is the service itself: its own DID as the subject.
	Service
)

// Has reports whether s includes every kind in k.
func (s Subjects) Has(k Subjects) bool { return s&k == k && k != 0 }

// String returns "space", "service" or "space+service".
func (s Subjects) String() string {
	var parts []string
	if s&Space != 0 {
		parts = append(parts, "space")
	}
	if s&Service != 0 {
		parts = append(parts, "service")
	}
	if rest := s &^ (Space | Service); rest != 0 || len(parts) == 0 {
		parts = append(parts, "Subjects("+strconv.Itoa(int(s))+")")
	}
	return strings.Join(parts, "+")
}

// Writers says who may put and remove entries of a collection with dag/put and
// dag/remove.
type Writers int

const (
	// Authority (the zero value) is any agent with authority over the subject (a UCAN
	// chain from the space, or the service itself).
	Authority Writers = iota
	// ServiceOnly is the service alone: clients read the collection but cannot write it.
	ServiceOnly
)

// String returns "authority" or "service".
func (w Writers) String() string {
	switch w {
	case Authority:
		return "authority"
	case ServiceOnly:
		return "service"
	}
	return "Writers(" + strconv.Itoa(int(w)) + ")"
}

// Spec describes a collection. The zero values of its optional fields describe a
// collection anyone may write, keyed by strings, whose values are not tied to their key.
type Spec struct {
	// Name is the collection's path segment, e.g. "store". Required (CheckName).
	Name string
	// Subjects are the kinds of subject that have the collection. Required.
	Subjects Subjects
	// Key is how keys are written; zero is KeyString.
	Key KeyRule
	// KeyField names the link field of a put value whose CID must equal the key ("link"
	// for store, "root" for upload); "" ties no field to the key.
	KeyField string
	// Writers says who may put and remove entries; zero is Authority.
	Writers Writers
	// Type is the schema type of the collection's entries (the value type of the
	// collection's map in the Space or Service struct, e.g. "StoreEntry"); "" accepts
	// whatever type the schema gives.
	Type string
	// PublicRead makes the service's entries of the collection readable (dag/get,
	// dag/select, watch) by any validly signed invocation, without a proof from the service
	// (DESIGN §2; the service may turn this off). It concerns only the service as subject:
	// entries in spaces are always read with the space's authority, and writes are
	// unaffected. Zero is false: reads need a chain from the service. Only collections the
	// service has may set it.
	PublicRead bool
}

// Check reports whether s can be registered: a valid name, at least one subject kind, a
// known key rule and writers.
func (s Spec) Check() error {
	if err := CheckName(s.Name); err != nil {
		return specError("collection %s: %v", quote(s.Name), err)
	}
	if s.Subjects == 0 || s.Subjects&^(Space|Service) != 0 {
		return specError("collection %q: subjects %s (want space, service or both)", s.Name, s.Subjects)
	}
	if s.Key < KeyString || s.Key > KeyCARCID {
		return specError("collection %q: unknown key rule %s", s.Name, s.Key)
	}
	if s.Writers < Authority || s.Writers > ServiceOnly {
		return specError("collection %q: unknown writers %s", s.Name, s.Writers)
	}
	if s.PublicRead && !s.Subjects.Has(Service) {
		return specError("collection %q: public reads are for collections of the service, not of %s", s.Name, s.Subjects)
	}
	return nil
}

// CheckKey checks key against the collection's key rule and returns its canonical form
// (CIDs in their canonical string form; string keys as given).
func (s Spec) CheckKey(key string) (string, error) {
	if err := checkSegment("key", key, MaxKeyLength); err != nil {
		return "", err
	}
	if s.Key == KeyString {
		return key, nil
	}
	c, err := cid.Decode(key)
	if err != nil {
		return "", keyError("key %s of collection %q must be a CID (%v)", quote(key), s.Name, err)
	}
	if s.Key == KeyCARCID && c.Prefix().Codec != CodecCAR {
		return "", keyError("key %s of collection %q must be a CAR CID (codec 0x0202), got codec 0x%x", quote(key), s.Name, c.Prefix().Codec)
	}
	return c.String(), nil
}

func specError(format string, args ...any) error {
	return &Error{Kind: ErrInvalidSpec, Reason: fmt.Sprintf(format, args...)}
}

func keyError(format string, args ...any) error {
	return &Error{Kind: ErrInvalidKey, Reason: fmt.Sprintf(format, args...)}
}
