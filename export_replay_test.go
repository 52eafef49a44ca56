package ssekify

import (
	"context"
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
