package ssekify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Event is what is sent.
type Event struct {
	// Name is the SSE event field (the browser's addEventListener name).
	// Empty means the default "message" event. At most MaxEventNameBytes,
	// without CR, LF or NUL.
	Name string
	// ID is the SSE id field. Empty means the token of the event's
	// position, from which replay is exact (or Options.FrameID's id). A
	// caller's id is found in the stream's logs on a reconnect, newest
	// first: replay after it is exact while it is unique and still held,
	// else the client gets the gap event. At most MaxEventIDBytes, without
	// CR, LF or NUL.
	ID string
	// Data is serialized by Options.Serializer (JSON by default).
	// json.RawMessage and []byte are used as they are: they must be valid
	// UTF-8 (checked: ErrInvalidEvent), but they are not validated as JSON,
	// so invalid JSON goes to the clients as it was given (and gets no auto
	// fields or seq, which are added to well-formed objects only).
	//
	// The serialized data must fit Options.MaxPayloadBytes, and so must the
	// data with its auto fields; when the hub adds a seq member, the bound
	// includes room for it at its largest (a comma, the quoted
	// Seq.FieldName, a colon and 20 digits), whatever the number.
	Data any
}

// targetKind says who a message is for.
type targetKind uint8

const (
	kindUser targetKind = iota + 1
	kindRoom
	kindAll
)

func (k targetKind) String() string {
	switch k {
	case kindUser:
		return "user"
	case kindRoom:
		return "room"
	case kindAll:
		return "all"
	}
	return "unknown"
}

// message is one prepared event: serialized, enriched, framed once and then
// shared, read-only, by every queue and replay buffer that holds it.
type message struct {
	kind   targetKind
	target string
	id     string
	name   string
	data   []byte // serialized payload
	// frame is the SSE event without its id line: event and data lines.
	frame []byte
	// idLine is "id: <id>\n": the caller's id, set by build, or the token
	// of the position, set by deliver.
	idLine []byte
	// pos is the event's position (cursor.go), set by deliver; 0 for what
	// is not logged (announcements, gap markers).
	pos uint64
	// gap, on a stream's own marker, is what it lost at this place.
	gap *loss
	// With a broker that keeps logs (follow.go): rpos and repoch are the
	// Redis part of the event's token, its position in the channel's log
	// when inRedis (a Publish* event), else the position this instance had
	// delivered up to when it delivered the event; on a gap marker of a
	// reset, the position after it.
	rpos, repoch uint64
	inRedis      bool
	// dataInFrame: data is a slice of frame, not a copy of its own.
	dataInFrame bool
}

// size is what m weighs in a queue.
func (m *message) size() int { return len(m.idLine) + len(m.frame) }

// messageOverhead approximates what a message costs besides its bytes: the
// struct, its string and slice headers and allocation rounding.
const messageOverhead = 192 // the struct is 168 bytes, in a 176-byte size class, plus headers

// heldBytes is what keeping m costs in memory: every byte slice and string
// it holds, plus the struct; data is counted apart from the frame unless it
// is a slice of it (dataInFrame). The replay store charges it against
// RecentMaxBytes.
func (m *message) heldBytes() int {
	n := messageOverhead + len(m.frame) + len(m.idLine) + len(m.id) + len(m.name) + len(m.target)
	if !m.dataInFrame {
		n += len(m.data)
	}
	return n
}

// MessageInfo describes a message to OnMessageSent and OnPublish.
type MessageInfo struct {
	// Kind is "user", "room" or "all".
	Kind string
	// Target is the user id or room; empty for "all".
	Target string
	// Name is the SSE event name; empty for the default "message".
	Name string
	// ID is the SSE id the streams write: the caller's Event.ID or
	// Options.FrameID's, else the token of the event's position on this
	// instance (see the package doc, "Positions").
	ID string
	// Data is the serialized payload. It is shared: do not modify it.
	Data []byte
	// Delivered is the number of local connections it was queued for.
	Delivered int
	// Origin is the instance that sent it (this one for OnMessageSent).
	Origin string
}

// SendToUser queues ev for every stream of userID on this instance and
// returns how many streams it was queued for. It never blocks on a client.
// The event is also kept in the user's log, also while the user has no
// stream here (for RecentTTL after its last one left), so a client that
// comes back gets it.
func (h *Hub) SendToUser(userID string, ev Event) (int, error) {
	return h.send(context.Background(), kindUser, userID, ev)
}

