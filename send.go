package ssekify

import (
	"context"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Event is what is sent.
type Event struct {
	// Name is the SSE event field (the browser's addEventListener name).
	// Empty means the default "message" event.
	Name string
	// ID is the SSE id field. Empty means generated (see Options.FrameID).
	ID string
	// Data is serialized by Options.Serializer (JSON by default).
	// json.RawMessage and []byte are used as they are.
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
	frame  []byte // the whole SSE event
	refs   int32  // replay buffers holding it (replay_mem.go; guarded by h.mu)
	// dataInFrame: data is a slice of frame, not a copy of its own.
	dataInFrame bool
}

// messageOverhead approximates what a message costs besides its bytes: the
// struct, its string and slice headers and allocation rounding.
const messageOverhead = 128

// heldBytes is what keeping m costs in memory: every byte slice and string
// it holds, plus the struct; data is counted apart from the frame unless it
// is a slice of it (dataInFrame). The replay store charges it against
// RecentMaxBytes.
func (m *message) heldBytes() int {
	n := messageOverhead + len(m.frame) + len(m.id) + len(m.name) + len(m.target)
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
	Name   string
	ID     string
	// Data is the serialized payload. It is shared: do not modify it.
	Data []byte
	// Delivered is the number of local connections it was queued for.
	Delivered int
	// Origin is the instance that sent it (this one for OnMessageSent).
	Origin string
}

// SendToUser queues ev for every stream of userID on this instance and
// returns how many streams it was queued for. It never blocks on a client.
// The event is also kept in the user's replay buffer, even when the user has
// no stream here right now.
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
	m, err := h.prepare(ctx, kind, target, ev, false)
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
func (h *Hub) prepare(ctx context.Context, kind targetKind, target string, ev Event, global bool) (*message, error) {
	m, err := h.build(ctx, kind, target, ev, global)
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

func (h *Hub) build(ctx context.Context, kind targetKind, target string, ev Event, global bool) (*message, error) {
	if h.closed.Load() {
		return nil, ErrClosed
	}
	if kind != kindAll && target == "" {
		return nil, fmt.Errorf("%w: %s", ErrEmptyTarget, kind)
	}
	if !validField(ev.Name) || !validField(ev.ID) {
		return nil, fmt.Errorf("%w: event name %q or id %q contains CR, LF, NUL or invalid UTF-8",
			ErrInvalidEvent, clip(ev.Name), clip(ev.ID))
	}
	data, err := h.serialize(ev.Data)
	if err != nil {
		return nil, err
	}
	if data, err = h.callEnrich(ctx, data, global); err != nil {
		return nil, err
	}
	if max := h.opts.MaxPayloadBytes; max > 0 && len(data) > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrPayloadTooLarge, len(data), max)
	}
	id := ev.ID
	if id == "" {
		if id, err = h.frameID(ev, data); err != nil {
			return nil, err
		}
	}
	m := &message{kind: kind, target: target, id: id, name: ev.Name, data: data}
	m.frame = appendFrame(make([]byte, 0, frameSize(id, ev.Name, data)), id, ev.Name, data)
	return m, nil
}

// serialize runs the Serializer (json.RawMessage and []byte pass through)
// and checks that the result is valid UTF-8.
func (h *Hub) serialize(v any) ([]byte, error) {
	var data []byte
	switch d := v.(type) {
	case json.RawMessage:
		data = d
	case []byte:
		data = d
	default:
		var err error
		if data, err = h.callSerializer(v); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSerialize, err)
		}
	}
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: serialized data is not valid UTF-8", ErrInvalidEvent)
	}
	return data, nil
}

// callEnrich runs enrich, turning a panic of a user callback (KeyExtractor,
// FinalPredicate, a Getter) into an error.
func (h *Hub) callEnrich(ctx context.Context, data []byte, global bool) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: auto field or seq callback panicked: %v", ErrSerialize, p)
		}
	}()
	return h.enrich(ctx, data, global)
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

// frameID returns the id of an event that has none.
func (h *Hub) frameID(ev Event, data []byte) (string, error) {
	if h.opts.FrameID == nil {
		return h.ids.next(h.now()), nil
	}
	id := h.opts.FrameID(ev, data)
	if !validField(id) {
		return "", fmt.Errorf("%w: FrameID returned %q", ErrInvalidEvent, clip(id))
	}
	return id, nil
}

// deliver records m for replay and queues it for its local recipients,
// atomically with respect to Register, then reports what happened.
func (h *Hub) deliver(m *message) int {
	var fx effects
	h.mu.Lock()
	for _, c := range h.recipients(m.kind, m.target) {
		h.enqueue(c, m.frame, &fx)
	}
	// Recorded after the writers were woken (they start on the other
	// cores meanwhile); still under h.mu, so atomic with Register.
	h.replay.record(m)
	for _, c := range fx.disconnect {
		h.remove(c)
	}
	h.mu.Unlock()
	h.settle(&fx)
	return fx.delivered
}

// recipients returns the connections a message is for. The slice belongs to
// the hub: use it only with h.mu held.
func (h *Hub) recipients(kind targetKind, target string) []*Conn {
	switch kind {
	case kindUser:
		if u := h.users[target]; u != nil {
			return u.conns
		}
	case kindRoom:
		return h.rooms[target]
	case kindAll:
		return h.all
	}
	return nil
}

// effects collects what fan-out did, to count and report once h.mu is released.
type effects struct {
	delivered  int
	dropped    []dropReport
	disconnect []*Conn
}

type dropReport struct {
	conn   *Conn
	code   string
	frames int
}

// enqueue queues frame for c and applies its drop policy. h.mu held.
func (h *Hub) enqueue(c *Conn, frame []byte, fx *effects) {
	r := c.q.push(frame)
	switch {
	case r.queued:
		fx.delivered++
		if r.wake {
			c.signal()
		}
		h.stats.peak(r.items, r.bytes)
		if r.dropped > 0 {
			h.stats.droppedOldest.Add(int64(r.dropped))
			fx.dropped = append(fx.dropped, dropReport{c, CodeDropOldest, r.dropped})
		}
	case r.rejected:
		h.stats.droppedNewest.Add(1)
		fx.dropped = append(fx.dropped, dropReport{c, CodeDropNewest, 1})
	case r.disconnect:
		if c.close(ErrSlowClient) {
			h.stats.disconnectedByBackpressure.Add(1)
			fx.disconnect = append(fx.disconnect, c)
		}
	}
}

// settle reports drops and backpressure disconnects, without h.mu.
func (h *Hub) settle(fx *effects) {
	for _, d := range fx.dropped {
		h.reportErr(&Error{Code: d.code, Level: LevelWarn, Op: "enqueue", Target: d.conn.id,
			Err: fmt.Errorf("queue full (policy %s): %d frame(s) dropped for user %q", d.conn.cfg.policy, d.frames, d.conn.userID)})
	}
	for _, c := range fx.disconnect {
		h.reportErr(&Error{Code: CodeSlowClient, Level: LevelWarn, Op: "enqueue", Target: c.id,
			Err: fmt.Errorf("%w: user %q", ErrSlowClient, c.userID)})
	}
}
