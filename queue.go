package ssekify

import (
	"slices"
	"sync"
	"sync/atomic"
)

// minRing is the ring's size once a stream first queues a frame.
const minRing = 16

// queue is one connection's bounded list of frames waiting for its writer.
// Frames are shared, immutable byte slices: the queue holds references, never
// copies. The ring grows lazily (doubling) up to maxItems, so an idle
// connection holds no buffer at all.
type queue struct {
	mu       sync.Mutex
	ring     [][]byte
	head     int // index of the oldest frame
	n        int // frames queued
	bytes    int // bytes queued
	maxItems int
	maxBytes int
	policy   DropPolicy
	closed   bool
	reason   error       // why the queue was closed; nil for a normal end
	done     atomic.Bool // closed, readable without mu (the writer checks it per write)
}

// pushResult says what push did, for counting and reporting after the hub
// lock is released.
type pushResult struct {
	queued     bool // the frame is in the queue
	wake       bool // the queue was empty: the writer must be woken
	dropped    int  // frames dropped from the head (DropOldest)
	rejected   bool // the new frame was discarded (DropNewest)
	disconnect bool // the queue is full under Disconnect: close the connection
	items      int  // queue length after the push
	bytes      int  // queue bytes after the push
}

// push adds a frame, applying the drop policy when it does not fit. A frame
// larger than maxBytes is admitted into an empty queue only, so one large
// event still gets through while the bound holds for everything else.
func (q *queue) push(f []byte) (r pushResult) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return r
	}
	if !q.fits(len(f)) {
		switch q.policy {
		case DropNewest:
			r.rejected = true
			return r
		case Disconnect:
			r.disconnect = true
			return r
		}
		for q.n > 0 && !q.fits(len(f)) {
			q.popHead()
			r.dropped++
		}
	}
	r.wake = q.n == 0
	q.append(f)
	r.queued = true
	r.items, r.bytes = q.n, q.bytes
	return r
}

// fits reports whether a frame of size bytes can be added now.
func (q *queue) fits(size int) bool {
	if q.n == 0 {
		return true
	}
	return q.n < q.maxItems && q.bytes+size <= q.maxBytes
}

func (q *queue) append(f []byte) {
	if q.n == len(q.ring) {
		q.grow()
	}
	q.ring[(q.head+q.n)%len(q.ring)] = f
	q.n++
	q.bytes += len(f)
}

func (q *queue) grow() {
	size := max(2*len(q.ring), minRing)
	if size > q.maxItems && q.maxItems >= q.n+1 {
		size = q.maxItems
	}
	ring := make([][]byte, size)
	for i := 0; i < q.n; i++ {
		ring[i] = q.ring[(q.head+i)%len(q.ring)]
	}
	q.ring, q.head = ring, 0
}

func (q *queue) popHead() {
	q.bytes -= len(q.ring[q.head])
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
}

// take moves every queued frame to dst, in order, and reports whether the
// queue was closed (and why). dst grows in one step to what it must hold.
func (q *queue) take(dst [][]byte) (_ [][]byte, closed bool, reason error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	dst = slices.Grow(dst, q.n)
	for q.n > 0 {
		dst = append(dst, q.ring[q.head])
		q.popHead()
	}
	q.head = 0
	return dst, q.closed, q.reason
}

// close marks the queue closed and releases its frames. It reports false if
// it was closed already.
func (q *queue) close(reason error) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.closed, q.reason = true, reason
	q.done.Store(true)
	q.ring, q.head, q.n, q.bytes = nil, 0, 0, 0
	return true
}

// closedReason reports whether the queue was closed, and why, leaving its
// frames in place.
func (q *queue) closedReason() (closed bool, reason error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed, q.reason
}

// isClosed reports whether close was called.
func (q *queue) isClosed() bool { return q.done.Load() }
