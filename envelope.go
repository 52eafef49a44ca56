package ssekify

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// envelopeVersion is the version of the cross-instance message format, the
// first byte of every envelope. A receiver drops (and reports) an envelope
// of any other version, so a rolling upgrade that changes the format must
// change the channel too: instances of this release drop the version 1
// (JSON) envelopes of older releases and the reverse, so an upgrade across
// it needs a new Options.Channel for the new instances.
const envelopeVersion = 2

// An envelope is what travels between instances: the already serialized
// (and enriched) payload with what a receiver needs to deliver and frame
// it. Version 2 is binary; every length is a uvarint (encoding/binary) in
// its shortest form, ts a zigzag varint (binary.AppendVarint), and nothing
// is escaped. Offsets in bytes; a double border marks a field of variable
// length:
//
//	 0        1        2
//	+--------+--------+============+==========+--------+
//	|  0x02  | flags  | origin len |  origin  |  kind  |
//	+--------+--------+============+==========+--------+
//	+============+===========+========+========+
//	| target len | event len | id len |   ts   |
//	+============+===========+========+========+
//	+==========+===========+======+===============================+
//	|  target  |   event   |  id  |  payload: the rest, as it is  |
//	+==========+===========+======+===============================+
//
// origin is the sender's InstanceID; it comes first so that a receiver
// recognises its own envelope by comparing those bytes with its InstanceID,
// without reading, checking or allocating anything else. kind is 1 (user),
// 2 (room) or 3 (all, whose target is empty); target is the user id or
// room; event and id are the SSE event name and id; ts is the sender's
// clock in epoch ms. The lengths come before the strings so that target,
// event and id are one run of bytes, which a receiver copies once. The
// payload is the rest of the envelope, the raw bytes of the data lines,
// with no length of its own.
//
// flags bit 0 (flagLogged) says that the envelope went through the logs
// on Redis (log_redis.go): its epoch and position travel beside it, in
// the header of the batch message that published it and in the id and
// field of its log entry, so that the publish script never rewrites an
// envelope; every instance, the publisher included, delivers such an
// envelope in position order (follow.go). An envelope without it comes
// from a Broker that keeps no logs, and its publisher drops it as its
// own. Any other bit set is refused, as a field the receiver could not
// skip safely.
//
// For example, an event "notify" with id "1700000000000-a1b2c3d4-7" and
// payload {"text":"hi"} for user alice from instance a1b2c3d4 at
// 1700000000000 ms is these 69 bytes:
//
//	02 00 08 'a1b2c3d4' 01 05 06 18 80 a0 ab fe f9 62
//	'alice' 'notify' '1700000000000-a1b2c3d4-7' '{"text":"hi"}'
//
// A batch message carries a run of logged envelopes of one log that one
// publish script appended, which took consecutive positions: the byte
// envelopeBatch, the epoch and the run's first position (uvarints), then
// each envelope preceded by its length, a uvarint (the framed form that
// the script is given and the log entry holds). A receiver delivers them
// in turn, as if they had come one by one.
//
// A mark (route.go) is the byte envelopeMark, then the epoch, the newest
// position and the mark's number, uvarints: the log stood there when it was
// published.
const (
	flagLogged = 1 << 0

	envelopeBatch = 0x82
	envelopeMark  = 0x83

	envelopeKindUser = 1
	envelopeKindRoom = 2
	envelopeKindAll  = 3
)

// maxOriginBytes bounds the origin of an envelope: no instance has a longer
// InstanceID (New refuses it).
const maxOriginBytes = MaxInstanceIDBytes

// maxEnvelopeHeader bounds the bytes of an envelope before its payload: the
// version and flags, each string at its bound with a two-byte length (every
// bound is below 1<<14), the kind, and ts at its longest.
const maxEnvelopeHeader = 2 + 2 + maxOriginBytes + 1 + 2 + max(MaxUserIDBytes, MaxRoomBytes) +
	2 + MaxEventNameBytes + 2 + MaxEventIDBytes + binary.MaxVarintLen64

// encodeEnvelope returns the envelope of m, allocated once at its exact
// size. It refuses, with ErrTooLong, a field longer than receivers accept,
// so that the publisher learns of it rather than every receiver dropping
// the envelope.
func (h *Hub) encodeEnvelope(m *message) ([]byte, error) {
	f, err := h.envelopeFields(m)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, f.headSize(m)+f.tailSize(m))
	b = f.appendHead(b, m, 0)
	return f.appendTail(b, m), nil
}

