package ssekify

import (
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// Fields is a read-only view of the top-level members of a JSON object
// payload, given to SeqOptions.KeyExtractor and SeqOptions.FinalPredicate.
// Lookups scan the object without allocating; when a name occurs more than
// once the last occurrence wins, as with encoding/json. The view is valid
// only during the call it is given to: do not retain it.
type Fields struct {
	obj []byte // a well-formed JSON object
}

// Get returns the raw JSON value of the top-level member name, exactly as it
// appears in the payload (without surrounding whitespace).
func (f Fields) Get(name string) (json.RawMessage, bool) {
	var val []byte
	found := false
	it := newObjIter(f.obj)
	for {
		key, v, ok := it.next()
		if !ok {
			break
		}
		if jsonStringIs(key, name) {
			val, found = v, true
		}
	}
	if !found || !it.valid() {
		return nil, false
	}
	return val, true
}

// String returns the value of the top-level member name when it is a JSON
// string, unquoted.
func (f Fields) String(name string) (string, bool) {
	v, ok := f.Get(name)
	if !ok || v[0] != '"' {
		return "", false
	}
	return unquoteJSON(v), true
}

// Bool returns the value of the top-level member name when it is true or
// false; ok is false when the member is absent or of another type.
func (f Fields) Bool(name string) (value, ok bool) {
	v, found := f.Get(name)
	switch {
	case !found:
		return false, false
	case string(v) == "true":
		return true, true
	case string(v) == "false":
		return false, true
	}
	return false, false
}

// parseFields returns the view of data when data is one well-formed JSON
// object (surrounding whitespace allowed).
func parseFields(data []byte) (Fields, bool) {
	it := newObjIter(data)
	for {
		if _, _, ok := it.next(); !ok {
			break
		}
	}
	if !it.valid() {
		return Fields{}, false
	}
	return Fields{obj: data}, true
}

// maxJSONDepth is encoding/json's nesting limit, so that the scanner accepts
// exactly what encoding/json accepts.
const maxJSONDepth = 10000

// objIter walks the top-level members of a JSON object, validating the whole
// object (nested values included) as it goes, without allocating. next
// returns each member's raw key (with its quotes) and raw value; once it
// returns false, valid tells whether data was exactly one well-formed object
// and end is the index of its closing brace.
type objIter struct {
	b       []byte
	i       int
	end     int
	started bool
	state   uint8
}

const (
	iterMore uint8 = iota
	iterDone
	iterBad
)

func newObjIter(b []byte) objIter {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return objIter{state: iterBad}
	}
	return objIter{b: b, i: i + 1}
}

func (it *objIter) valid() bool { return it.state == iterDone }

func (it *objIter) next() (key, val []byte, ok bool) {
	if it.state != iterMore {
		return nil, nil, false
	}
	b, i := it.b, skipWS(it.b, it.i)
	// A closing brace is allowed at the start (an empty object) or after a
	// member; after a comma a member must follow, and is parsed below.
	if i < len(b) && b[i] == '}' {
		it.finish(i)
		return nil, nil, false
	}
	if it.started {
		if i >= len(b) || b[i] != ',' {
			it.state = iterBad
			return nil, nil, false
		}
		i = skipWS(b, i+1)
	}
	it.started = true
	if i >= len(b) || b[i] != '"' {
		it.state = iterBad
		return nil, nil, false
	}
	ks := i
	if i, ok = scanString(b, i); !ok {
		it.state = iterBad
		return nil, nil, false
	}
	key = b[ks:i]
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		it.state = iterBad
		return nil, nil, false
	}
	i = skipWS(b, i+1)
	vs := i
	if i, ok = scanValue(b, i, 1); !ok {
		it.state = iterBad
		return nil, nil, false
	}
	it.i = i
	return key, b[vs:i], true
}

// finish checks that only whitespace follows the closing brace at i.
func (it *objIter) finish(i int) {
	it.end = i
	if skipWS(it.b, i+1) == len(it.b) {
		it.state = iterDone
	} else {
		it.state = iterBad
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanValue validates the JSON value starting at b[i], at nesting depth
// depth (the containers around it), and returns the index just after it.
func scanValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return scanString(b, i)
	case c == '{':
		return scanContainer(b, i, depth+1, '}')
	case c == '[':
		return scanContainer(b, i, depth+1, ']')
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	}
	return i, false
}

