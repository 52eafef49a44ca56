package ssekify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// envelopeVersion is the version of the cross-instance message format. A
// receiver drops (and reports) an envelope of any other version, so a
// rolling upgrade that changes the format must change the channel too.
const envelopeVersion = 1

// envelope is what travels between instances: versioned JSON carrying the
// already serialized (and enriched) payload, so receivers only frame it.
//
//	{"v":1,"kind":"user","target":"alice","event":"notify","id":"1700000000000-a1b2c3d4-7",
//	 "data":"{\"text\":\"hi\",\"seq\":3}","origin":"a1b2c3d4","ts":1700000000000}
//
// kind is "user", "room" or "all" (no target); data is the payload as a JSON
// string; origin is the sender's InstanceID; ts its clock in epoch ms.
type envelope struct {
	V      int    `json:"v"`
	Kind   string `json:"kind"`
	Target string `json:"target,omitempty"`
	Event  string `json:"event,omitempty"`
	ID     string `json:"id"`
	Data   string `json:"data"`
	Origin string `json:"origin"`
	Time   int64  `json:"ts"`
}

// encodeEnvelope returns the envelope of m. HTML characters are not escaped,
// so a payload grows only by the JSON escaping of quotes, backslashes and
// control characters.
func (h *Hub) encodeEnvelope(m *message) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(m.data) + len(m.id) + len(m.name) + len(m.target) + 128)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(envelope{
		V: envelopeVersion, Kind: m.kind.String(), Target: m.target, Event: m.name, ID: m.id,
		Data: string(m.data), Origin: h.opts.InstanceID, Time: h.now().UnixMilli(),
	})
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

// envelopeOverhead bounds the fields of an envelope other than its data.
const envelopeOverhead = 64 << 10

// maxEnvelopeBytes is the largest envelope a hub accepts: a payload of
// MaxPayloadBytes can grow sixfold when JSON escapes it (a control
// character becomes \u00XX), plus the other fields. 0 means no bound.
func (h *Hub) maxEnvelopeBytes() int {
	if max := h.opts.MaxPayloadBytes; max > 0 {
		return 6*max + envelopeOverhead
	}
	return 0
}

// decodeEnvelope parses and validates an envelope into a framed message. It
// refuses, with ErrInvalidEnvelope, anything a well-behaved instance would
// not have published: an oversized or malformed document, another version,
// an unknown kind, a user or room envelope without target, no origin, an id
// or event name that could inject SSE fields, or a payload above
// MaxPayloadBytes. What it accepts frames as exactly one event.
func (h *Hub) decodeEnvelope(raw []byte) (*message, *envelope, error) {
	if max := h.maxEnvelopeBytes(); max > 0 && len(raw) > max {
		return nil, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidEnvelope, len(raw), max)
	}
	var e envelope
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrInvalidEnvelope, err)
	}
	if e.V != envelopeVersion {
		return nil, nil, fmt.Errorf("%w: unknown version %d", ErrInvalidEnvelope, e.V)
	}
	m := &message{target: e.Target, id: e.ID, name: e.Event, data: []byte(e.Data)}
	switch e.Kind {
	case "user":
		m.kind = kindUser
	case "room":
		m.kind = kindRoom
	case "all":
		m.kind, m.target = kindAll, ""
	default:
		return nil, nil, fmt.Errorf("%w: unknown kind %q", ErrInvalidEnvelope, clip(e.Kind))
	}
	switch {
	case m.kind != kindAll && m.target == "":
		return nil, nil, fmt.Errorf("%w: empty target", ErrInvalidEnvelope)
	case e.Origin == "":
		return nil, nil, fmt.Errorf("%w: no origin", ErrInvalidEnvelope)
	case !validField(e.ID):
		return nil, nil, fmt.Errorf("%w: id %q contains CR, LF or NUL", ErrInvalidEnvelope, clip(e.ID))
	case !validField(e.Event):
		return nil, nil, fmt.Errorf("%w: event name %q contains CR, LF or NUL", ErrInvalidEnvelope, clip(e.Event))
	case !utf8.Valid(m.data):
		return nil, nil, fmt.Errorf("%w: data is not valid UTF-8", ErrInvalidEnvelope)
	}
	if max := h.opts.MaxPayloadBytes; max > 0 && len(m.data) > max {
		return nil, nil, fmt.Errorf("%w: payload of %d bytes, limit %d", ErrInvalidEnvelope, len(m.data), max)
	}
	m.frame = appendFrame(make([]byte, 0, frameSize(m.id, m.name, m.data)), m.id, m.name, m.data)
	return m, &e, nil
}

// receive handles one envelope from the broker: other instances' messages
// are delivered to the local connections (and recorded for replay) and
// passed to OnPublish; this instance's own are ignored, since Publish*
// delivered them locally already; malformed ones are counted
// (invalidEnvelopes), reported (INVALID_ENVELOPE) and dropped.
func (h *Hub) receive(raw []byte) {
	m, e, err := h.decodeEnvelope(raw)
	if err != nil {
		h.stats.invalidEnvelopes.Add(1)
		h.reportErr(&Error{Code: CodeInvalidEnvelope, Level: LevelWarn, Op: "receive", Target: h.opts.Channel, Err: err})
		return
	}
	if e.Origin == h.opts.InstanceID || h.closed.Load() {
		return
	}
	h.stats.received.Add(1)
	n := h.deliver(m)
	if h.opts.OnPublish != nil {
		info := m.info(n, e.Origin)
		h.callHook("OnPublish", func() { h.opts.OnPublish(info) })
	}
}
