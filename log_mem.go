package ssekify

import "time"

// memLogs is the in-memory logStore of one instance.
//
// Which logs exist: the log for everyone, always; the log of a user or a
// room while a stream here reads it, and for RecentTTL after the last one
// left (an offline log, so that a client coming back gets what was sent
// meanwhile). An event for a target without a log is not kept: no stream
// here read it recently, so no client can miss it here. A stranger's id
// costs no memory.
//
// Retention, all without a goroutine or a timer: each log keeps its newest
// RecentBufferSize events; events older than RecentTTL are dropped; beyond
// RecentMaxBytes (everything held is counted: events with their frames,
// data and ids, the logs with their names, the index below) the oldest
// events go first, whatever their log. Every event is in one log, and in
// one hub-wide index in position order (fifo), which makes dropping the
// oldest event O(1): the index's head is the head of its log. The index
// holds positions, not events, so an entry whose event left its log early
// (the per-log bound) costs a few bytes until it reaches the head. Beyond
// RecentMaxUsers offline logs, the one offline the longest is forgotten.
//
// Nothing is lost in silence: a log remembers the newest position it
// dropped (lostUpTo) and the last few positions themselves (tombs, to count
// what a stream missed), and the store remembers the newest position of a
// log it forgot (lostFloor); a log created later inherits that floor. A
// stream whose cursor is older than what its logs dropped gets the gap event.
//
// Every method is called with the hub's mutex held.
type memLogs struct {
	maxEvents  int           // per log
	ttl        time.Duration // < 0: no age bound
	maxOffline int           // < 0: unbounded
	maxBytes   int64         // < 0: unbounded
	now        func() time.Time
	stats      *counters

	stale     int // index entries whose event left its log (compact)
	logs      map[logKey]*targetLog
	all       *targetLog
	fifo      fifoRing
	off       lruList[targetLog, *targetLog] // offline logs, the oldest at the tail
	bytes     int64
	lostFloor uint64
}

// targetLog is one target's log: a ring of events in position order.
type targetLog struct {
	key      logKey
	ring     []*message
	head, n  int
	lastPos  uint64 // newest position appended
	lostUpTo uint64 // newest position dropped, or floor
	// floor is the store's lostFloor when the log was made: what a
	// forgotten log of the same target lost, or events sent to the target
	// while it had no log, lie at or below it, uncounted.
	floor uint64
	tombs tombRing
	// partialBefore: the log may lack Publish* events published before
	// the event after position partialBefore-1 (its route was not
	// subscribed, or an outage was recovered while no stream read it):
	// it covers no position before partialBefore.
	partialBefore uint64
	readers       int   // streams reading it
	seen          int64 // unix nanoseconds when the last reader left
	gone          bool  // forgotten: index entries that name it are stale
	lru           lruLinks[targetLog]
}

func (l *targetLog) links() *lruLinks[targetLog] { return &l.lru }

// Approximate costs, counted in RecentMaxBytes besides the bytes held. A
// log is charged its whole struct (with its remembered drops) from the
// start, so that dropping an event never adds to the figure.
const (
	logOverhead  = 768 // a targetLog (about 670 bytes), its map entry and key header
	fifoEntry    = 24  // an index entry
	ringSlotSize = 8
)

func newMemLogs(o *Options, now func() time.Time, st *counters) *memLogs {
	s := &memLogs{
		maxEvents:  max(o.RecentBufferSize, 0),
		ttl:        o.RecentTTL,
		maxOffline: o.RecentMaxUsers,
		maxBytes:   o.RecentMaxBytes,
		now:        now,
		stats:      st,
		logs:       make(map[logKey]*targetLog),
	}
	s.all = s.create(allLog)
	s.publish()
	return s
}

// create adds an empty log for key.
func (s *memLogs) create(key logKey) *targetLog {
	l := &targetLog{key: key, lostUpTo: s.lostFloor, floor: s.lostFloor}
	s.logs[key] = l
	s.bytes += logOverhead + int64(len(key.target))
	s.stats.replayLogs.Add(1)
	return l
}

func (s *memLogs) attach(key logKey) {
	s.sweep()
	l := s.logs[key]
	if l == nil {
		l = s.create(key)
	} else if l.readers == 0 && l != s.all {
		s.off.remove(l)
	}
	l.readers++
	s.trim()
	s.publish()
}

