package logs

import (
	"strconv"
	"unicode/utf8"
)

// The lines are written by hand rather than with encoding/json's reflection, which was a
// third of the exporter's time; the output is what encoding/json writes for the same
// structs with HTML escaping off (TestAppendMatchesEncodingJSON).

func (c *Common) appendJSON(b []byte) []byte {
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, c.Seq, 10)
	b = append(b, `,"ts":`...)
	b = strconv.AppendInt(b, c.TS, 10)
	b = appendField(b, "date", c.Date)
	b = appendOptional(b, "message", c.Message)
	b = appendField(b, "task", c.Task)
	b = appendField(b, "iss", c.Iss)
	b = appendOptional(b, "aud", c.Aud)
	b = appendField(b, "sub", c.Sub)
	b = appendField(b, "cmd", c.Cmd)
	b = appendField(b, "op", c.Op)
	b = append(b, `,"out":`...)
	b = appendRaw(b, c.Out)
	return appendField(b, "status", c.Status)
}

// appendJSON appends r as one line (with its newline).
func (r *Receipt) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, r.Type)
	b = appendField(b, "receipt", r.Receipt)
	b = appendField(b, "ran", r.Ran)
	b = appendEntry(b, r.Path, r.Subject, r.Collection, r.Key, &r.Common)
	b = appendOptional(b, "origin", r.Origin)
	b = append(b, `,"fx":`...)
	if r.Fx == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, f := range r.Fx {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, f)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

// appendJSON appends w as one line (with its newline).
func (w *Workflow) appendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, w.Type)
	b = appendField(b, "invocation", w.Invocation)
	b = appendField(b, "receipt", w.Receipt)
	b = appendEntry(b, w.Path, w.Subject, w.Collection, w.Key, &w.Common)
	b = append(b, `,"args":`...)
	b = appendRaw(b, w.Args)
	return append(b, "}\n"...)
}

// appendEntry appends the fields both kinds of line have after their first three: the
// path and its parts, then Common's.
func appendEntry(b []byte, path, subject, collection, key string, c *Common) []byte {
	b = appendField(b, "path", path)
	b = appendField(b, "subject", subject)
	b = appendField(b, "collection", collection)
	b = appendField(b, "key", key)
	return c.appendJSON(b)
}

func appendField(b []byte, name, v string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

func appendOptional(b []byte, name string, v *string) []byte {
	if v == nil {
		b = append(b, ',', '"')
		b = append(b, name...)
		return append(b, `":null`...)
	}
	return appendField(b, name, *v)
}

// appendRaw appends a JSON value produced by this package (DAG-JSON, compact), or null.
func appendRaw(b, raw []byte) []byte {
	if len(raw) == 0 {
		return append(b, "null"...)
	}
	return append(b, raw...)
}

const hex = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does without HTML
// escaping: \", \\, \n, \r, \t, \b, \f, other control bytes as \u00XX, U+2028 and U+2029 escaped,
// invalid UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
	return appendQuoted(b, s, true)
}

// appendQuoted appends s as a JSON string: control bytes as \u00XX except \n, \r, \t and,
// with shortBF, \b and \f.
func appendQuoted(b []byte, s string, shortBF bool) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
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
				if !shortBF {
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
		r, size := utf8.DecodeRuneInString(s[i:])
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
