package schema

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	schemadmt "github.com/ipld/go-ipld-prime/schema/dmt"
	schemadsl "github.com/ipld/go-ipld-prime/schema/dsl"
)

// SystemSourceName is the name errors and Sources give the embedded system schema.
const SystemSourceName = "system.ipldsch"

// Source is one schema source: DSL text and the name errors call it by.
type Source struct {
	// Name is what errors call the source, usually its file name ("pins.ipldsch");
	// empty means "extension N", N being its index among the extensions (from 0).
	Name string
	// Text is the IPLD schema DSL.
	Text []byte
}

// sourceName is the name of extension i.
func sourceName(src Source, i int) string {
	if src.Name != "" {
		return src.Name
	}
	return fmt.Sprintf("extension %d", i)
}

// defnError is an error at a definition, before it is placed in a source: the type, and
// the field (or union member, or collection) of it at fault, or the keyword of the
// representation at fault.
type defnError struct {
	typ   string // type name, "" when unknown
	field string // field name inside typ, "" for the type itself
	word  string // a word to find inside typ's definition (e.g. "envelope"), "" for none
	err   error
}

func (e *defnError) Error() string { return e.err.Error() }
func (e *defnError) Unwrap() error { return e.err }

// atType is an error at the definition of type typ.
func atType(typ, format string, args ...any) error {
	return &defnError{typ: typ, err: fmt.Errorf(format, args...)}
}

// atField is an error at field (or member) field of type typ.
func atField(typ, field, format string, args ...any) error {
	return &defnError{typ: typ, field: field, err: fmt.Errorf(format, args...)}
}

// atWord is an error at the first line of type typ's definition holding word.
func atWord(typ, word, format string, args ...any) error {
	return &defnError{typ: typ, word: word, err: fmt.Errorf(format, args...)}
}

// locate turns err into a *LoadError of source src, finding the line of the definition
// a *defnError names in src's text.
func locate(src Source, err error) *LoadError {
	le := &LoadError{Source: src.Name, Err: err}
	var de *defnError
	if !errors.As(err, &de) || de.typ == "" {
		return le
	}
	le.Err = de.err
	lines := splitLines(src.Text)
	start, end := typeSpan(lines, de.typ)
	if start < 0 {
		return le
	}
	le.Line = start + 1
	switch {
	case de.field != "":
		// The last line in the definition starting with the field name (or "| name" in a
		// union): the last, so that a field defined twice points at the second one.
		for i := end - 1; i > start; i-- {
			if w := firstWords(lines[i]); len(w) > 0 && (w[0] == de.field || len(w) > 1 && w[0] == "|" && w[1] == de.field) {
				le.Line = i + 1
				break
			}
		}
	case de.word != "":
		for i := start; i < end; i++ {
			if containsWord(stripComment(lines[i]), de.word) {
				le.Line = i + 1
				break
			}
		}
	}
	return le
}

func splitLines(text []byte) []string {
	return strings.Split(string(bytes.ReplaceAll(text, []byte("\r\n"), []byte("\n"))), "\n")
}

// stripComment drops a # comment from a DSL line, keeping a # inside a quoted string.
func stripComment(line string) string {
	inQuote := false
	for i, r := range line {
		switch {
		case r == '"':
			inQuote = !inQuote
		case r == '#' && !inQuote:
			return line[:i]
		}
	}
	return line
}

// firstWords returns the words of a DSL line without its comment, split at spaces and
// the punctuation that may follow a name ("{", "(", ":").
func firstWords(line string) []string {
	return strings.FieldsFunc(stripComment(line), func(r rune) bool {
		return unicode.IsSpace(r) || r == '{' || r == '}' || r == '(' || r == ')' || r == ':'
	})
}

func containsWord(line, word string) bool {
	for _, w := range strings.FieldsFunc(line, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`{}()":`, r)
	}) {
		if w == word {
			return true
		}
	}
	return false
}

// typeSpan returns the lines [start, end) of the last definition of type name (the last,
// so that a type defined twice points at the second one), or -1, -1.
func typeSpan(lines []string, name string) (int, int) {
	start := -1
	for i, l := range lines {
		if w := firstWords(l); len(w) >= 2 && w[0] == "type" && w[1] == name {
			start = i
		}
	}
	if start < 0 {
		return -1, -1
	}
	end := len(lines)
	for i := start + 1; i < len(lines); i++ {
		if w := firstWords(lines[i]); len(w) > 0 && (w[0] == "type" || w[0] == "advanced") {
			end = i
			break
		}
	}
	return start, end
}

// parsePosition matches the "line:col: message" prefix of go-ipld-prime's DSL parser errors.
var parsePosition = regexp.MustCompile(`^(\d+):(\d+): (.*)$`)