// SendToRoom queues ev for every stream in room on this instance.
func (h *Hub) SendToRoom(room string, ev Event) (int, error) {
	return h.send(context.Background(), kindRoom, room, ev)
}

// SendToAll queues ev for every stream on this instance.
func (h *Hub) SendToAll(ev Event) (int, error) {
	return h.send(context.Background(), kindAll, "", ev)
}

func (h *Hub) send(ctx context.Context, kind targetKind, target string, ev Event) (int, error) {
	m, err := h.prepare(ctx, kind, target, ev, false, nil)
	if err != nil {
		return 0, err
	}
	n := h.deliver(m)
	h.hookMessageSent(m, n)
	return n, nil
}

// prepare turns ev into a message: validate, serialize, add auto fields and
// seq, check the size, give it an id and build its frame, once. Every failure
// is returned and reported through OnError; nothing is written or counted.
//
// q, when not nil, offers the seq number to the publish script
// (seq_script.go); q.used() says whether it took it.
func (h *Hub) prepare(ctx context.Context, kind targetKind, target string, ev Event, global bool, q *scriptSeq) (*message, error) {
	// A publish through the logs is delivered from its envelope, on every
	// instance: it needs no frame here, unless this hub delivers it itself.
	frame := !global || h.lb == nil || h.opts.PublishOnly
	m, err := h.build(ctx, kind, target, ev, q, frame)
	if err != nil {
		op := "send"
		if global {
			op = "publish"
		}
		h.report(op, target, err)
		return nil, err
	}
	return m, nil
}

// build makes the message of ev. Every check that can be made before the
// seq number is taken comes first (target, name, id, size before and after
// enrichment), so a refused send uses no number; when FrameID, which sees
// the final payload, returns an invalid id, the number is given back and a
// final message does not end its scope.
//
// The payload is copied once into the frame, and data is a slice of it,
// when it has no CR or LF (always so for encoding/json's output): straight
// from the enrichment when the id is known first (Event.ID, or the default
// ids), else after it.
//
// Without frame, the message holds only what its envelope needs: its data
// (the caller's bytes, when nothing was added) and no frame.
func (h *Hub) build(ctx context.Context, kind targetKind, target string, ev Event, q *scriptSeq, frame bool) (*message, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	if err := checkTarget(kind, target); err != nil {
		return nil, err
	}
	if err := checkEvent(&ev); err != nil {
		return nil, err
	}
	data, err := h.serialize(ev.Data)
	if err != nil {
		return nil, err
	}
	max := h.opts.MaxPayloadBytes
	if max > 0 && len(data) > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, len(data), max)
	}
	id := ev.ID
	// The frame never holds the id line: a default event's id is its
	// position, which deliver gives it; a caller's id gets its own line.
	var r enriched
	if err := h.callEnrich(ctx, &r, q, data, framing{name: ev.Name, ok: frame}, max); err != nil {
		return nil, err
	}
	// A well-formed object was checked by the enrichment's scan; no seq
	// was reserved for anything else.
	if !r.valid && !utf8.Valid(r.data) {
		return nil, fmt.Errorf("%w: serialized data is not valid UTF-8", ErrInvalidEvent)
	}
	if id == "" && h.opts.FrameID != nil {
		if id, err = h.frameID(ev, r.data); err != nil {
			if r.hasSeq {
				h.seq.release(ctx, r.seq)
			}
			return nil, err
		}
	}
	if r.hasSeq {
		h.seq.commit(ctx, r.seq)
	}
	var m *message
	if frame {
		m = newMessage(kind, target, "", ev.Name, r.data, r.frame)
	} else {
		m = &message{kind: kind, target: target, name: ev.Name, data: r.data}
	}
	if id != "" {
		m.id, m.idLine = id, idLine(id)
	}
	return m, nil
}

// checkTarget refuses an empty or too long user id or room.
func checkTarget(kind targetKind, target string) error {
	switch kind {
	case kindUser:
		if target != "" {
			return checkLen("user id", target, MaxUserIDBytes)
		}
	case kindRoom:
		if target != "" {
			return checkLen("room", target, MaxRoomBytes)
		}
	default:
		return nil
	}
	return fmt.Errorf("%w: %s", ErrEmptyTarget, kind)
}