// scanContainer validates the object or array opened at b[i].
func scanContainer(b []byte, i, depth int, closer byte) (int, bool) {
	if depth > maxJSONDepth {
		return i, false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == closer {
		return i + 1, true
	}
	for {
		var ok bool
		if closer == '}' {
			if i >= len(b) || b[i] != '"' {
				return i, false
			}
			if i, ok = scanString(b, i); !ok {
				return i, false
			}
			i = skipWS(b, i)
			if i >= len(b) || b[i] != ':' {
				return i, false
			}
			i = skipWS(b, i+1)
		}
		if i, ok = scanValue(b, i, depth); !ok {
			return i, false
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case closer:
			return i + 1, true
		case ',':
			i = skipWS(b, i+1)
		default:
			return i, false
		}
	}
}

// scanString validates the string whose opening quote is b[i], UTF-8
// included: a well-formed object is valid UTF-8 throughout.
func scanString(b []byte, i int) (int, bool) {
	for i++; i < len(b); {
		c := b[i]
		if plainByte[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return i, false
				}
				for _, h := range b[i+2 : i+6] {
					if hexVal(h) < 0 {
						return i, false
					}
				}
				i += 6
			default:
				return i, false
			}
		case c < 0x20:
			return i, false
		default: // c >= utf8.RuneSelf
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return i, false // invalid UTF-8
			}
			i += n
		}
	}
	return i, false
}

// plainByte tells the bytes that stand for themselves in a JSON string:
// ASCII, but neither a control character, a quote nor a backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func scanLiteral(b []byte, i int, lit string) (int, bool) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// scanNumber validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func scanNumber(b []byte, i int) (int, bool) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// decodeRune decodes the character at s[i] of the inside of a valid JSON
// string (quotes removed) as encoding/json does: escapes are resolved, an
// unpaired surrogate and invalid UTF-8 become U+FFFD. It returns the rune
// and the index after it.
func decodeRune(s []byte, i int) (rune, int) {
	c := s[i]
	if c != '\\' {
		if c < utf8.RuneSelf {
			return rune(c), i + 1
		}
		r, n := utf8.DecodeRune(s[i:])
		return r, i + n
	}
	switch s[i+1] {
	case 'b':
		return '\b', i + 2
	case 'f':
		return '\f', i + 2
	case 'n':
		return '\n', i + 2
	case 'r':
		return '\r', i + 2
	case 't':
		return '\t', i + 2
	case 'u':
		r := hex4(s[i+2:])
		i += 6
		if utf16.IsSurrogate(r) {
			if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
				if d := utf16.DecodeRune(r, hex4(s[i+2:])); d != utf8.RuneError {
					return d, i + 6
				}
			}
			return utf8.RuneError, i
		}
		return r, i
	}
	return rune(s[i+1]), i + 2 // '"', '\\', '/'
}

func hex4(s []byte) rune {
	if len(s) < 4 {
		return -1
	}
	var r rune
	for _, c := range s[:4] {
		v := hexVal(c)
		if v < 0 {
			return -1
		}
		r = r<<4 | v
	}
	return r
}

// jsonStringIs reports whether the raw JSON string raw (with its quotes)
// decodes to s, without allocating.
func jsonStringIs(raw []byte, s string) bool {
	if len(raw) < 2 || raw[0] != '"' {
		return false
	}
	in := raw[1 : len(raw)-1]
	plain := true
	for _, c := range in {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(in) == s
	}
	i, j := 0, 0
	for i < len(in) {
		if j >= len(s) {
			return false
		}
		var r rune
		r, i = decodeRune(in, i)
		r2, n := utf8.DecodeRuneInString(s[j:])
		if r != r2 {
			return false
		}
		j += n
	}
	return j == len(s)
}

// unquoteJSON decodes the raw JSON string raw (with its quotes).
func unquoteJSON(raw []byte) string {
	in := raw[1 : len(raw)-1]
	buf := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		var r rune
		r, i = decodeRune(in, i)
		buf = utf8.AppendRune(buf, r)
	}
	return string(buf)
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD,
// as encoding/json does, so the result is always valid UTF-8.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