func (s *memLogs) detach(key logKey) {
	l := s.logs[key]
	if l == nil || l.readers == 0 {
		return
	}
	l.readers--
	if l.readers > 0 || l == s.all {
		return
	}
	l.seen = s.now().UnixNano()
	s.off.pushFront(l)
	for s.maxOffline >= 0 && s.off.n > s.maxOffline {
		s.forget(s.off.tail)
	}
	s.trim()
	s.publish()
}

func (s *memLogs) append(m *message) {
	s.sweep()
	l := s.all
	if m.kind != kindAll {
		if l = s.logs[logKey{m.kind, m.target}]; l == nil {
			// No stream here reads it: kept by none. A log made for the
			// target later inherits this as its floor, so a client that
			// read a forgotten log of it is told, not left in silence.
			s.lostFloor = max(s.lostFloor, m.pos)
			s.publish()
			return
		}
	}
	l.lastPos = m.pos
	if s.maxEvents == 0 { // RecentBufferSize negative: kept by none
		l.dropped(s, m.pos)
		s.publish()
		return
	}
	if l.n == s.maxEvents {
		l.dropHead(s)
		s.stale++ // its index entry stays until compact or the head
	}
	if l.n == len(l.ring) {
		l.grow(s)
	}
	l.ring[(l.head+l.n)%len(l.ring)] = m
	l.n++
	s.fifo.push(fifoItem{log: l, pos: m.pos, at: s.now().UnixNano()})
	s.bytes += int64(m.heldBytes()) + fifoEntry
	s.trim()
	s.compact()
	s.publish()
}

// grow doubles l's ring, up to maxEvents slots.
func (l *targetLog) grow(s *memLogs) {
	size := min(max(2*len(l.ring), 8), s.maxEvents)
	ring := make([]*message, size)
	for i := 0; i < l.n; i++ {
		ring[i] = l.ring[(l.head+i)%len(l.ring)]
	}
	s.bytes += int64(size-len(l.ring)) * ringSlotSize
	l.ring, l.head = ring, 0
}

// at returns l's i-th event, oldest first.
func (l *targetLog) at(i int) *message { return l.ring[(l.head+i)%len(l.ring)] }

// dropHead drops l's oldest event.
func (l *targetLog) dropHead(s *memLogs) {
	m := l.ring[l.head]
	l.ring[l.head] = nil
	l.head = (l.head + 1) % len(l.ring)
	l.n--
	s.bytes -= int64(m.heldBytes())
	l.dropped(s, m.pos)
}

// dropped records that the event at pos left l.
func (l *targetLog) dropped(s *memLogs, pos uint64) {
	l.lostUpTo = max(l.lostUpTo, pos)
	l.tombs.push(pos)
	s.stats.replayEvicted.Add(1)
}

// trim drops the oldest events, then the oldest offline logs, until the
// byte bound holds.
func (s *memLogs) trim() {
	if s.maxBytes < 0 {
		return
	}
	for s.bytes > s.maxBytes && s.fifo.n > 0 {
		s.popOldest()
	}
	for s.bytes > s.maxBytes && s.off.tail != nil {
		s.forget(s.off.tail)
	}
}

// popOldest removes the index's head and, unless stale, drops that event
// from its log, of which it is the head.
func (s *memLogs) popOldest() {
	e := s.fifo.pop()
	s.bytes -= fifoEntry
	if e.live() {
		e.log.dropHead(s)
	} else {
		s.stale--
	}
}

// live reports whether e's event is still in its log: a log drops events
// only from its head, so it holds every position of its own from its head on.
func (e fifoItem) live() bool {
	l := e.log
	return !l.gone && l.n > 0 && e.pos >= l.ring[l.head].pos
}

// compact drops the stale entries of the index once they are more than
// half of it: an event that left its log early (its log's count bound, a
// clear, a forgotten log) leaves its entry behind, and a busy log would
// otherwise fill the index with them. O(1) amortized: each pass at least
// halves the index.
func (s *memLogs) compact() {
	if s.stale < 1024 || 2*s.stale < s.fifo.n {
		return
	}
	before := s.fifo.n
	s.fifo.filter(fifoItem.live)
	s.bytes -= int64(before-s.fifo.n) * fifoEntry
	s.stale = 0
}

// sweep drops the events older than the TTL and forgets the logs offline
// for longer.
func (s *memLogs) sweep() {
	if s.ttl < 0 {
		return
	}
	cutoff := s.now().UnixNano() - int64(s.ttl)
	for s.fifo.n > 0 && s.fifo.first().at <= cutoff {
		s.popOldest()
	}
	for l := s.off.tail; l != nil && l.seen <= cutoff; l = s.off.tail {
		s.forget(l)
	}
}

