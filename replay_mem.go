package ssekify

import (
	"math/bits"
	"time"
)

// memReplay is the in-memory replayStore of one instance.
//
// What it records, for whom: it knows the users that connected to this
// instance within RecentTTL, online (a stream is open) or offline (the last
// stream ended, and the user keeps the rooms it was in). A message to a user
// is recorded for that user if known; to a room, for each known user who is
// a member of the room; to everyone, for every known user. Each user records
// a message at most once. Users never seen are never given a buffer: a
// message to a user who never connected is not recorded, so a stranger's id
// costs no memory.
//
// Frames are shared, never copied: a buffer holds references to the same
// *message the queues hold, and the byte count charges a message once however
// many buffers hold it (message.refs).
//
// What the byte count charges against RecentMaxBytes is every byte the store
// keeps alive: each held message (message.heldBytes), each known user's own
// cost (replayUser.heldBytes: its id, the id it last dropped, its ring of
// pointers, its room names and their entries, the struct) and the rooms
// index (roomIndexBytes: each room's name and member entries). The figure is
// kept by every path that changes one of them, never recomputed.
//
// Bounds, all kept without a goroutine or timer: before each record, online
// and offline call, offline users inactive for RecentTTL are popped from the
// tail of the offline list (least recently active first), so sweeping costs
// O(1) amortized and an idle hub holds nothing alive; that is why the hub
// needs no janitor. Beyond RecentMaxUsers the offline user inactive the
// longest is forgotten (O(1)); users with an open stream are not forgotten
// (their number is bounded by the connections the server accepts). Beyond
// RecentMaxBytes offline users are forgotten (least recently active first:
// their buffers and their own costs go), then online users' buffers are
// emptied (least recently connected first), so a buffer is only ever
// emptied from its oldest event on, never cut in the middle: a client whose
// id is gone gets the gap event, never a silently wrong replay. Online users'
// own costs can not be dropped: when they alone exceed the bound, every
// buffer is emptied and nothing more is recorded until they shrink.
//
// Every method is called with the hub's mutex held.
type memReplay struct {
	size     int
	ttl      time.Duration // < 0: no sweep
	maxUsers int           // < 0: unbounded
	maxBytes int64         // < 0: unbounded
	now      func() time.Time
	stats    *counters

	users map[string]*replayUser
	rooms map[string]map[*replayUser]struct{}
	on    lruList[replayUser, *replayUser] // least recently connected at the tail
	off   lruList[replayUser, *replayUser] // least recently active at the tail
	// bytes is everything held (see above); buffered is the part of it
	// that emptying every buffer would free: the held messages and the
	// rings. bytes-buffered is what the users and the rooms index cost.
	bytes    int64
	buffered int64
}

// The costs besides the strings' bytes, approximated for a 64-bit runtime
// (allocation size classes, map slots with their control bytes and the free
// slots a map keeps). They need not be exact: they make the count follow
// what a user or a room really costs, so that many users with long room
// lists are bounded like long buffers are.
const (
	// replayUserOverhead: the replayUser struct (112 bytes allocated),
	// its entry in memReplay.users (~32) and the header of its rooms map
	// (~64).
	replayUserOverhead = 208
	// userRoomOverhead: one entry of a user's rooms map (a string key).
	userRoomOverhead = 32
	// roomOverhead: one room of the rooms index: its entry in
	// memReplay.rooms (~32) and its members map's header and first group
	// (~128).
	roomOverhead = 160
	// memberOverhead: one entry of a room's members map (a pointer key).
	memberOverhead = 16
	// pointerBytes: one slot of a ring.
	pointerBytes = bits.UintSize / 8
)

// replayUser is one known user: its ring of recent messages and its rooms.
type replayUser struct {
	id    string
	buf   []*message // ring; oldest at start once full
	start int
	// dropped is the id of the last message the ring overwrote, the one
	// just before the oldest held: a client that saw it missed nothing
	// the buffer lacks.
	dropped string
	rooms   map[string]struct{}
	online  bool
	seen    int64 // unix nanoseconds of the last connect or disconnect
	lru     lruLinks[replayUser]
}

func (u *replayUser) links() *lruLinks[replayUser] { return &u.lru }

// heldBytes is what u itself costs, its messages apart (they are charged
// once each, however many users hold them): the struct and its entries, its
// id, the id it last dropped, its ring's slots and its rooms.
func (u *replayUser) heldBytes() int64 {
	n := int64(replayUserOverhead+len(u.id)+len(u.dropped)) + ringBytes(cap(u.buf))
	for room := range u.rooms {
		n += userRoomBytes(room)
	}
	return n
}

// ringBytes is what a ring of n slots costs.
func ringBytes(n int) int64 { return int64(pointerBytes * n) }

// userRoomBytes is what one room of a user's rooms map costs.
func userRoomBytes(room string) int64 { return int64(userRoomOverhead + len(room)) }

// roomIndexBytes is what the rooms index spends on a room of n members.
func roomIndexBytes(room string, n int) int64 {
	return int64(roomOverhead+len(room)) + int64(n)*memberOverhead
}