// encodeLoggedEnvelope returns the envelope of m (flagLogged) in its framed
// form, preceded by its length, for the publish script, which appends it
// to its log and puts it in a batch message as it is.
func (h *Hub) encodeLoggedEnvelope(m *message) ([]byte, error) {
	f, err := h.envelopeFields(m)
	if err != nil {
		return nil, err
	}
	n := f.headSize(m) + f.tailSize(m)
	b := binary.AppendUvarint(make([]byte, 0, uvarintLen(uint64(n))+n), uint64(n))
	b = f.appendHead(b, m, flagLogged)
	return f.appendTail(b, m), nil
}

// unframe returns the envelope of its framed form b, or false when b is
// not one length and that many bytes.
func unframe(b []byte) ([]byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n != uint64(len(b)-k) {
		return nil, false
	}
	return b[k:], true
}

// envelopeFields is what an envelope of a message says besides it.
type envelopeFields struct {
	origin string
	kind   byte
	target string
	ts     int64
}

// envelopeFields checks m's fields against what receivers accept.
func (h *Hub) envelopeFields(m *message) (envelopeFields, error) {
	f := envelopeFields{origin: h.opts.InstanceID, kind: envelopeKindUser, target: m.target, ts: h.now().UnixMilli()}
	maxTarget := MaxUserIDBytes
	switch m.kind {
	case kindRoom:
		f.kind, maxTarget = envelopeKindRoom, MaxRoomBytes
	case kindAll:
		f.kind, f.target = envelopeKindAll, ""
	}
	switch {
	case len(f.origin) > maxOriginBytes:
		return f, fmt.Errorf("%w: InstanceID of %d bytes, limit %d", ErrTooLong, len(f.origin), maxOriginBytes)
	case len(f.target) > maxTarget:
		return f, fmt.Errorf("%w: %s %q of %d bytes, limit %d", ErrTooLong, m.kind, clip(f.target), len(f.target), maxTarget)
	case len(m.name) > MaxEventNameBytes:
		return f, fmt.Errorf("%w: event name %q of %d bytes, limit %d", ErrTooLong, clip(m.name), len(m.name), MaxEventNameBytes)
	case len(m.id) > MaxEventIDBytes:
		return f, fmt.Errorf("%w: id %q of %d bytes, limit %d", ErrTooLong, clip(m.id), len(m.id), MaxEventIDBytes)
	}
	return f, nil
}

func (f *envelopeFields) headSize(m *message) int {
	return 3 + uvarintLen(uint64(len(f.origin))) + len(f.origin) + uvarintLen(uint64(len(f.target))) +
		uvarintLen(uint64(len(m.name))) + uvarintLen(uint64(len(m.id))) + uvarintLen(zigzag(f.ts))
}

func (f *envelopeFields) tailSize(m *message) int {
	return len(f.target) + len(m.name) + len(m.id) + len(m.data)
}

// appendHead appends the envelope up to ts.
func (f *envelopeFields) appendHead(b []byte, m *message, flags byte) []byte {
	b = append(b, envelopeVersion, flags)
	b = binary.AppendUvarint(b, uint64(len(f.origin)))
	b = append(b, f.origin...)
	b = append(b, f.kind)
	b = binary.AppendUvarint(b, uint64(len(f.target)))
	b = binary.AppendUvarint(b, uint64(len(m.name)))
	b = binary.AppendUvarint(b, uint64(len(m.id)))
	return binary.AppendVarint(b, f.ts)
}

// appendTail appends target, event name, id and payload.
func (f *envelopeFields) appendTail(b []byte, m *message) []byte {
	b = append(b, f.target...)
	b = append(b, m.name...)
	b = append(b, m.id...)
	return append(b, m.data...)
}

// maxEnvelopeBytes is the largest envelope a hub accepts: a payload of
// MaxPayloadBytes and the longest header. 0 means no bound.
func (h *Hub) maxEnvelopeBytes() int {
	if max := h.opts.MaxPayloadBytes; max > 0 {
		return max + maxEnvelopeHeader
	}
	return 0
}

