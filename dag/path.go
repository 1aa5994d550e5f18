package dag

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// Limits on paths.
const (
	// MaxPathLength is the longest path string ParsePath and ParseRelative accept, in bytes.
	MaxPathLength = 2048
	// MaxSubjectLength is the longest subject DID, in bytes.
	MaxSubjectLength = 256
	// MaxCollectionLength is the longest collection name, in bytes.
	MaxCollectionLength = 64
	// MaxKeyLength is the longest entry key, in bytes.
	MaxKeyLength = 512
	// MaxFieldLength is the longest field segment, in bytes.
	MaxFieldLength = 256
	// MaxFields is the most field segments a path may have after the key.
	MaxFields = 32
)

// CodecCAR is the multicodec of a CAR file (0x0202); store keys must be CIDs with it.
const CodecCAR = 0x0202

// KeyRule says how the keys of a collection are written.
type KeyRule int

const (
	// KeyString is any non-empty segment without control characters or "/".
	KeyString KeyRule = iota
	// KeyCID is a CID in its canonical string form (CIDv0 base58btc, CIDv1 base32); other
	// bases are accepted and normalised.
	KeyCID
	// KeyCARCID is a CID whose codec is CodecCAR.
	KeyCARCID
)

// keyRules are the key rules of the built-in collections; every other collection uses
// KeyString.
var keyRules = map[string]KeyRule{
	"store":    KeyCARCID,
	"upload":   KeyCID,
	"carwhere": KeyCARCID,
	"piece":    KeyCARCID,
	"task":     KeyCID,
}

// KeyRuleOf returns the key rule of a collection: KeyCARCID for store, carwhere and
// piece, KeyCID for upload and task, KeyString for every other collection.
func KeyRuleOf(collection string) KeyRule { return keyRules[collection] }

// Path addresses the DAG: /<subject DID>/<collection>/<key>[/<field>…]. Collection and Key
// may be empty for paths naming a whole subject or collection (select, watch).
type Path struct {
	Subject    string
	Collection string
	Key        string
	Fields     []string
}

// ParsePath parses an absolute path "/did:key:z…/store/bag…[/field…]". The subject is
// required; collection, key and fields are optional but must be non-empty when present.
// Keys of collections with a KeyRule are checked and normalised.
func ParsePath(s string) (Path, error) {
	if len(s) > MaxPathLength {
		return Path{}, failure(ErrInvalidPath, "path is %d bytes, more than the limit of %d", len(s), MaxPathLength)
	}
	if !strings.HasPrefix(s, "/") {
		return Path{}, failure(ErrInvalidPath, "path %q must start with \"/\"", s)
	}
	segs := strings.Split(s[1:], "/")
	return fromSegments(s, segs[0], segs[1:])
}

// ParseRelative parses a path relative to subject, as args.path of an invocation carries
// it: "store/bag…[/field…]". The collection is required.
func ParseRelative(subject, rel string) (Path, error) {
	if len(rel) > MaxPathLength {
		return Path{}, failure(ErrInvalidPath, "path is %d bytes, more than the limit of %d", len(rel), MaxPathLength)
	}
	if rel == "" {
		return Path{}, failure(ErrInvalidPath, "path is empty; expected <collection>[/<key>…]")
	}
	if strings.HasPrefix(rel, "/") {
		return Path{}, failure(ErrInvalidPath, "relative path %q must not start with \"/\"", rel)
	}
	return fromSegments(rel, subject, strings.Split(rel, "/"))
}

func fromSegments(orig, subject string, rest []string) (Path, error) {
	if err := checkSubject(subject); err != nil {
		return Path{}, failure(ErrInvalidPath, "path %q: %s", orig, err)
	}
	p := Path{Subject: subject}
	if len(rest) == 0 {
		return p, nil
	}
	if err := checkCollection(rest[0]); err != nil {
		return Path{}, failure(ErrInvalidPath, "path %q: %s", orig, err)
	}
	p.Collection = rest[0]
	if len(rest) == 1 {
		return p, nil
	}
	key, err := checkKey(p.Collection, rest[1])
	if err != nil {
		return Path{}, failure(ErrInvalidPath, "path %q: %s", orig, err)
	}
	p.Key = key
	fields := rest[2:]
	if len(fields) > MaxFields {
		return Path{}, failure(ErrInvalidPath, "path %q has %d fields, more than the limit of %d", orig, len(fields), MaxFields)
	}
	for i, f := range fields {
		if err := checkSegment("field", f, MaxFieldLength); err != nil {
			return Path{}, failure(ErrInvalidPath, "path %q: field %d: %s", orig, i+1, err)
		}
	}
	if len(fields) > 0 {
		p.Fields = append([]string(nil), fields...)
	}
	return p, nil
}

