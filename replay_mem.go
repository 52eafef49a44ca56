package ssekify

import "time"

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
// *message the queues hold, and the byte count charges a frame once however
// many buffers hold it (message.refs).
//
// Bounds, all kept without a goroutine or timer: before each record, online
// and offline call, offline users inactive for RecentTTL are popped from the
// tail of the offline list (least recently active first), so sweeping costs
// O(1) amortized and an idle hub holds nothing alive; that is why the hub
// needs no janitor. Beyond RecentMaxUsers the offline user inactive the
// longest is forgotten (O(1)); users with an open stream are not forgotten
// (their number is bounded by the connections the server accepts). Beyond
// RecentMaxBytes whole buffers are dropped, offline users' first, then
// online users' (least recently connected first), so a buffer is only ever
// emptied from its oldest event on, never cut in the middle: a client whose
// id is gone gets the gap event, never a silently wrong replay.
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
	bytes int64
}

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
		s.on.pushFront(u)
		s.stats.replayUsers.Store(int64(len(s.users)))
		for s.maxUsers >= 0 && len(s.users) > s.maxUsers && s.off.tail != nil {
			s.evict(s.off.tail)
		}
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
}

func (s *memReplay) join(userID, room string) {
	u := s.users[userID]
	if u == nil {
		return
	}
	if u.rooms == nil {
		u.rooms = make(map[string]struct{}, 1)
	}
	u.rooms[room] = struct{}{}
	members := s.rooms[room]
	if members == nil {
		members = make(map[*replayUser]struct{}, 1)
		s.rooms[room] = members
	}
	members[u] = struct{}{}
}

func (s *memReplay) leave(userID, room string) {
	if u := s.users[userID]; u != nil {
		s.unjoin(u, room)
	}
}

func (s *memReplay) unjoin(u *replayUser, room string) {
	delete(u.rooms, room)
	if members := s.rooms[room]; members != nil {
		delete(members, u)
		if len(members) == 0 {
			delete(s.rooms, room)
		}
	}
}

func (s *memReplay) record(m *message) {
	s.sweep()
	if s.maxBytes >= 0 && int64(len(m.frame)) > s.maxBytes {
		// It can not be held at all: empty its recipients' buffers, so
		// that their older ids become unknown (gap event) instead of
		// being replayed without it. A client that got it live still
		// replays what follows it.
		s.each(m, func(u *replayUser) {
			if len(u.buf) > 0 {
				s.stats.replayEvicted.Add(1)
			}
			s.empty(u)
			u.dropped = m.id
		})
		s.stats.replayBytes.Store(s.bytes)
		return
	}
	s.each(m, func(u *replayUser) { s.push(u, m) })
	s.trimBytes()
	s.stats.replayBytes.Store(s.bytes)
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
		}
		u.buf = append(u.buf, m)
	} else {
		old := u.buf[u.start]
		u.buf[u.start] = m
		u.start = (u.start + 1) % len(u.buf)
		u.dropped = old.id
		s.unref(old)
	}
	if m.refs == 0 {
		s.bytes += int64(len(m.frame))
	}
	m.refs++
}

func (s *memReplay) unref(m *message) {
	m.refs--
	if m.refs == 0 {
		s.bytes -= int64(len(m.frame))
	}
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
	s.stats.replayBytes.Store(s.bytes)
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

// trimBytes drops whole buffers until the byte bound holds: offline users
// first, then online ones from the least recently connected (each emptied
// buffer's user moves to the front, so a pass never revisits it). An
// emptied online buffer remembers its newest id, so that a client that had
// seen it still replays what follows.
func (s *memReplay) trimBytes() {
	if s.maxBytes < 0 {
		return
	}
	for s.bytes > s.maxBytes && s.off.tail != nil {
		s.evict(s.off.tail)
	}
	for n := s.on.n; s.bytes > s.maxBytes && n > 0; n-- {
		u := s.on.tail
		if n := len(u.buf); n > 0 {
			// A connected client most likely got the newest event: from
			// it, what is recorded next is still a complete replay.
			newest := u.at(n - 1).id
			s.empty(u)
			u.dropped = newest
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
	s.stats.replayUsers.Store(int64(len(s.users)))
}

// empty releases u's buffer.
func (s *memReplay) empty(u *replayUser) {
	for _, m := range u.buf {
		s.unref(m)
	}
	u.buf, u.start, u.dropped = nil, 0, ""
}