// forget removes the offline log l; what it held is lost for good, which
// lostFloor remembers.
func (s *memLogs) forget(l *targetLog) {
	for i := 0; i < l.n; i++ {
		s.bytes -= int64(l.at(i).heldBytes())
	}
	s.bytes -= logOverhead + int64(len(l.key.target)) + int64(len(l.ring))*ringSlotSize
	s.lostFloor = max(s.lostFloor, l.lastPos, l.lostUpTo)
	s.off.remove(l)
	s.stale += l.n
	l.gone, l.ring, l.n = true, nil, 0
	delete(s.logs, l.key)
	s.stats.replayLogs.Add(-1)
	s.stats.replayEvicted.Add(1)
}

func (s *memLogs) read(keys []logKey, after, told uint64, limit int, dst []*message) ([]*message, loss, bool) {
	s.sweep()
	var heads [8]logCursor
	cur := heads[:0]
	var logs [8]*targetLog
	found := logs[:0]
	missing := false
	for _, k := range keys {
		l := s.all
		if k.kind != kindAll {
			l = s.logs[k]
		}
		if l == nil {
			missing = true
			continue
		}
		found = append(found, l)
		if i := l.search(after); i < l.n {
			cur = append(cur, logCursor{l, i})
		}
	}
	start := len(dst)
	for len(dst)-start < limit && len(cur) > 0 {
		best := 0
		for i := 1; i < len(cur); i++ {
			if cur[i].pos() < cur[best].pos() {
				best = i
			}
		}
		dst = append(dst, cur[best].next())
		if cur[best].done() {
			cur[best] = cur[len(cur)-1]
			cur = cur[:len(cur)-1]
		}
	}
	more := len(cur) > 0
	// The drops a log remembers are told on the page they fall in (up to
	// its end, or everything once the logs are read to their end); a loss
	// known only by its newest position lies somewhere after the reader's
	// position, so it is told at once, before anything newer, and once:
	// told is what the reader was told already.
	upto := ^uint64(0)
	if more {
		upto = dst[len(dst)-1].pos
	}
	lost := noLoss
	for _, l := range found {
		lost.add(l.lostAfter(after, upto, told))
	}
	if missing && s.lostFloor > max(after, told) {
		lost.add(loss{last: s.lostFloor}) // a forgotten log: how much is unknown
	}
	s.publish()
	return dst, lost, more
}

func (s *memLogs) covers(keys []logKey, after uint64) bool {
	s.sweep()
	for _, k := range keys {
		l := s.all
		if k.kind != kindAll {
			l = s.logs[k]
		}
		if l == nil || after < l.partialBefore || l.lostAfter(after, ^uint64(0), 0).any() {
			return false
		}
	}
	return true
}

func (s *memLogs) partial(key logKey, pos uint64) {
	if l := s.logs[key]; l != nil && l != s.all {
		l.partialBefore = max(l.partialBefore, pos+1)
	}
}

func (s *memLogs) partialOffline(pos uint64) {
	for l := s.off.head; l != nil; l = l.lru.next {
		l.partialBefore = max(l.partialBefore, pos+1)
	}
}

// logCursor walks one log during a read.
type logCursor struct {
	l *targetLog
	i int
}

func (c *logCursor) pos() uint64 { return c.l.at(c.i).pos }
func (c *logCursor) done() bool  { return c.i >= c.l.n }
func (c *logCursor) next() *message {
	m := c.l.at(c.i)
	c.i++
	return m
}

