package ssekify

import (
	"context"
	"time"
)

// SetClock replaces the hub's clock (log TTL, seq key TTL, timestamps).
// Call it before the hub is used.
func SetClock(h *Hub, now func() time.Time) { h.now = now }

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