// envelopeMeta is what an envelope says besides its message.
type envelopeMeta struct {
	origin   []byte // a sub-slice of the envelope: valid only while it is
	time     int64  // the sender's clock, epoch ms
	logged   bool   // flagLogged: epoch and position are set beside it
	epoch    uint64 // of the event's log (set by the caller)
	position uint64 // of the event in its log (set by the caller)
}

// isOwnEnvelope reports whether raw is an envelope of this instance, from
// its first bytes only: the version, then the origin compared in place.
func (h *Hub) isOwnEnvelope(raw []byte) bool {
	if len(raw) < 3 || raw[0] != envelopeVersion || raw[1]&flagLogged != 0 {
		return false
	}
	n, k := binary.Uvarint(raw[2:])
	if k <= 0 || n != uint64(len(h.opts.InstanceID)) || uint64(len(raw)-2-k) < n {
		return false
	}
	return string(raw[2+k:2+k+int(n)]) == h.opts.InstanceID
}

// decodeEnvelope parses and validates an envelope into a framed message. It
// refuses, with ErrInvalidEnvelope, anything a well-behaved instance would
// not have published: an oversized or truncated envelope, another version
// (version 1, JSON, included), unknown flags, an unknown kind, a user or
// room envelope without target or an all envelope with one, no origin, a
// length in a longer form than needed, a field beyond its bound (limits.go),
// an id or event name that could inject SSE fields, a payload that is not
// valid UTF-8 or above MaxPayloadBytes. What it accepts frames as exactly
// one event.
//
// It allocates the message, one string holding target, event name and id,
// and the frame, the one copy of the payload, which the message's data is
// a slice of (a payload with line breaks, which framing rewrites, is copied
// once more). The result does not refer to raw; the meta's origin does.
func (h *Hub) decodeEnvelope(raw []byte) (*message, envelopeMeta, error) {
	var meta envelopeMeta
	if max := h.maxEnvelopeBytes(); max > 0 && len(raw) > max {
		return nil, meta, fmt.Errorf("%w: %d bytes, limit %d", ErrInvalidEnvelope, len(raw), max)
	}
	switch {
	case len(raw) == 0:
		return nil, meta, fmt.Errorf("%w: empty", ErrInvalidEnvelope)
	case raw[0] == '{':
		return nil, meta, fmt.Errorf("%w: version 1 (JSON) envelope; this instance reads version %d only",
			ErrInvalidEnvelope, envelopeVersion)
	case raw[0] != envelopeVersion:
		return nil, meta, fmt.Errorf("%w: unknown version %d", ErrInvalidEnvelope, raw[0])
	}
	d := envelopeReader{b: raw, off: 1}
	flags := d.byte()
	if flags&^flagLogged != 0 {
		return nil, meta, fmt.Errorf("%w: unknown flags %#02x", ErrInvalidEnvelope, flags)
	}
	meta.origin = d.bytes(d.length("origin", maxOriginBytes))
	m := &message{}
	target, maxTarget := "target of an all envelope", 0
	switch kind := d.byte(); {
	case d.err != nil:
	case kind == envelopeKindUser:
		m.kind, target, maxTarget = kindUser, "user id", MaxUserIDBytes
	case kind == envelopeKindRoom:
		m.kind, target, maxTarget = kindRoom, "room", MaxRoomBytes
	case kind == envelopeKindAll:
		m.kind = kindAll
	default:
		return nil, meta, fmt.Errorf("%w: unknown kind %d", ErrInvalidEnvelope, kind)
	}
	targetLen := d.length(target, maxTarget)
	nameLen := d.length("event name", MaxEventNameBytes)
	idLen := d.length("id", MaxEventIDBytes)
	meta.time = d.varint()
	meta.logged = flags&flagLogged != 0
	fields := d.bytes(targetLen + nameLen + idLen)
	switch {
	case d.err != nil:
		return nil, meta, d.err
	case len(meta.origin) == 0:
		return nil, meta, fmt.Errorf("%w: no origin", ErrInvalidEnvelope)
	case m.kind != kindAll && targetLen == 0:
		return nil, meta, fmt.Errorf("%w: empty target", ErrInvalidEnvelope)
	}
	data := raw[d.off:]
	if max := h.opts.MaxPayloadBytes; max > 0 && len(data) > max {
		return nil, meta, fmt.Errorf("%w: payload of %d bytes, limit %d", ErrInvalidEnvelope, len(data), max)
	}
	s := string(fields)
	m.target, m.name, m.id = s[:targetLen], s[targetLen:targetLen+nameLen], s[targetLen+nameLen:]
	switch {
	case !validField(m.id):
		return nil, meta, fmt.Errorf("%w: id %q contains CR, LF, NUL or invalid UTF-8", ErrInvalidEnvelope, clip(m.id))
	case !validField(m.name):
		return nil, meta, fmt.Errorf("%w: event name %q contains CR, LF, NUL or invalid UTF-8", ErrInvalidEnvelope, clip(m.name))
	case !utf8.Valid(data):
		return nil, meta, fmt.Errorf("%w: data is not valid UTF-8", ErrInvalidEnvelope)
	}
	// A payload without line breaks, the common case (JSON escapes them),
	// is one data line, found by two vectorised scans. The frame of no data
	// is then the frame's head and its end, "\n\n", between which the
	// payload goes as it is: copied once, and the message's data is that
	// part of the frame.
	// The frame holds no id line: a caller's id gets its own, an event
	// without one gets this instance's position when it is delivered.
	if bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0 {
		f := appendFrame(make([]byte, 0, frameSize("", m.name, nil)+len(data)), "", m.name, nil)
		head := len(f) - len("\n\n")
		f = append(append(f[:head], data...), '\n', '\n')
		end := head + len(data)
		m.frame, m.data, m.dataInFrame = f, f[head:end:end], true
	} else {
		m.frame = appendFrame(make([]byte, 0, frameSize("", m.name, data)), "", m.name, data)
		m.data = append([]byte(nil), data...)
	}
	if m.id != "" {
		m.idLine = idLine(m.id)
	}
	return m, meta, nil
}

