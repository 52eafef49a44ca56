package ssekify

import (
	"sync"
	"time"
)

// leanHub is what the lean streams of a hub share: their count and the
// wheel of their heartbeats, one timer for the whole hub. A stream is in
// the slot of the tick it is due at; the timer fires at the first tick
// whose slot holds a stream, and each firing looks only at the streams of
// the ticks that came: O(streams due). A stream that wrote since it was
// placed moves to its new due tick without a write; an idle one is asked
// for its ": ping" and placed KeepAlive later. The timer runs only while
// a lean stream with a heartbeat exists, so an idle hub has none.
type leanHub struct {
	mu      sync.Mutex
	n       int           // lean streams
	tick    time.Duration // the wheel's resolution, set with its first stream
	slots   [][]*Conn     // wheelSlots slots; nil until the first stream
	next    int64         // the first tick not looked at yet
	armed   int64         // the tick the timer is set for; 0: not set
	timer   *time.Timer   // runs leanFire
	stopped bool          // Shutdown: no more heartbeats, no poller
	due     []*Conn       // reused by leanFire
	poller  *poller       // the client-gone poller (lean_watch.go); nil without streams
	start   leanStarter   // starts the writers that deliveries kick (hijack.go)
}

// wheelSlots is the number of slots: with wheelTick, one KeepAlive spans
// at most half of them, so a stream is looked at once per interval.
const wheelSlots = 256

// wheelTick is the resolution of the heartbeats: 1/128 of the hub's
// KeepAlive (DefaultKeepAlive when it is off), between 1ms and 250ms, so
// a heartbeat comes at most a tick late and a KeepAlive interval spans at
// most half the wheel.
func wheelTick(keepAlive time.Duration) time.Duration {
	if keepAlive <= 0 {
		keepAlive = DefaultKeepAlive
	}
	return min(max(keepAlive/128, time.Millisecond), 250*time.Millisecond)
}

// leanAdd counts a stream handed over and places it in the wheel.
func (h *Hub) leanAdd(c *Conn) {
	lh := &h.life.lean
	lh.mu.Lock()
	lh.n++
	if c.cfg.keepAlive > 0 && !lh.stopped {
		if lh.slots == nil {
			lh.tick = wheelTick(h.opts.KeepAlive)
			lh.slots = make([][]*Conn, wheelSlots)
			lh.next = lh.tickOf(monoNow())
		}
		lh.place(c, c.lean.lastWrite.Load()+int64(c.cfg.keepAlive))
		lh.arm(h)
	}
	lh.mu.Unlock()
	h.stats.leanStreams.Add(1)
	c.watch()
}

// leanRemove takes an ended stream out of the count and the wheel; the
// timer stops with the last stream.
func (h *Hub) leanRemove(c *Conn) {
	lh := &h.life.lean
	lh.mu.Lock()
	lh.n--
	lh.unplace(c)
	if lh.n == 0 && lh.timer != nil {
		lh.timer.Stop()
		lh.armed = 0
	}
	lh.mu.Unlock()
	h.stats.leanStreams.Add(-1)
}

// leanStop ends the heartbeats and the poller (Shutdown, once the streams
// are closed) and waits for the poller's goroutine.
func (h *Hub) leanStop() {
	lh := &h.life.lean
	lh.mu.Lock()
	lh.stopped = true
	if lh.timer != nil {
		lh.timer.Stop()
	}
	p := lh.poller
	lh.poller = nil
	lh.mu.Unlock()
	if p != nil {
		p.stop()
	}
}

// leanPoller returns the hub's poller, started with the first stream that
// uses it, and counts the caller as a user; nil where there is none.
func (h *Hub) leanPoller() *poller {
	lh := &h.life.lean
	lh.mu.Lock()
	defer lh.mu.Unlock()
	if lh.stopped {
		return nil
	}
	if lh.poller == nil {
		if lh.poller = newPoller(); lh.poller == nil {
			return nil
		}
	}
	lh.poller.users++
	return lh.poller
}

