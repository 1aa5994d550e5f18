package logs

import (
	"strings"
	"unicode/utf8"
)

// The lines are written by hand (chunk.lines) rather than with encoding/json's reflection,
// which was a third of the exporter's time; the output is what encoding/json writes for
// the same Receipt and Workflow values with HTML escaping off
// (TestLinesMatchEncodingJSON, TestAppendMatchesEncodingJSON).

// appendField appends ,"name":v.
func appendField[T string | []byte](b []byte, name string, v T) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

const hex = "0123456789abcdef"

// How appendQuoted escapes.
const (
	// quoteJSON: as encoding/json without HTML escaping.
	quoteJSON = iota
	// quoteDAG: as DAG-JSON strings are written (refmt's encoder): as quoteJSON, except
	// \b and \f, written \u0008 and \u000c.
	quoteDAG
	// quoteHTML: as json.Marshal (HTML escaping on): as quoteJSON, and <, > and & as
	// \u003c, \u003e and \u0026.
	quoteHTML
)

// appendString appends s as a JSON string the way encoding/json does without HTML
// escaping: \", \\, \n, \r, \t, \b, \f, other control bytes as \u00XX, U+2028 and U+2029 escaped,
// invalid UTF-8 as \ufffd.
func appendString[T string | []byte](b []byte, s T) []byte {
	return appendQuoted(b, s, quoteJSON)
}

// plainJSON and plainHTML say which bytes appendQuoted copies as they are, without and
// with HTML escaping: ASCII from 0x20 but '"' and '\' (and '<', '>' and '&' with HTML
// escaping). One look-up a byte instead of a comparison with each.
var plainJSON, plainHTML = plainBytes(""), plainBytes("<>&")

func plainBytes(html string) (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && !strings.ContainsRune(html, rune(c))
	}
	return t
}

// appendQuoted appends s as a JSON string escaped as mode says: control bytes as \u00XX
// except \n, \r, \t and, but with quoteDAG, \b and \f.
func appendQuoted[T string | []byte](b []byte, s T, mode int) []byte {
	b = append(b, '"')
	plain := &plainJSON
	if mode == quoteHTML {
		plain = &plainHTML
	}
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b', '\f':
				if mode == quoteDAG {
					b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
				} else if c == '\b' {
					b = append(b, '\\', 'b')
				} else {
					b = append(b, '\\', 'f')
				}
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(string(s[i:min(i+utf8.UTFMax, len(s))]))
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