type pathError string

func (e pathError) Error() string { return string(e) }

func checkSubject(s string) error {
	if s == "" {
		return pathError("subject is empty; expected a DID")
	}
	if len(s) > MaxSubjectLength {
		return pathError("subject is longer than " + strconv.Itoa(MaxSubjectLength) + " bytes")
	}
	rest, ok := strings.CutPrefix(s, "did:")
	if !ok {
		return pathError("subject " + quote(s) + " is not a DID (must start with \"did:\")")
	}
	method, id, ok := strings.Cut(rest, ":")
	if !ok || method == "" {
		return pathError("subject " + quote(s) + " has no DID method")
	}
	for i := 0; i < len(method); i++ {
		c := method[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return pathError("subject " + quote(s) + ": DID method must be lower-case letters and digits")
		}
	}
	if id == "" || strings.HasSuffix(id, ":") {
		return pathError("subject " + quote(s) + " has an empty method-specific id")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '-', c == '_', c == ':':
		case c == '%' && i+2 < len(id) && isHex(id[i+1]) && isHex(id[i+2]):
			i += 2
		default:
			return pathError("subject " + quote(s) + ": character " + quote(string(rune(c))) + " is not allowed in a DID")
		}
	}
	return nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func checkCollection(s string) error {
	if s == "" {
		return pathError("collection is empty")
	}
	if len(s) > MaxCollectionLength {
		return pathError("collection is longer than " + strconv.Itoa(MaxCollectionLength) + " bytes")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || (i > 0 && (c >= '0' && c <= '9' || c == '_' || c == '-'))
		if !ok {
			return pathError("collection " + quote(s) + " must start with a letter and hold only letters, digits, \"_\" and \"-\"")
		}
	}
	return nil
}

func checkKey(collection, key string) (string, error) {
	if err := checkSegment("key", key, MaxKeyLength); err != nil {
		return "", err
	}
	rule := KeyRuleOf(collection)
	if rule == KeyString {
		return key, nil
	}
	c, err := cid.Decode(key)
	if err != nil {
		return "", pathError("key " + quote(key) + " of collection " + quote(collection) + " must be a CID: " + err.Error())
	}
	if rule == KeyCARCID && c.Prefix().Codec != CodecCAR {
		return "", pathError("key " + quote(key) + " of collection " + quote(collection) + " must be a CAR CID (codec 0x0202), got codec 0x" + strconv.FormatUint(c.Prefix().Codec, 16))
	}
	return c.String(), nil
}

func checkSegment(what, s string, max int) error {
	if s == "" {
		return pathError("empty " + what + " (paths have no empty segments)")
	}
	if len(s) > max {
		return pathError(what + " is longer than " + strconv.Itoa(max) + " bytes")
	}
	if !utf8.ValidString(s) {
		return pathError(what + " is not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return pathError(what + " " + quote(s) + " holds a control character")
		}
	}
	return nil
}

// String returns the absolute form "/<subject>/<collection>/<key>[/<field>…]".
func (p Path) String() string {
	var b strings.Builder
	b.WriteByte('/')
	b.WriteString(p.Subject)
	if p.Collection != "" {
		b.WriteByte('/')
		b.WriteString(p.Rel())
	}
	return b.String()
}

// Rel returns the path relative to its subject, "store/bag…[/field…]" (what args.path of
// an invocation carries); "" for a path that names only a subject.
func (p Path) Rel() string {
	if p.Collection == "" {
		return ""
	}
	s := p.Collection
	if p.Key != "" {
		s += "/" + p.Key
		for _, f := range p.Fields {
			s += "/" + f
		}
	}
	return s
}

// Entry returns the path without fields: the entry it addresses.
func (p Path) Entry() Path {
	p.Fields = nil
	return p
}

// IsEntry reports whether p names an entry (it has a key), with or without fields.
func (p Path) IsEntry() bool { return p.Key != "" }

// Contains reports whether q is p or below p, segment by segment (a zero Path contains
// every path).
func (p Path) Contains(q Path) bool {
	if p.Subject == "" {
		return true
	}
	if p.Subject != q.Subject {
		return false
	}
	if p.Collection == "" {
		return true
	}
	if p.Collection != q.Collection {
		return false
	}
	if p.Key == "" {
		return true
	}
	if p.Key != q.Key || len(p.Fields) > len(q.Fields) {
		return false
	}
	for i, f := range p.Fields {
		if q.Fields[i] != f {
			return false
		}
	}
	return true
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return strconv.Quote(s)
}