func newMemReplay(o *Options, now func() time.Time, st *counters) *memReplay {
	return &memReplay{
		size:     o.RecentBufferSize,
		ttl:      o.RecentTTL,
		maxUsers: o.RecentMaxUsers,
		maxBytes: o.RecentMaxBytes,
		now:      now,
		stats:    st,
		users:    make(map[string]*replayUser),
		rooms:    make(map[string]map[*replayUser]struct{}),
	}
}

func (s *memReplay) online(userID string) {
	s.sweep()
	u := s.users[userID]
	if u == nil {
		u = &replayUser{id: userID, online: true, seen: s.now().UnixNano()}
		s.users[userID] = u
		s.bytes += u.heldBytes()
		s.on.pushFront(u)
		s.stats.replayUsers.Store(int64(len(s.users)))
		for s.maxUsers >= 0 && len(s.users) > s.maxUsers && s.off.tail != nil {
			s.evict(s.off.tail)
		}
		s.settle()
		return
	}
	if !u.online {
		s.off.remove(u)
		u.online = true
		s.on.pushFront(u)
	}
	u.seen = s.now().UnixNano()
	for room := range u.rooms {
		s.unjoin(u, room)
	}
	s.settle()
}

func (s *memReplay) offline(userID string) {
	u := s.users[userID]
	if u == nil || !u.online {
		return
	}
	s.on.remove(u)
	u.online = false
	u.seen = s.now().UnixNano()
	s.off.pushFront(u)
	s.sweep()
	// Its own cost may be what held the store above the bound while it
	// was connected: now it can go, after the older offline users.
	s.settle()
}

func (s *memReplay) join(userID, room string) {
	u := s.users[userID]
	if u == nil {
		return
	}
	if u.rooms == nil {
		u.rooms = make(map[string]struct{}, 1)
	}
	if _, ok := u.rooms[room]; !ok {
		u.rooms[room] = struct{}{}
		s.bytes += userRoomBytes(room)
	}
	members := s.rooms[room]
	if members == nil {
		members = make(map[*replayUser]struct{}, 1)
		s.rooms[room] = members
		s.bytes += roomIndexBytes(room, 0)
	}
	if _, ok := members[u]; !ok {
		members[u] = struct{}{}
		s.bytes += memberOverhead
	}
	s.settle()
}

func (s *memReplay) leave(userID, room string) {
	if u := s.users[userID]; u != nil {
		s.unjoin(u, room)
		s.settle()
	}
}

func (s *memReplay) unjoin(u *replayUser, room string) {
	if _, ok := u.rooms[room]; ok {
		delete(u.rooms, room)
		s.bytes -= userRoomBytes(room)
	}
	members := s.rooms[room]
	if _, ok := members[u]; !ok {
		return
	}
	delete(members, u)
	s.bytes -= memberOverhead
	if len(members) == 0 {
		delete(s.rooms, room)
		s.bytes -= roomIndexBytes(room, 0)
	}
}

func (s *memReplay) record(m *message) {
	s.sweep()
	if !s.fits(int64(m.heldBytes())) {
		// It can not be held at all: empty its recipients' buffers, so
		// that their older ids become unknown (gap event) instead of
		// being replayed without it. A client that got it live still
		// replays what follows it.
		s.each(m, func(u *replayUser) {
			if len(u.buf) > 0 {
				s.stats.replayEvicted.Add(1)
			}
			s.empty(u)
			s.setDropped(u, m.id)
		})
	} else {
		s.each(m, func(u *replayUser) { s.push(u, m) })
	}
	s.settle()
}

// fits reports whether a message that costs held bytes can be kept within
// the byte bound once every buffer were emptied, forgetting offline users
// (least recently active first) as far as that takes: a message larger than
// the bound, or larger than what online users leave of it, can not.
func (s *memReplay) fits(held int64) bool {
	if s.maxBytes < 0 {
		return true
	}
	if held > s.maxBytes {
		return false
	}
	for s.bytes-s.buffered+held > s.maxBytes && s.off.tail != nil {
		s.evict(s.off.tail)
	}
	return s.bytes-s.buffered+held <= s.maxBytes
}

// each calls fn once for every known user m is meant for.
func (s *memReplay) each(m *message, fn func(*replayUser)) {
	switch m.kind {
	case kindUser:
		if u := s.users[m.target]; u != nil {
			fn(u)
		}
	case kindRoom:
		for u := range s.rooms[m.target] {
			fn(u)
		}
	case kindAll:
		for u := s.on.head; u != nil; u = u.lru.next {
			fn(u)
		}
		for u := s.off.head; u != nil; u = u.lru.next {
			fn(u)
		}
	}
}

