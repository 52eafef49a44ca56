package ssekify

import (
	"slices"
	"sync"
	"sync/atomic"
)

// minRing is the ring's size once a stream first queues a frame.
const minRing = 16

// queue is one connection's bounded list of messages waiting for its
// writer: a cache of the newest part of the stream's logs. Messages are
// shared and immutable: the queue holds references, never copies. The ring
// grows lazily (doubling) up to maxItems, so an idle connection holds no
// buffer at all.
//
// When a message does not fit, the policy decides. Under CatchUp the queue
// drops what it holds and switches to catching up: the writer then reads
// the stream's logs from its cursor (conn.go) and the queue ignores logged
// messages until the writer has caught up, which it tells under the hub's
// lock (resume), so that nothing falls between the logs and the queue.
// Under DropOldest and DropNewest the dropped messages are replaced by a gap
// marker at the place of loss, which the writer turns into the gap event.
type queue struct {
	mu       sync.Mutex
	ring     []*message
	head     int // index of the oldest message
	n        int // messages queued
	markers  int // of which gap markers, which the item bound does not count
	bytes    int // bytes queued
	maxItems int
	maxBytes int
	policy   DropPolicy
	catching bool        // CatchUp: the writer must read the logs; logged pushes are ignored
	closed   bool        // no more writes
	reason   error       // why the queue was closed; nil for a normal end
	done     atomic.Bool // closed, readable without mu (the writer checks it per write)
}

// pushResult says what push did, for counting and reporting after the hub
// lock is released.
type pushResult struct {
	queued     bool // the message is in the queue, or the logs will give it
	wake       bool // the writer must be woken
	dropped    int  // messages dropped (DropOldest: from the head; DropNewest: the new one)
	overflow   bool // CatchUp: the queue overflowed and the writer reads the logs
	disconnect bool // the queue is full under Disconnect: close the connection
	items      int  // queue length after the push
	bytes      int  // queue bytes after the push
}

// push adds m, applying the drop policy when it does not fit. A message
// larger than maxBytes is admitted into an empty queue only, so one large
// event still gets through while the bound holds for everything else. A
// message without position (an announcement, a gap marker) is never dropped.
func (q *queue) push(m *message) (r pushResult) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return r
	}
	if q.catching && m.pos != 0 {
		return pushResult{queued: true} // the writer reads it from the logs
	}
	if m.pos != 0 && !q.fits(m.size()) {
		switch q.policy {
		case CatchUp:
			q.release()
			q.catching = true
			return pushResult{queued: true, wake: true, overflow: true}
		case DropNewest:
			q.markLoss(m)
			return pushResult{dropped: 1, items: q.n - q.markers, bytes: q.bytes}
		case Disconnect:
			return pushResult{disconnect: true}
		}
		r.dropped = q.dropOldest(m.size())
	}
	r.wake = q.n == 0
	q.append(m)
	r.queued = true
	r.items, r.bytes = q.n-q.markers, q.bytes
	return r
}

// fits reports whether a message of size bytes can be added now.
func (q *queue) fits(size int) bool {
	if q.n == 0 {
		return true
	}
	return q.n-q.markers < q.maxItems && q.bytes+size <= q.maxBytes
}

// dropOldest drops logged messages from the head until size bytes fit, and
// puts one gap marker where they were. It returns how many it dropped.
func (q *queue) dropOldest(size int) int {
	var lost loss
	var keep []*message // messages without position met on the way: kept
	dropped := 0
	for q.n > 0 && !q.fits(size) {
		m := q.popHead()
		switch {
		case m.gap != nil && m.gap.reason == reasonOverflow:
			lost.add(*m.gap)
		case m.pos == 0:
			keep = append(keep, m) // an announcement, another gap
		default:
			lost.add(lossOf(m))
			dropped++
		}
	}
	for i := len(keep) - 1; i >= 0; i-- {
		q.pushFront(keep[i])
	}
	if lost.any() {
		lost.reason = reasonOverflow
		q.pushFront(&message{gap: &lost})
	}
	return dropped
}

// markLoss records that m was dropped after what the queue holds: it joins
// the gap marker at the tail, or a new one.
func (q *queue) markLoss(m *message) {
	if q.n > 0 {
		if t := q.ring[(q.head+q.n-1)%len(q.ring)]; t.gap != nil && t.gap.reason == reasonOverflow {
			t.gap.add(lossOf(m))
			return
		}
	}
	l := lossOf(m)
	l.reason = reasonOverflow
	q.append(&message{gap: &l})
}

// lossOf is the loss of the one message m.
func lossOf(m *message) loss {
	return loss{missed: 1, exact: true, first: m.pos, last: m.pos}
}

func (q *queue) append(m *message) {
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)%len(q.ring)] = m
	q.n++
	q.count(m, 1)
}

// count adds m's weight, times sign, to the totals.
func (q *queue) count(m *message, sign int) {
	q.bytes += sign * m.size()
	if m.gap != nil {
		q.markers += sign
	}
}

func (q *queue) pushFront(m *message) {
	if q.n == len(q.ring) {
		q.grow()
	}
	q.head = (q.head - 1 + len(q.ring)) % len(q.ring)
	q.ring[q.head] = m
	q.n++
	q.count(m, 1)
}

func (q *queue) grow() {
	size := max(2*len(q.ring), minRing)
	if size > q.maxItems && q.maxItems >= q.n+1 {
		size = q.maxItems
	}
	ring := make([]*message, size)
	for i := 0; i < q.n; i++ {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

func (q *queue) popHead() *message {
	m := q.ring[q.head]
	q.count(m, -1)
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	return m
}

// release drops every logged message (the logs hold them); messages without
// position stay, in order.
func (q *queue) release() {
	n := q.n
	for i := 0; i < n; i++ {
		if m := q.popHead(); m.pos == 0 {
			q.append(m)
		}
	}
}

// take moves every queued message to dst, in order, and reports whether
// the writer must catch up from the logs first, and whether the queue was
// closed (and why). dst grows in one step to what it must hold.
func (q *queue) take(dst []*message) (_ []*message, catching, closed bool, reason error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dst = slices.Grow(dst, q.n)
	for q.n > 0 {
		dst = append(dst, q.popHead())
	}
	q.head = 0
	return dst, q.catching, q.closed, q.reason
}

// catchUp makes the writer read the logs before anything queued (a stream
// that replays after a reconnect starts so). Called before the stream is
// live, or with the hub's lock held.
func (q *queue) catchUp() {
	q.mu.Lock()
	q.catching = true
	q.mu.Unlock()
}

// resume ends a catch-up: the writer has read the logs to their end. Called
// with the hub's lock held, so the next logged message is queued.
func (q *queue) resume() {
	q.mu.Lock()
	q.catching = false
	q.mu.Unlock()
}

// close marks the queue closed and releases its messages. It reports false
// if it was closed already.
func (q *queue) close(reason error) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.closed, q.reason = true, reason
	q.done.Store(true)
	q.ring, q.head, q.n, q.bytes, q.markers = nil, 0, 0, 0, 0
	return true
}

// closedReason reports whether the queue was closed, and why, leaving its
// messages in place.
func (q *queue) closedReason() (closed bool, reason error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed, q.reason
}

// isClosed reports whether close was called.
func (q *queue) isClosed() bool { return q.done.Load() }
