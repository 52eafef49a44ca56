// Package ssetest reads server-sent event streams exactly as a browser's
// EventSource does, for use in tests.
//
// The Parser implements the WHATWG HTML "Interpreting an event stream"
// algorithm, including its UTF-8 decoding rules, incrementally: a stream may be
// fed in chunks split at any byte, and the result is the same as parsing the
// whole stream at once. Stream is a small HTTP client built on the Parser that
// reads a live response in the background.
package ssetest

import (
	"bytes"
	"math"
	"unicode/utf8"
)

// Event is one dispatched server-sent event, as an EventSource would deliver
// it to a MessageEvent listener.
type Event struct {
	// Type is the event type: the last "event" field of the block, or
	// "message" when it was absent or empty.
	Type string
	// Data is the concatenation of the block's "data" fields, joined by LF,
	// without the trailing LF.
	Data string
	// LastEventID is the stream's last event ID at dispatch time. It persists
	// across events until an "id" field changes it.
	LastEventID string
}

// Parser is an incremental event-stream parser. The zero value is not ready
// for use; create one with NewParser. A Parser is not safe for concurrent use.
type Parser struct {
	// UTF-8 decoder state (WHATWG Encoding Standard, "UTF-8 decoder").
	cp       rune
	needed   int
	seen     int
	lower    byte
	upper    byte
	started  bool // a code point has been decoded, so the BOM check is done
	afterCR  bool // the previous code point was CR: a following LF is part of the same line ending
	line     []byte
	data     []byte
	evType   []byte
	idBuf    string // last event ID buffer
	lastID   string // last event ID string, updated on dispatch
	retry    int
	hasRetry bool
	comments int
}

// NewParser returns a Parser positioned at the start of a stream.
func NewParser() *Parser {
	return &Parser{lower: 0x80, upper: 0xBF}
}

// Parse parses a complete stream and returns its events together with the
// parser, whose Retry, Comments and LastEventID report the final state. An
// incomplete event at the end of the stream is discarded, as the
// specification requires.
func Parse(stream []byte) (events []Event, p *Parser) {
	p = NewParser()
	return p.Feed(nil, stream), p
}

// Retry returns the last valid reconnection time set by a "retry" field, in
// milliseconds. ok is false when no valid retry field has been seen. Values too
// large for an int saturate at math.MaxInt.
func (p *Parser) Retry() (ms int, ok bool) { return p.retry, p.hasRetry }

// Comments returns the number of comment lines (lines starting with ':') seen
// so far.
func (p *Parser) Comments() int { return p.comments }

// LastEventID returns the stream's last event ID string: the value a browser
// would send in the Last-Event-ID header when reconnecting. Like the
// EventSource's, it is updated from the "id" field at each blank line, whether
// or not that blank line dispatched an event.
func (p *Parser) LastEventID() string { return p.lastID }

// Feed consumes the next chunk of the stream and appends the events it
// completes to dst, returning the extended slice. Chunks may be split at any
// byte, including inside a UTF-8 sequence or between the CR and LF of a CRLF.
func (p *Parser) Feed(dst []Event, chunk []byte) []Event {
	for i := 0; i < len(chunk); {
		b := chunk[i]
		if p.needed == 0 && p.started && b != '\r' && b != '\n' {
			// Fast path: a run of line content up to the next CR or LF that
			// is valid UTF-8 on its own is appended whole.
			end := bytes.IndexAny(chunk[i:], "\r\n")
			if end < 0 {
				end = len(chunk) - i
			}
			if seg := chunk[i : i+end]; utf8.Valid(seg) {
				p.line = append(p.line, seg...)
				p.afterCR = false
				i += end
				continue
			}
		}
		if p.needed == 0 {
			if b < utf8.RuneSelf {
				i++
				dst = p.codePoint(dst, rune(b))
				continue
			}
			i++
			switch {
			case b >= 0xC2 && b <= 0xDF:
				p.needed, p.cp = 1, rune(b&0x1F)
			case b >= 0xE0 && b <= 0xEF:
				if b == 0xE0 {
					p.lower = 0xA0
				} else if b == 0xED {
					p.upper = 0x9F
				}
				p.needed, p.cp = 2, rune(b&0x0F)
			case b >= 0xF0 && b <= 0xF4:
				if b == 0xF0 {
					p.lower = 0x90
				} else if b == 0xF4 {
					p.upper = 0x8F
				}
				p.needed, p.cp = 3, rune(b&0x07)
			default:
				dst = p.codePoint(dst, utf8.RuneError)
			}
			continue
		}
		if b < p.lower || b > p.upper {
			// The byte is not a valid continuation: the sequence so far is
			// one error, and the byte is processed again as a new lead byte.
			p.cp, p.needed, p.seen = 0, 0, 0
			p.lower, p.upper = 0x80, 0xBF
			dst = p.codePoint(dst, utf8.RuneError)
			continue
		}
		i++
		p.lower, p.upper = 0x80, 0xBF
		p.cp = p.cp<<6 | rune(b&0x3F)
		p.seen++
		if p.seen == p.needed {
			cp := p.cp
			p.cp, p.needed, p.seen = 0, 0, 0
			dst = p.codePoint(dst, cp)
		}
	}
	return dst
}

// codePoint handles one decoded code point of the stream.
func (p *Parser) codePoint(dst []Event, c rune) []Event {
	if !p.started {
		p.started = true
		if c == '\uFEFF' {
			return dst
		}
	}
	switch c {
	case '\r':
		p.afterCR = true
		return p.endLine(dst)
	case '\n':
		if p.afterCR {
			p.afterCR = false
			return dst
		}
		return p.endLine(dst)
	}
	p.afterCR = false
	if c < utf8.RuneSelf {
		p.line = append(p.line, byte(c))
	} else {
		p.line = utf8.AppendRune(p.line, c)
	}
	return dst
}

// endLine processes the buffered line, which holds valid UTF-8.
func (p *Parser) endLine(dst []Event) []Event {
	line := p.line
	p.line = p.line[:0]
	if len(line) == 0 {
		return p.dispatch(dst)
	}
	if line[0] == ':' {
		p.comments++
		return dst
	}
	field, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "event":
		p.evType = append(p.evType[:0], value...)
	case "data":
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			p.idBuf = string(value)
		}
	case "retry":
		if ms, ok := parseDigits(value); ok {
			p.retry, p.hasRetry = ms, true
		}
	}
	return dst
}

// dispatch runs the "dispatch the event" steps at a blank line.
func (p *Parser) dispatch(dst []Event) []Event {
	p.lastID = p.idBuf
	if len(p.data) == 0 {
		p.evType = p.evType[:0]
		return dst
	}
	data := p.data[:len(p.data)-1] // data always ends with the LF appended by a data field
	typ := "message"
	if len(p.evType) > 0 {
		typ = string(p.evType)
	}
	dst = append(dst, Event{Type: typ, Data: string(data), LastEventID: p.lastID})
	p.data = p.data[:0]
	p.evType = p.evType[:0]
	return dst
}

// parseDigits interprets a field value made only of ASCII digits as a base-ten
// integer, saturating at math.MaxInt. An empty value or any other character
// makes it invalid.
func parseDigits(v []byte) (int, bool) {
	if len(v) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		if n > (math.MaxInt-d)/10 {
			n = math.MaxInt
		} else {
			n = n*10 + d
		}
	}
	return n, true
}