// Parser errors go-ipld-prime gives for features it does not support.
var (
	todoUnionRepr     = regexp.MustCompile(`^TODO: union repr "(.*)"$`)
	unknownStructRepr = regexp.MustCompile(`^unknown struct repr: "(.*)"$`)
	unknownEnumRepr   = regexp.MustCompile(`^unknown enum repr: "(.*)"$`)
)

// parseError turns a DSL parser error on src into a *LoadError with its position,
// saying in plain words which feature is not supported where the parser says "TODO".
func parseError(src Source, err error) *LoadError {
	le := &LoadError{Source: src.Name, Err: err}
	m := parsePosition.FindStringSubmatch(err.Error())
	if m == nil {
		return le
	}
	// The parser's column is not reliable (it counts from the end of the token it
	// read last), so only its line is kept.
	le.Line, _ = strconv.Atoi(m[1])
	msg := m[3]
	lines := splitLines(src.Text)
	kind, name, _ := typeAt(lines, le.Line)
	unsupported := func(what, repr, use string) *LoadError {
		le.Err = fmt.Errorf("%s %s: representation %q is not supported (use %s)", what, name, repr, use)
		return le
	}
	switch {
	case todoUnionRepr.MatchString(msg):
		repr := todoUnionRepr.FindStringSubmatch(msg)[1]
		use := "keyed, kinded, inline or stringprefix"
		if repr == "envelope" {
			use = "inline or keyed"
		}
		return unsupported("union", repr, use)
	case unknownStructRepr.MatchString(msg):
		return unsupported("struct", unknownStructRepr.FindStringSubmatch(msg)[1], "map, tuple, stringjoin or listpairs")
	case unknownEnumRepr.MatchString(msg):
		return unsupported("enum", unknownEnumRepr.FindStringSubmatch(msg)[1], "string or int")
	case msg == "TODO: advanced":
		le.Err = errors.New("advanced data layouts are not supported")
	case msg == `unexpected token: "representation"` && name != "" && le.Line >= 1 && le.Line <= len(lines):
		repr := ""
		if w := firstWords(lines[le.Line-1]); len(w) >= 2 && w[len(w)-2] == "representation" {
			repr = w[len(w)-1]
		} else if i := slices.Index(w, "representation"); i >= 0 && i+1 < len(w) {
			repr = w[i+1]
		}
		le.Err = fmt.Errorf("%s %s: representation %q is not supported (only structs, unions and enums declare a representation; this %s has its default one)", kind, name, repr, kind)
	case strings.Contains(msg, "TODO"):
		le.Err = fmt.Errorf("unsupported schema feature: %s", strings.TrimSpace(strings.ReplaceAll(msg, "TODO:", "")))
	default:
		le.Err = fmt.Errorf("syntax error: %s", msg)
	}
	return le
}

// typeAt returns the kind ("struct", "union", "enum", "map", "list" or "type"), the
// name and the 1-based line of the type definition holding the 1-based line, or "", "", 0.
func typeAt(lines []string, line int) (kind, name string, at int) {
	for i := min(line, len(lines)) - 1; i >= 0; i-- {
		if w := firstWords(lines[i]); len(w) >= 2 && w[0] == "type" {
			kind = "type"
			if len(w) >= 3 {
				switch w[2] {
				case "struct", "union", "enum":
					kind = w[2]
				default:
					if strings.HasPrefix(w[2], "[") {
						kind = "list"
					}
				}
			}
			if strings.Contains(lines[i], "{") && kind == "type" && (len(w) < 3 || !strings.ContainsAny(w[2], "[")) {
				kind = "map"
			}
			return kind, w[1], i + 1
		}
	}
	return "", "", 0
}

// panicLine finds the line at which the DSL parser panics on src: the smallest prefix of
// whole lines that makes it panic ends with the line at fault. It returns 0 when no
// prefix panics. The parser reads sequentially, so a prefix panics exactly when it holds
// the whole construct the parser fails on; a binary search needs O(log lines) parses.
func panicLine(src []byte) int {
	lines := splitLines(src)
	panics := func(n int) bool {
		_, err := tryParse([]byte(strings.Join(lines[:n], "\n") + "\n"))
		var pp *parserPanic
		return errors.As(err, &pp)
	}
	if !panics(len(lines)) {
		return 0
	}
	lo, hi := 1, len(lines) // the answer is in [lo, hi]
	for lo < hi {
		mid := (lo + hi) / 2
		if panics(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// parserPanic is a panic of the DSL parser, caught by tryParse.
type parserPanic struct{ value any }

func (p *parserPanic) Error() string {
	return fmt.Sprintf("go-ipld-prime's schema parser cannot read this definition (it failed with: %v)", p.value)
}

// tryParse runs the DSL parser, turning its panics on malformed input (e.g. an inline
// link as a member of an inline union) into a *parserPanic error.
func tryParse(src []byte) (sch *schemadmt.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			sch, err = nil, &parserPanic{r}
		}
	}()
	return schemadsl.ParseBytes(src)
}
