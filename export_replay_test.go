package ssekify

import (
	"context"
	"fmt"
	"time"
)

// SetClock replaces the hub's clock (replay TTL, seq key TTL, timestamps,
// frame ids). Call it before the hub is used.
func SetClock(h *Hub, now func() time.Time) { h.now = now }

// NewIDGen returns the default frame id generator of an instance.
func NewIDGen(instance string) func(time.Time) string {
	g := &idGen{instance: instance}
	return g.next
}

// ParseFields exposes the JSON object scanner.
var ParseFields = parseFields

// FieldNames returns the decoded top-level member names of f, in order.
func FieldNames(f Fields) []string {
	var names []string
	it := newObjIter(f.obj)
	for {
		key, _, ok := it.next()
		if !ok {
			return names
		}
		names = append(names, unquoteJSON(key))
	}
}

// AppendJSONString exposes the JSON string encoder of added fields.
var AppendJSONString = appendJSONString

// Enrich runs the hub's auto fields and seq on a serialized payload.
func Enrich(h *Hub, ctx context.Context, data []byte) ([]byte, error) {
	return h.enrich(ctx, data, false)
}

// SetCounter gives the hub's seq allocator a shared counter, as the broker does.
func SetCounter(h *Hub, c Counter) { h.seq.setCounter(c) }

// BrokerWithoutCounter tells the seq allocator that the broker has no Counter.
func BrokerWithoutCounter(h *Hub) { h.seq.brokerWithoutCounter() }

// SeqKeys returns how many local seq counters the hub holds.
func SeqKeys(h *Hub) int {
	h.seq.mu.Lock()
	defer h.seq.mu.Unlock()
	return len(h.seq.keys)
}

// ReplayStore drives a replay store directly, as the hub does under its lock.
type ReplayStore struct {
	s     replayStore
	stats counters
}

// NewReplayStore returns the store the options ask for.
func NewReplayStore(o *Options, now func() time.Time) (*ReplayStore, error) {
	r, err := o.resolve()
	if err != nil {
		return nil, err
	}
	rs := &ReplayStore{}
	rs.s = newReplayStore(&r, now, &rs.stats)
	return rs, nil
}

// Online, Offline, Join, Leave and Clear are the hub's notifications.
func (r *ReplayStore) Online(user string)         { r.s.online(user) }
func (r *ReplayStore) Offline(user string)        { r.s.offline(user) }
func (r *ReplayStore) Join(user, room string)     { r.s.join(user, room) }
func (r *ReplayStore) Leave(user, room string)    { r.s.leave(user, room) }
func (r *ReplayStore) Clear(user string)          { r.s.clear(user) }
func (r *ReplayStore) RecordUser(user, id string) { r.record(kindUser, user, id, 0) }
func (r *ReplayStore) RecordRoom(room, id string) { r.record(kindRoom, room, id, 0) }
func (r *ReplayStore) RecordAll(id string)        { r.record(kindAll, "", id, 0) }

// RecordSized records a message to user whose frame is size bytes.
func (r *ReplayStore) RecordSized(user, id string, size int) { r.record(kindUser, user, id, size) }

// The costs the replay store charges besides the bytes of strings.
const (
	ReplayUserOverhead = replayUserOverhead
	UserRoomOverhead   = userRoomOverhead
	RoomOverhead       = roomOverhead
	MemberOverhead     = memberOverhead
	PointerBytes       = pointerBytes
	MessageOverhead    = messageOverhead
)

// kinds maps "user", "room" and "all" to a targetKind.
var kinds = map[string]targetKind{"user": kindUser, "room": kindRoom, "all": kindAll}

// RecordHeld records a message of kind "user", "room" or "all" whose
// heldBytes is exactly held (its frame is padded to it).
func (r *ReplayStore) RecordHeld(kind, target, id string, held int) {
	data := []byte(`{}`)
	m := &message{kind: kinds[kind], target: target, id: id, data: data, frame: appendFrame(nil, id, "", data)}
	if pad := held - m.heldBytes(); pad > 0 {
		m.frame = append(m.frame, make([]byte, pad)...)
	}
	if m.heldBytes() != held {
		panic(fmt.Sprintf("RecordHeld: %d bytes is less than the message's own %d", held, m.heldBytes()))
	}
	r.s.record(m)
}

// RecordData records a message of kind "user", "room" or "all" with data
// (one line) as its payload, either a slice of its frame (inFrame) or a copy
// of its own. It returns the message's heldBytes.
func (r *ReplayStore) RecordData(kind, target, id string, data []byte, inFrame bool) int {
	frame := appendFrame(nil, id, "", data)
	m := &message{kind: kinds[kind], target: target, id: id, frame: frame, data: append([]byte(nil), data...)}
	if inFrame {
		m.data, m.dataInFrame = nil, true
		if len(data) > 0 {
			i := len(frame) - len(data) - 2 // the data line ends with "\n\n"
			m.data = frame[i : i+len(data) : i+len(data)]
		}
	}
	r.s.record(m)
	return m.heldBytes()
}

