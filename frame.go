package ssekify

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// heartbeatFrame is the comment written on an idle connection. It is one
// shared constant: heartbeats allocate nothing.
var heartbeatFrame = []byte(": ping\n\n")

// validField reports whether s can be the value of an SSE id or event field:
// valid UTF-8 without CR, LF or NUL. Anything else could end the field early
// and inject fields or events of the attacker's choosing.
func validField(s string) bool {
	return !strings.ContainsAny(s, "\r\n\x00") && utf8.ValidString(s)
}

// encodeFrame builds the bytes of one SSE event: an id line (when id is not
// empty), an event line (when name is not empty), one data line per line of
// data (split on CRLF, CR and LF) and a blank line. It rejects, with
// ErrInvalidEvent, a name or id that validField refuses and data that is not
// valid UTF-8, so a conforming parser always recovers exactly this one event.
// The result is allocated once at its exact size.
func encodeFrame(id, name string, data []byte) ([]byte, error) {
	if !validField(id) {
		return nil, fmt.Errorf("%w: id %q contains CR, LF, NUL or invalid UTF-8", ErrInvalidEvent, clip(id))
	}
	if !validField(name) {
		return nil, fmt.Errorf("%w: event name %q contains CR, LF, NUL or invalid UTF-8", ErrInvalidEvent, clip(name))
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: data is not valid UTF-8", ErrInvalidEvent)
	}
	return appendFrame(make([]byte, 0, frameSize(id, name, data)), id, name, data), nil
}

// frameSize returns the exact length of the frame appendFrame builds.
func frameSize(id, name string, data []byte) int {
	n := 1 // the blank line
	if id != "" {
		n += len("id: \n") + len(id)
	}
	if name != "" {
		n += len("event: \n") + len(name)
	}
	lines := 1
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			lines++
			n--
		case '\r':
			lines++
			n--
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
				n--
			}
		}
	}
	return n + len(data) + lines*len("data: \n")
}

// appendFrame appends the frame of an already validated event to dst.
func appendFrame(dst []byte, id, name string, data []byte) []byte {
	if id != "" {
		dst = append(dst, "id: "...)
		dst = append(dst, id...)
		dst = append(dst, '\n')
	}
	if name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			break
		}
		dst = append(dst, "data: "...)
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	dst = append(dst, "data: "...)
	dst = append(dst, data...)
	return append(dst, '\n', '\n')
}

// retryFrame returns the "retry:" line that starts a stream, or nil when d
// is negative (disabled).
func retryFrame(d time.Duration) []byte {
	if d < 0 {
		return nil
	}
	b := append([]byte("retry: "), strconv.FormatInt(d.Milliseconds(), 10)...)
	return append(b, '\n', '\n')
}

// clip shortens hostile input before it is quoted in an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