// checkEvent refuses a name or id that is too long (ErrTooLong) or could
// break the frame (ErrInvalidEvent).
func checkEvent(ev *Event) error {
	if err := checkLen("event id", ev.ID, MaxEventIDBytes); err != nil {
		return err
	}
	if err := checkLen("event name", ev.Name, MaxEventNameBytes); err != nil {
		return err
	}
	if !validField(ev.Name) || !validField(ev.ID) {
		return fmt.Errorf("%w: event name %q or id %q contains CR, LF, NUL or invalid UTF-8",
			ErrInvalidEvent, clip(ev.Name), clip(ev.ID))
	}
	return nil
}

// newMessage builds the message of a prepared event. frame, when not nil,
// already holds the frame up to the end of data (enrichTo built it). When
// data has no CR or LF, it becomes a slice of the frame (dataInFrame), so
// the payload is held once; otherwise it is kept apart.
func newMessage(kind targetKind, target, id, name string, data, frame []byte) *message {
	m := &message{kind: kind, target: target, id: id, name: name}
	if frame == nil && bytes.IndexByte(data, '\n') < 0 && bytes.IndexByte(data, '\r') < 0 {
		frame = append(appendFrameHead(make([]byte, 0, frameHeadSize(id, name)+len(data)+len("\n\n")), id, name), data...)
	}
	if frame == nil {
		m.data = data
		m.frame = appendFrame(make([]byte, 0, frameSize(id, name, data)), id, name, data)
		return m
	}
	end := len(frame)
	m.frame = append(frame, '\n', '\n')
	m.data, m.dataInFrame = m.frame[end-len(data):end:end], true
	return m
}

// frameHeadSize is the length of what appendFrameHead appends.
func frameHeadSize(id, name string) int {
	n := len("data: ")
	if id != "" {
		n += len("id: \n") + len(id)
	}
	if name != "" {
		n += len("event: \n") + len(name)
	}
	return n
}

// appendFrameHead appends the start of the frame of a one-line payload, as
// appendFrame writes it: the id and event lines and "data: ".
func appendFrameHead(dst []byte, id, name string) []byte {
	if id != "" {
		dst = append(append(append(dst, "id: "...), id...), '\n')
	}
	if name != "" {
		dst = append(append(append(dst, "event: "...), name...), '\n')
	}
	return append(dst, "data: "...)
}

// serialize runs the Serializer; json.RawMessage and []byte pass through.
// Its output is checked for UTF-8 by build: by the enrichment's scan for an
// object, by utf8.Valid otherwise (encoding/json's output can hold invalid
// UTF-8 too, from a json.Marshaler or a nested json.RawMessage).
func (h *Hub) serialize(v any) ([]byte, error) {
	switch d := v.(type) {
	case json.RawMessage:
		return d, nil
	case []byte:
		return d, nil
	}
	data, err := h.callSerializer(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSerialize, err)
	}
	return data, nil
}

// callEnrich runs enrichTo, turning a panic of a user callback (KeyExtractor,
// FinalPredicate, a Getter, a Counter) into an error.
func (h *Hub) callEnrich(ctx context.Context, r *enriched, q *scriptSeq, data []byte, fr framing, max int) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: auto field or seq callback panicked: %v", ErrSerialize, p)
		}
	}()
	return h.enrichTo(ctx, r, q, data, fr, max)
}

// callSerializer runs the Serializer, turning a panic into an error.
func (h *Hub) callSerializer(v any) (data []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("serializer panicked: %v", p)
		}
	}()
	return h.opts.Serializer(v)
}

func defaultSerializer(v any) ([]byte, error) { return json.Marshal(v) }

// frameID returns the id Options.FrameID gives an event that has none: at
// most MaxEventIDBytes (ErrTooLong), without CR, LF or NUL
// (ErrInvalidEvent). A panic of FrameID is an ErrInvalidEvent too.
func (h *Hub) frameID(ev Event, data []byte) (id string, err error) {
	defer func() {
		if p := recover(); p != nil {
			id, err = "", fmt.Errorf("%w: FrameID panicked: %v", ErrInvalidEvent, p)
		}
	}()
	id = h.opts.FrameID(ev, data)
	if err := checkLen("FrameID result", id, MaxEventIDBytes); err != nil {
		return "", err
	}
	if !validField(id) {
		return "", fmt.Errorf("%w: FrameID returned %q", ErrInvalidEvent, clip(id))
	}
	return id, nil
}

// idLine returns the SSE id line of a caller's id.
func idLine(id string) []byte {
	return append(append(append(make([]byte, 0, len(id)+5), "id: "...), id...), '\n')
}