// Check recomputes from scratch what the store holds and compares it with
// its running figures and its Stats; see checkReplay.
func (r *ReplayStore) Check() error { return checkReplay(r.s, &r.stats) }

// CheckReplay is Check for a hub's replay store, under the hub's lock.
func CheckReplay(h *Hub) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return checkReplay(h.replay, &h.stats)
}

// checkReplay recomputes the bytes s holds — each distinct message once,
// each user's own cost, the rooms index — and the part of them in buffers,
// and returns an error when they differ from the running figures or from
// the published ReplayBytes and ReplayUsers, when a message's refs is not
// the number of buffers holding it, when the users, lists and rooms
// disagree, or when the byte bound is exceeded although an offline user is
// left to forget or a buffer to empty.
func checkReplay(rs replayStore, st *counters) error {
	s, ok := rs.(*memReplay)
	if !ok {
		if b := st.replayBytes.Load(); b != 0 {
			return fmt.Errorf("no replay store, ReplayBytes %d", b)
		}
		return nil
	}
	var total, buffered int64
	holders := map[*message]int32{}
	listed := 0
	for _, l := range []*lruList[replayUser, *replayUser]{&s.on, &s.off} {
		n := 0
		for u := l.head; u != nil; u = u.lru.next {
			n++
			if s.users[u.id] != u {
				return fmt.Errorf("user %q listed but not in users", u.id)
			}
			if u.online != (l == &s.on) {
				return fmt.Errorf("user %q in the wrong list", u.id)
			}
			if n > len(s.users) {
				return fmt.Errorf("list longer than the %d users", len(s.users))
			}
		}
		if n != l.n {
			return fmt.Errorf("list holds %d users, counts %d", n, l.n)
		}
		listed += n
	}
	if listed != len(s.users) {
		return fmt.Errorf("%d users listed, %d known", listed, len(s.users))
	}
	for _, u := range s.users {
		total += u.heldBytes()
		buffered += ringBytes(cap(u.buf))
		for _, m := range u.buf {
			holders[m]++
		}
		for room := range u.rooms {
			if _, ok := s.rooms[room][u]; !ok {
				return fmt.Errorf("user %q in room %q, not in the index", u.id, room)
			}
		}
	}
	for m, n := range holders {
		if m.refs != n {
			return fmt.Errorf("message %q held by %d buffers, refs %d", m.id, n, m.refs)
		}
		total += int64(m.heldBytes())
		buffered += int64(m.heldBytes())
	}
	for room, members := range s.rooms {
		if len(members) == 0 {
			return fmt.Errorf("room %q indexed without members", room)
		}
		for u := range members {
			if _, ok := u.rooms[room]; !ok || s.users[u.id] != u {
				return fmt.Errorf("index has %q in room %q, the user does not", u.id, room)
			}
		}
		total += roomIndexBytes(room, len(members))
	}
	if total != s.bytes || buffered != s.buffered {
		return fmt.Errorf("recomputed %d bytes (%d in buffers), running figure %d (%d)", total, buffered, s.bytes, s.buffered)
	}
	if b := st.replayBytes.Load(); b != total {
		return fmt.Errorf("recomputed %d bytes, ReplayBytes %d", total, b)
	}
	if n := st.replayUsers.Load(); n != int64(len(s.users)) {
		return fmt.Errorf("%d users, ReplayUsers %d", len(s.users), n)
	}
	if s.maxBytes >= 0 && total > s.maxBytes && (s.off.n > 0 || buffered > 0) {
		return fmt.Errorf("%d bytes over the bound %d with %d offline users and %d in buffers", total, s.maxBytes, s.off.n, buffered)
	}
	return nil
}

func (r *ReplayStore) record(kind targetKind, target, id string, size int) {
	data := []byte(`{}`)
	frame := appendFrame(nil, id, "", data)
	if size > len(frame) {
		frame = append(frame, make([]byte, size-len(frame))...)
	}
	r.s.record(&message{kind: kind, target: target, id: id, data: data, frame: frame[:max(size, len(frame))]})
}

// Since returns the ids replayed after last.
func (r *ReplayStore) Since(user, last string) (ids []string, oldest string, found bool) {
	msgs, oldest, found := r.s.since(user, last)
	for _, m := range msgs {
		ids = append(ids, m.id)
	}
	return ids, oldest, found
}

// Stats returns replayUsers, replayBytes and replayEvicted.
func (r *ReplayStore) Stats() (users, bytes, evicted int64) {
	return r.stats.replayUsers.Load(), r.stats.replayBytes.Load(), r.stats.replayEvicted.Load()
}