// leanPollerRelease counts a user out; the last one stops the poller and
// waits for its goroutine, so that a hub without lean streams has none.
func (h *Hub) leanPollerRelease(p *poller) {
	lh := &h.life.lean
	lh.mu.Lock()
	p.users--
	last := p.users == 0
	if last && lh.poller == p {
		lh.poller = nil
	}
	lh.mu.Unlock()
	if last {
		p.stop()
	}
}

// tickOf is the tick at or after mono time t.
func (lh *leanHub) tickOf(t int64) int64 {
	tick := int64(lh.tick)
	return (t + tick - 1) / tick
}

// place puts c in the slot of the tick at or after mono time at (the next
// tick when that one was looked at already). lh.mu held.
func (lh *leanHub) place(c *Conn, at int64) {
	t := max(lh.tickOf(at), lh.next)
	s := int32(t % wheelSlots)
	l := c.lean
	l.slot, l.idx, l.due = s, int32(len(lh.slots[s])), t
	lh.slots[s] = append(lh.slots[s], c)
}

// unplace takes c out of its slot, if it is in one. lh.mu held.
func (lh *leanHub) unplace(c *Conn) {
	l := c.lean
	if l.slot < 0 {
		return
	}
	slot := lh.slots[l.slot]
	end := len(slot) - 1
	moved := slot[end]
	slot[l.idx], moved.lean.idx = moved, l.idx
	slot[end] = nil
	lh.slots[l.slot] = slot[:end]
	l.slot = -1
}

// arm sets the timer for the first tick whose slot holds a stream (a
// stream there may be due rounds later: the firing then only re-arms).
// lh.mu held.
func (lh *leanHub) arm(h *Hub) {
	for i := range int64(wheelSlots) {
		t := lh.next + i
		if len(lh.slots[t%wheelSlots]) == 0 {
			continue
		}
		if lh.armed != 0 && lh.armed <= t {
			return
		}
		lh.armed = t
		d := time.Duration(t*int64(lh.tick) - monoNow())
		if lh.timer == nil {
			lh.timer = time.AfterFunc(d, h.leanFire)
		} else {
			lh.timer.Reset(d)
		}
		return
	}
}

// leanFire looks at the streams of the ticks that came: an idle one gets
// its heartbeat (its writer is started), one that wrote meanwhile moves to
// its new due tick.
func (h *Hub) leanFire() {
	lh := &h.life.lean
	lh.mu.Lock()
	defer lh.mu.Unlock()
	if lh.stopped || lh.slots == nil {
		return
	}
	now := monoNow()
	cur := now / int64(lh.tick)
	lh.armed = 0
	for t := lh.next; t <= cur && t < lh.next+wheelSlots; t++ {
		slot := &lh.slots[t%wheelSlots]
		for i := 0; i < len(*slot); {
			c := (*slot)[i]
			l := c.lean
			if l.due > cur {
				i++
				continue
			}
			lh.unplace(c) // moves the last one to i
			k := int64(c.cfg.keepAlive)
			if last := l.lastWrite.Load(); now-last < k {
				lh.placeAfter(c, last+k, cur)
				continue
			}
			l.ping.Store(true)
			lh.due = append(lh.due, c)
			lh.placeAfter(c, now+k, cur)
		}
	}
	lh.next = max(lh.next, cur+1)
	for _, c := range lh.due {
		c.signal()
	}
	clear(lh.due)
	lh.due = lh.due[:0]
	lh.arm(h)
}

// placeAfter places c at mono time at, after the tick cur being looked at.
func (lh *leanHub) placeAfter(c *Conn, at, cur int64) {
	next := lh.next
	lh.next = cur + 1
	lh.place(c, at)
	lh.next = next
}

// monoNow is mono(time.Now()).
func monoNow() int64 { return mono(time.Now()) }