// envelopeReader reads the header of an envelope. After the first error it
// reads nothing more and returns zeros; err then wraps ErrInvalidEnvelope.
type envelopeReader struct {
	b   []byte
	off int
	err error
}

func (r *envelopeReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalidEnvelope}, args...)...)
	}
}

func (r *envelopeReader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("truncated at byte %d", r.off)
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

// uvarint reads a uvarint in its shortest form.
func (r *envelopeReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	switch {
	case n == 0:
		r.fail("truncated at byte %d", r.off)
		return 0
	case n < 0:
		r.fail("varint overflows 64 bits at byte %d", r.off)
		return 0
	case n != uvarintLen(v):
		r.fail("varint at byte %d is not in its shortest form", r.off)
		return 0
	}
	r.off += n
	return v
}

// varint reads a zigzag varint in its shortest form.
func (r *envelopeReader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

// length reads the length of the field what, at most max.
func (r *envelopeReader) length(what string, max int) int {
	n := r.uvarint()
	if n > uint64(max) {
		r.fail("%s of %d bytes, limit %d", what, n, max)
		return 0
	}
	return int(n)
}

// bytes returns the next n bytes, a sub-slice of the envelope.
func (r *envelopeReader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off {
		r.fail("truncated: %d bytes at byte %d, %d left", n, r.off, len(r.b)-r.off)
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

// framed reads an envelope preceded by its length.
func (r *envelopeReader) framed() ([]byte, bool) {
	b := r.bytes(int(min(r.uvarint(), uint64(len(r.b)))))
	return b, r.err == nil
}

// uvarintLen is the length of the shortest uvarint encoding of v.
func uvarintLen(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// zigzag maps a signed integer to the unsigned one binary.AppendVarint
// writes as a uvarint.
func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// receive handles one message from the broker: a batch message of the logs,
// or one envelope. This instance's own envelopes are recognised by their
// origin and dropped before anything else is read, since Publish*
// delivered them locally already, unless they come from the log
// (flagLogged), which every instance delivers in position order (follow).
// Other instances' messages are delivered to the local connections (and
// recorded for replay) and passed to OnPublish; malformed ones are counted
// (invalidEnvelopes), reported (INVALID_ENVELOPE) and dropped. An error
// ends the subscription (follow could not recover).
func (h *Hub) receive(ctx context.Context, raw []byte) error {
	switch {
	case h.closed.Load():
		return nil
	case len(raw) > 0 && raw[0] == envelopeBatch:
		return h.receiveBatch(ctx, raw[1:])
	case len(raw) > 0 && raw[0] == envelopeMark:
		return h.receiveMark(ctx, raw[1:])
	}
	return h.receiveOne(raw)
}

// receiveBatch delivers the envelopes of a batch message in turn, at their
// positions. A malformed envelope is reported and skipped, a malformed
// header or length ends the message; either way the follower then reads
// the log's head and recovers from the logs what the message held for
// this instance's streams (a malformed entry there is told to them as a
// loss), rather than waiting for the next message to show the skip.
func (h *Hub) receiveBatch(ctx context.Context, b []byte) error {
	if ok, err := h.deliverBatch(ctx, b); ok || err != nil || h.lb == nil {
		return err
	}
	return h.catchUp(ctx)
}

// deliverBatch is receiveBatch up to its recovery: it reports whether the
// message was well formed.
func (h *Hub) deliverBatch(ctx context.Context, b []byte) (bool, error) {
	d := envelopeReader{b: b}
	epoch, pos := d.uvarint(), d.uvarint()
	if d.err == nil && (epoch == 0 || pos == 0) {
		d.fail("epoch %d, position %d", epoch, pos)
	}
	if d.err != nil {
		h.invalidEnvelope(fmt.Errorf("%w: batch message: %w", ErrInvalidEnvelope, d.err))
		return false, nil
	}
	whole := true
	for ; d.off < len(b); pos++ {
		env, ok := d.framed()
		if !ok {
			h.invalidEnvelope(fmt.Errorf("%w: batch message with a malformed length", ErrInvalidEnvelope))
			return false, nil
		}
		m, meta, err := h.decodeEnvelope(env)
		if err == nil && !meta.logged {
			err = fmt.Errorf("%w: an envelope without the logged flag in a batch message", ErrInvalidEnvelope)
		}
		if err != nil {
			h.invalidEnvelope(err)
			whole = false
			continue
		}
		meta.epoch, meta.position = epoch, pos
		h.stats.brokerEnvelopes.Add(1)
		if h.lb == nil {
			h.deliverReceived(m, meta)
			continue
		}
		if err := h.follow(ctx, m, meta); err != nil {
			return whole, err
		}
	}
	return whole, nil
}

// receiveMark handles a mark: every message published before it has been
// received (follow.go, marked).
func (h *Hub) receiveMark(ctx context.Context, b []byte) error {
	d := envelopeReader{b: b}
	epoch, pos, seq := d.uvarint(), d.uvarint(), d.uvarint()
	if d.err == nil && (epoch == 0 || d.off != len(b)) {
		d.fail("epoch %d, position %d, %d bytes", epoch, pos, len(b))
	}
	if d.err != nil {
		h.invalidEnvelope(fmt.Errorf("%w: mark: %w", ErrInvalidEnvelope, d.err))
		return nil
	}
	if h.lb == nil {
		return nil
	}
	return h.marked(ctx, epoch, pos, seq)
}

// receiveOne handles one envelope outside a batch message.
func (h *Hub) receiveOne(raw []byte) error {
	if h.isOwnEnvelope(raw) {
		return nil
	}
	m, meta, err := h.decodeEnvelope(raw)
	if err == nil && meta.logged {
		err = fmt.Errorf("%w: a logged envelope outside a batch message", ErrInvalidEnvelope)
	}
	if err != nil {
		h.invalidEnvelope(err)
		return nil
	}
	h.deliverReceived(m, meta)
	return nil
}

// deliverReceived delivers another instance's envelope and calls OnPublish.
func (h *Hub) deliverReceived(m *message, meta envelopeMeta) {
	h.stats.received.Add(1)
	n := h.deliver(m)
	if h.opts.OnPublish != nil {
		info := m.info(n, string(meta.origin))
		h.callHook("OnPublish", func() { h.opts.OnPublish(info) })
	}
}

// invalidEnvelope counts and reports a malformed envelope.
func (h *Hub) invalidEnvelope(err error) {
	h.stats.invalidEnvelopes.Add(1)
	h.reportErr(&Error{Code: CodeInvalidEnvelope, Level: LevelWarn, Op: "receive", Target: h.opts.Channel, Err: err})
}