// push appends m to u's ring, overwriting the oldest message when full.
func (s *memReplay) push(u *replayUser, m *message) {
	if len(u.buf) < s.size {
		if u.buf == nil {
			u.buf = make([]*message, 0, s.size) // once, at the user's first event
			n := ringBytes(cap(u.buf))
			s.bytes += n
			s.buffered += n
		}
		u.buf = append(u.buf, m)
	} else {
		old := u.buf[u.start]
		u.buf[u.start] = m
		u.start = (u.start + 1) % len(u.buf)
		s.setDropped(u, old.id)
		s.unref(old)
	}
	if m.refs == 0 {
		n := int64(m.heldBytes())
		s.bytes += n
		s.buffered += n
	}
	m.refs++
}

func (s *memReplay) unref(m *message) {
	m.refs--
	if m.refs == 0 {
		n := int64(m.heldBytes())
		s.bytes -= n
		s.buffered -= n
	}
}

// setDropped makes id the one u last dropped.
func (s *memReplay) setDropped(u *replayUser, id string) {
	s.bytes += int64(len(id) - len(u.dropped))
	u.dropped = id
}

// at returns u's i-th message, oldest first.
func (u *replayUser) at(i int) *message { return u.buf[(u.start+i)%len(u.buf)] }

func (s *memReplay) since(userID, lastID string) ([]*message, string, bool) {
	u := s.users[userID]
	if u == nil {
		return nil, "", false
	}
	n := len(u.buf)
	oldest := ""
	if n > 0 {
		oldest = u.at(0).id
	}
	from := -1
	for i := n - 1; i >= 0; i-- { // the newest occurrence, should ids repeat
		if u.at(i).id == lastID {
			from = i + 1
			break
		}
	}
	if from < 0 && u.dropped != "" && u.dropped == lastID {
		from = 0
	}
	if from < 0 {
		return nil, oldest, false
	}
	msgs := make([]*message, 0, n-from)
	for i := from; i < n; i++ {
		msgs = append(msgs, u.at(i))
	}
	return msgs, oldest, true
}

func (s *memReplay) clear(userID string) {
	if userID != "" {
		if u := s.users[userID]; u != nil {
			s.drop(u)
		}
	} else {
		for u := s.off.tail; u != nil; u = s.off.tail {
			s.drop(u)
		}
		for u := s.on.head; u != nil; u = u.lru.next {
			s.drop(u)
		}
	}
	s.settle()
}

// drop clears u: an online user keeps being recorded for, with an empty
// buffer; an offline user is forgotten until it connects again.
func (s *memReplay) drop(u *replayUser) {
	if u.online {
		s.empty(u)
	} else {
		s.forget(u)
	}
}

// sweep forgets the offline users inactive for the TTL, oldest first.
func (s *memReplay) sweep() {
	if s.ttl < 0 || s.off.tail == nil {
		return
	}
	now := s.now().UnixNano()
	for u := s.off.tail; u != nil && now-u.seen >= int64(s.ttl); u = s.off.tail {
		s.evict(u)
	}
}

// settle restores the byte bound and publishes the figures; every call
// that changes the store ends with it.
func (s *memReplay) settle() {
	s.trimBytes()
	s.stats.replayBytes.Store(s.bytes)
	s.stats.replayUsers.Store(int64(len(s.users)))
}

// trimBytes restores the byte bound: it forgets offline users, least
// recently active first, then empties online users' buffers from the least
// recently connected (each emptied buffer's user moves to the front, so a
// pass never revisits it). An emptied online buffer remembers its newest
// id, so that a client that had seen it still replays what follows. The
// pass ends once no buffer holds anything: when online users' own costs
// alone exceed the bound, every buffer is then empty and stays so (record
// keeps nothing more: fits), and later calls return at once.
func (s *memReplay) trimBytes() {
	if s.maxBytes < 0 || s.bytes <= s.maxBytes {
		return
	}
	for s.bytes > s.maxBytes && s.off.tail != nil {
		s.evict(s.off.tail)
	}
	for n := s.on.n; s.bytes > s.maxBytes && s.buffered > 0 && n > 0; n-- {
		u := s.on.tail
		if n := len(u.buf); n > 0 {
			// A connected client most likely got the newest event: from
			// it, what is recorded next is still a complete replay.
			newest := u.at(n - 1).id
			s.empty(u)
			s.setDropped(u, newest)
			s.stats.replayEvicted.Add(1)
		}
		s.on.moveToFront(u)
	}
}

// evict forgets u and counts it.
func (s *memReplay) evict(u *replayUser) {
	s.forget(u)
	s.stats.replayEvicted.Add(1)
}

// forget removes u from the store.
func (s *memReplay) forget(u *replayUser) {
	s.empty(u)
	for room := range u.rooms {
		s.unjoin(u, room)
	}
	if u.online {
		s.on.remove(u)
	} else {
		s.off.remove(u)
	}
	delete(s.users, u.id)
	s.bytes -= u.heldBytes() // what is left: the struct and the id
	s.stats.replayUsers.Store(int64(len(s.users)))
}

// empty releases u's buffer.
func (s *memReplay) empty(u *replayUser) {
	for _, m := range u.buf {
		s.unref(m)
	}
	n := ringBytes(cap(u.buf))
	s.bytes -= n
	s.buffered -= n
	s.setDropped(u, "")
	u.buf, u.start = nil, 0
}
