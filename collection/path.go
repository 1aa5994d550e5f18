package collection

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on paths.
const (
	// MaxPathLength is the longest path string Parse and ParseRelative accept, in bytes.
	MaxPathLength = 2048
	// MaxSubjectLength is the longest subject DID, in bytes.
	MaxSubjectLength = 256
	// MaxNameLength is the longest collection name, in bytes.
	MaxNameLength = 64
	// MaxKeyLength is the longest entry key, in bytes.
	MaxKeyLength = 512
	// MaxFieldLength is the longest field segment, in bytes.
	MaxFieldLength = 256
	// MaxFields is the most field segments a path may have after the key.
	MaxFields = 32
)

// Path addresses the DAG: /<subject DID>/<collection>/<key>[/<field>…]. Collection and Key
// may be empty for paths naming a whole subject or collection (select, watch).
type Path struct {
	Subject    string
	Collection string
	Key        string
	Fields     []string
}

// Parse parses an absolute path "/did:key:z…/store/bag…[/field…]" by the grammar: the
// subject is required; collection, key and fields are optional but must be non-empty
// when present. Keys are taken as written: Spec.CheckKey checks and normalises them for
// their collection.
func Parse(s string) (Path, error) {
	if len(s) > MaxPathLength {
		return Path{}, pathError("path is " + strconv.Itoa(len(s)) + " bytes, more than the limit of " + strconv.Itoa(MaxPathLength))
	}
	if !strings.HasPrefix(s, "/") {
		return Path{}, pathError("path " + strconv.Quote(s) + " must start with \"/\"")
	}
	segs := strings.Split(s[1:], "/")
	return fromSegments(s, segs[0], segs[1:])
}

// ParseRelative parses a path relative to subject, as args.path of an invocation carries
// it: "store/bag…[/field…]". The collection is required.
func ParseRelative(subject, rel string) (Path, error) {
	if len(rel) > MaxPathLength {
		return Path{}, pathError("path is " + strconv.Itoa(len(rel)) + " bytes, more than the limit of " + strconv.Itoa(MaxPathLength))
	}
	if rel == "" {
		return Path{}, pathError("path is empty; expected <collection>[/<key>…]")
	}
	if strings.HasPrefix(rel, "/") {
		return Path{}, pathError("relative path " + quote(rel) + " must not start with \"/\"")
	}
	return fromSegments(rel, subject, strings.Split(rel, "/"))
}

func fromSegments(orig, subject string, rest []string) (Path, error) {
	in := func(err error) error { return pathError("path " + quote(orig) + ": " + err.Error()) }
	if err := CheckSubject(subject); err != nil {
		return Path{}, in(err)
	}
	p := Path{Subject: subject}
	if len(rest) == 0 {
		return p, nil
	}
	if err := CheckName(rest[0]); err != nil {
		return Path{}, in(err)
	}
	p.Collection = rest[0]
	if len(rest) == 1 {
		return p, nil
	}
	if err := checkSegment("key", rest[1], MaxKeyLength); err != nil {
		return Path{}, in(err)
	}
	p.Key = rest[1]
	fields := rest[2:]
	if len(fields) > MaxFields {
		return Path{}, pathError("path " + quote(orig) + " has " + strconv.Itoa(len(fields)) + " fields, more than the limit of " + strconv.Itoa(MaxFields))
	}
	for i, f := range fields {
		if err := checkSegment("field", f, MaxFieldLength); err != nil {
			return Path{}, pathError("path " + quote(orig) + ": field " + strconv.Itoa(i+1) + ": " + err.Error())
		}
	}
	if len(fields) > 0 {
		p.Fields = append([]string(nil), fields...)
	}
	return p, nil
}

// CheckSubject reports whether s is a DID as paths accept it: "did:<method>:<id>" with a
// lower-case method and an id of letters, digits, ".", "-", "_", ":" and %-escapes.
func CheckSubject(s string) error {
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

// CheckName reports whether s is a collection name: a letter, then letters, digits, "_"
// and "-", at most MaxNameLength bytes.
func CheckName(s string) error {
	if s == "" {
		return pathError("collection is empty")
	}
	if len(s) > MaxNameLength {
		return pathError("collection is longer than " + strconv.Itoa(MaxNameLength) + " bytes")
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
