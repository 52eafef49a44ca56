package ssekify

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// envelopeVersion is the version of the cross-instance message format.
const envelopeVersion = 1

// envelope is what travels between instances: versioned JSON carrying the
// already serialized (and enriched) payload, so receivers only frame it.
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

func (h *Hub) encodeEnvelope(m *message) ([]byte, error) {
	return json.Marshal(envelope{
		V: envelopeVersion, Kind: m.kind.String(), Target: m.target, Event: m.name, ID: m.id,
		Data: string(m.data), Origin: h.opts.InstanceID, Time: h.now().UnixMilli(),
	})
}

// envelopeOverhead is how much larger than MaxPayloadBytes an envelope may
// be (JSON escaping of the payload can double it, plus the other fields).
const envelopeOverhead = 64 << 10

// decodeEnvelope parses and validates an envelope into a framed message.
func (h *Hub) decodeEnvelope(raw []byte) (*message, *envelope, error) {
	if max := h.opts.MaxPayloadBytes; max > 0 && len(raw) > 2*max+envelopeOverhead {
		return nil, nil, fmt.Errorf("%w: %d bytes", ErrInvalidEnvelope, len(raw))
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
	if m.kind != kindAll && m.target == "" {
		return nil, nil, fmt.Errorf("%w: empty target", ErrInvalidEnvelope)
	}
	if e.Origin == "" || e.ID == "" || !validField(e.ID) || !validField(e.Event) || !utf8.Valid(m.data) {
		return nil, nil, fmt.Errorf("%w: bad origin, id, event name or data", ErrInvalidEnvelope)
	}
	if max := h.opts.MaxPayloadBytes; max > 0 && len(m.data) > max {
		return nil, nil, fmt.Errorf("%w: payload of %d bytes", ErrInvalidEnvelope, len(m.data))
	}
	m.frame = appendFrame(make([]byte, 0, frameSize(m.id, m.name, m.data)), m.id, m.name, m.data)
	return m, &e, nil
}

// receive handles one envelope from the broker: other instances' messages
// are delivered to the local connections; this instance's own are ignored;
// malformed ones are reported and dropped.
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
