package ssekify

import (
	"fmt"
	"strconv"
)

// A Publish* through a RedisBroker's logs numbers its seq member in the
// publish script itself (log_redis.go), so that a payload with a scope key
// costs one round trip, like any other publish, and not an INCR before it:
// the hub builds the payload with the member's name and no number, and the
// script increments the scope's counter (the same key, KeyPrefix + scope,
// that Send* and the Counter use: one counter per scope), applies the
// floor, sets the expiry or, for a final message, deletes the key, and
// writes the number into the envelope before it appends and publishes it.
//
// The usual path (seqAllocator.reserve: a Counter call before the publish)
// stays where the script can not take the number: on a Cluster (the
// counters are not in the tenant's slot), with Options.FrameID (which sees
// the numbered payload), and while the Counter is down or a scope's key is
// still to be deleted (the allocator numbers locally or probes).

// scriptSeq is a seq number left to the publish script.
type scriptSeq struct {
	key   string // the Counter's key: KeyPrefix + scope
	scope string // the scope key, for the local counter
	final bool   // the message ends its scope: the script deletes key
	floor int64  // the least value the counter may give (0: none)
	start int64  // Seq.StartAt: the number is start + value - 1
	ttlMs int64  // the key's expiry (0: none)
	// at is where the number goes in the payload, tail how many of the
	// payload's bytes follow it (the payload ends the envelope).
	at, tail int
	v        int64 // the counter's value, from the script's reply
}

// used reports whether the script numbers the message.
func (q *scriptSeq) used() bool { return q != nil && q.key != "" }

// number is the seq the script gave.
func (q *scriptSeq) number() int64 { return q.start + q.v - 1 }

// scriptSeqs reports whether h's publishes may leave their seq numbers to
// the publish script.
func (h *Hub) scriptSeqs() bool {
	rb, ok := h.lb.(*RedisBroker)
	return ok && !rb.sharded && h.opts.FrameID == nil && !h.opts.Seq.Disabled &&
		h.seq.counter == Counter(rb)
}

// toScript leaves the number of the next message of scope key to the
// publish script, filling q, unless the allocator must number it itself:
// the Counter is down (local numbers, or the one call that probes it) or
// the key is to be deleted first.
func (s *seqAllocator) toScript(q *scriptSeq, key string, final bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return false
	}
	var floor int64
	if k := s.keys[key]; k != nil {
		if k.reset {
			return false
		}
		floor = k.floor(s.start)
	}
	*q = scriptSeq{key: s.prefix + key, scope: key, final: final, floor: floor, start: s.start, ttlMs: expiryMs(s.ttl)}
	return true
}

// tookScript records the number the script gave, as a Counter call's: the
// local counter mirrors it, a final message ends the scope here too.
func (s *seqAllocator) tookScript(q *scriptSeq) {
	s.h.stats.seqIncrsRedis.Add(1)
	if q.final {
		s.forget(q.scope)
		return
	}
	s.took(q.scope, q.v, false)
}

// args appends the script's arguments of q: the number (1-based) of its
// key among the script's keys, then floor, start, ttl, final and tail.
func (q *scriptSeq) args(dst []any, keyNumber int) []any {
	final := 0
	if q.final {
		final = 1
	}
	return append(dst, keyNumber, q.floor, q.start, q.ttlMs, final, q.tail)
}

// reply reads the script's reply for q: the counter's value, or the error
// that kept the event from being published (a key of another type).
func (q *scriptSeq) reply(r any) error {
	switch v := r.(type) {
	case int64:
		if v > 0 {
			q.v = v
			return nil
		}
	case string:
		return fmt.Errorf("%w: seq counter %s: %s", ErrBroker, q.key, v)
	}
	return fmt.Errorf("%w: seq counter %s: unexpected reply %v", ErrBroker, q.key, r)
}

// withSeq returns m with the number the script gave written into its
// payload, for a hub that delivers its own publishes (PublishOnly).
func (m *message) withSeq(q *scriptSeq) *message {
	data := make([]byte, 0, len(m.data)+seqDigits)
	data = append(strconv.AppendInt(append(data, m.data[:q.at]...), q.number(), 10), m.data[q.at:]...)
	n := newMessage(m.kind, m.target, "", m.name, data, nil)
	n.id, n.idLine = m.id, m.idLine
	return n
}