// search returns the index of l's first event after position after.
func (l *targetLog) search(after uint64) int {
	lo, hi := 0, l.n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if l.at(mid).pos <= after {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// lostAfter describes what l dropped after position after: the positions
// it remembers (tombs) in (after, upto] and after told, counted exactly, and, when older
// drops or the floor it inherited lie after both after and told, a loss of
// unknown size up to them.
func (l *targetLog) lostAfter(after, upto, told uint64) loss {
	if l.lostUpTo <= after {
		return noLoss
	}
	// Drops up to told lie in a loss the reader was told of already.
	n, first, last := l.tombs.between(max(after, told), upto)
	unknown := l.floor // drops the tombs do not cover are at or below it
	if o, ok := l.tombs.overflowed(); ok {
		unknown = max(unknown, o)
	}
	if unknown > max(after, told) {
		return loss{missed: n, last: max(last, unknown)}
	}
	if n == 0 {
		return noLoss
	}
	return loss{missed: n, exact: true, first: first, last: last}
}

func (s *memLogs) find(keys []logKey, id string) (uint64, bool) {
	var best uint64
	found := false
	for _, k := range keys {
		l := s.all
		if k.kind != kindAll {
			l = s.logs[k]
		}
		if l == nil {
			continue
		}
		for i := l.n - 1; i >= 0; i-- {
			if m := l.at(i); m.id == id {
				if m.pos > best {
					best = m.pos
				}
				found = true
				break
			}
		}
	}
	return best, found
}

func (s *memLogs) clear(userID string) {
	empty := func(l *targetLog) {
		s.stale += l.n
		for l.n > 0 {
			l.dropHead(s)
		}
	}
	if userID != "" {
		if l := s.logs[logKey{kindUser, userID}]; l != nil {
			empty(l)
		}
	} else {
		for _, l := range s.logs {
			empty(l)
		}
	}
	s.compact()
	s.trim()
	s.publish()
}

// publish updates the replay gauges.
func (s *memLogs) publish() { s.stats.replayBytes.Store(s.bytes) }

// tombCount is how many dropped positions a log remembers, to count what a
// stream missed exactly; beyond, the count is a lower bound.
const tombCount = 64

// tombRing holds the newest dropped positions of a log, ascending.
type tombRing struct {
	pos   [tombCount]uint64
	n     int
	total uint64 // positions ever pushed
}

func (t *tombRing) push(p uint64) {
	t.pos[t.total%tombCount] = p
	t.total++
	t.n = min(t.n+1, tombCount)
}

// between counts the positions in (lo, hi] and returns the first and last.
func (t *tombRing) between(lo, hi uint64) (n int, first, last uint64) {
	for i := t.total - uint64(t.n); i < t.total; i++ {
		if v := t.pos[i%tombCount]; v > lo && v <= hi {
			if n == 0 {
				first = v
			}
			last = v
			n++
		}
	}
	return n, first, last
}

// overflowed reports whether older positions than the ring holds were
// dropped, and then the oldest it holds: those older ones are below it.
func (t *tombRing) overflowed() (uint64, bool) {
	if t.total <= uint64(t.n) {
		return 0, false
	}
	return t.pos[(t.total-uint64(t.n))%tombCount] - 1, true
}

// fifoItem is one entry of the hub-wide index: an event's log, position and
// arrival time.
type fifoItem struct {
	log *targetLog
	pos uint64
	at  int64
}

// fifoRing is a growable ring of fifoItems.
type fifoRing struct {
	buf     []fifoItem
	head, n int
}

func (f *fifoRing) push(e fifoItem) {
	if f.n == len(f.buf) {
		buf := make([]fifoItem, max(2*len(f.buf), 64))
		for i := 0; i < f.n; i++ {
			buf[i] = f.buf[(f.head+i)%len(f.buf)]
		}
		f.buf, f.head = buf, 0
	}
	f.buf[(f.head+f.n)%len(f.buf)] = e
	f.n++
}

// filter keeps the entries for which keep is true, in order.
func (f *fifoRing) filter(keep func(fifoItem) bool) {
	n := 0
	for i := 0; i < f.n; i++ {
		if e := f.buf[(f.head+i)%len(f.buf)]; keep(e) {
			f.buf[(f.head+n)%len(f.buf)] = e
			n++
		}
	}
	for i := n; i < f.n; i++ {
		f.buf[(f.head+i)%len(f.buf)] = fifoItem{}
	}
	f.n = n
	if f.n < len(f.buf)/4 && len(f.buf) > 1024 {
		buf := make([]fifoItem, max(2*f.n, 64))
		for i := 0; i < f.n; i++ {
			buf[i] = f.buf[(f.head+i)%len(f.buf)]
		}
		f.buf, f.head = buf, 0
	}
}

func (f *fifoRing) first() fifoItem { return f.buf[f.head] }

func (f *fifoRing) pop() fifoItem {
	e := f.buf[f.head]
	f.buf[f.head] = fifoItem{}
	f.head = (f.head + 1) % len(f.buf)
	f.n--
	if f.n == 0 && len(f.buf) > 1024 {
		f.buf, f.head = nil, 0 // a burst's ring is not kept for ever
	}
	return e
}
