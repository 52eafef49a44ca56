package ssekify

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Hub turns HTTP requests into SSE streams and delivers events to them: per
// user, per room or to everyone, on this instance (Send*) or on every
// instance through a broker (Publish*). A Hub is safe for concurrent use.
// Create one with New.
type Hub struct {
	opts Options
	now  func() time.Time

	// mu guards the maps below, the logs and the position counter. Fan-out
	// holds it while it gives an event its position, appends it to its log
	// and enqueues it; Register holds it while it registers a stream and
	// sets its cursor; a writer holds it while it reads its logs and goes
	// live again. So no event falls between the logs and a queue, and
	// positions order every log and every stream. Nothing slow happens
	// under it: enqueueing never blocks and hooks run after it is released.
	mu    sync.Mutex
	users map[string]*userConns
	rooms map[string][]*Conn
	all   []*Conn
	logs  logStore
	pos   uint64 // the newest position given (cursor.go)

	epoch     uint64      // names this hub's positions in tokens
	idPrefix  []byte      // "id: v1.<epoch>." for the id lines of positions
	customIDs atomic.Bool // some event had a caller's id (Last-Event-ID search)

	stopped atomic.Bool    // StopAccepting or Shutdown called
	closed  atomic.Bool    // Shutdown finished closing
	streams sync.WaitGroup // running Register calls
	running atomic.Int64   // how many, for Shutdown's error

	stats   counters
	connIDs atomic.Uint64
	seq     *seqAllocator

	broker     Broker
	lb         logBroker // broker, when it keeps logs (log_redis.go)
	follows    bool      // lb is set and this hub subscribes: it follows the log (not PublishOnly)
	fol        follower  // where this instance stands in them (follow.go)
	rt         *router   // interest routing, when it follows (route.go)
	ownsBroker bool
	subStop    func() // stops the broker subscription and waits for it

	life lifecycle // Shutdown's state (lifecycle.go)
}

// awaitRoutes returns once this instance receives the Publish* events of
// the logs keys (interest routing, route.go): at once when it does
// already, after two round trips to Redis when one is new here, after at
// most routeWait (and the subscription's renewal) when Redis does not
// confirm it. The routes are kept until the caller calls the function
// returned, once its streams hold them (or it gave up). Without routing
// it returns at once.
func (h *Hub) awaitRoutes(keys []logKey) (done func()) {
	if h.rt == nil {
		return func() {}
	}
	h.rt.wait(h.rt.want(keys))
	return func() { h.rt.done(keys) }
}

// userConns is one user's connections on this instance.
type userConns struct {
	conns []*Conn
}

// New returns a Hub configured by opts (nil means all defaults). It rejects
// invalid options. With Options.Redis or Options.RedisURL it subscribes to
// the broker channel at once; call Shutdown to release it. With a
// RedisBroker it first reads where the channel's log stands, waiting at
// most a second when Redis does not answer (it then starts without, and
// says so through OnError).
func New(opts *Options) (*Hub, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	h := &Hub{
		opts:  o,
		now:   time.Now,
		users: make(map[string]*userConns),
		rooms: make(map[string][]*Conn),
	}
	h.fol.synced = make(chan struct{})
	h.epoch = randomEpoch()
	h.idPrefix = appendToken([]byte("id: "), h.epoch, 0)
	h.idPrefix = h.idPrefix[:len(h.idPrefix)-1] // without the position
	h.logs = newMemLogs(&h.opts, h.nowFunc, &h.stats)
	h.seq = newSeqAllocator(h)
	if err := h.startBroker(); err != nil {
		return nil, err
	}
	return h, nil
}

// nowFunc reads the hub's clock (replaceable in tests).
func (h *Hub) nowFunc() time.Time { return h.now() }

// InstanceID returns the id this instance uses in frame ids and envelopes.
func (h *Hub) InstanceID() string { return h.opts.InstanceID }

// add registers c in every map. Called with h.mu held.
func (h *Hub) add(c *Conn, rooms []string) {
	u := h.users[c.userID]
	if u == nil {
		u = &userConns{}
		h.users[c.userID] = u
		h.stats.users.Add(1)
	}
	h.readLog(logKey{kindUser, c.userID})
	u.conns = append(u.conns, c)
	c.allIdx = len(h.all)
	h.all = append(h.all, c)
	h.stats.connections.Add(1)
	for _, r := range rooms {
		h.join(c, r)
	}
}

// remove takes c out of every map; it reports false if c was not in them.
// The logs it read stay for RecentTTL after their last reader left, so that
// a client coming back gets what was sent meanwhile. Called with h.mu held.
func (h *Hub) remove(c *Conn) bool {
	if c.allIdx < 0 {
		return false
	}
	u := h.users[c.userID]
	last := len(u.conns) == 1
	for room := range c.rooms {
		h.leaveRoom(c, room)
	}
	h.unreadLog(logKey{kindUser, c.userID})
	end := len(h.all) - 1
	moved := h.all[end]
	h.all[c.allIdx], moved.allIdx = moved, c.allIdx
	h.all[end] = nil
	h.all = h.all[:end]
	c.allIdx = -1
	h.stats.connections.Add(-1)
	if last {
		delete(h.users, c.userID)
		h.stats.users.Add(-1)
		return true
	}
	for i, x := range u.conns {
		if x == c {
			u.conns = append(u.conns[:i], u.conns[i+1:]...)
			break
		}
	}
	return true
}

// join adds c to room. Called with h.mu held, c registered.
func (h *Hub) join(c *Conn, room string) {
	if _, ok := c.rooms[room]; ok {
		return
	}
	if c.rooms == nil {
		c.rooms = make(map[string]int, 1)
	}
	list := h.rooms[room]
	if list == nil {
		h.stats.rooms.Add(1)
	}
	c.rooms[room] = len(list)
	h.rooms[room] = append(list, c)
	h.readLog(logKey{kindRoom, room})
}

// readLog and unreadLog count a stream in and out of the readers of a
// log: its memory log and its route. Called with h.mu held.
func (h *Hub) readLog(k logKey) {
	h.logs.attach(k)
	if h.rt != nil {
		h.rt.hold(k)
	}
}

func (h *Hub) unreadLog(k logKey) {
	h.logs.detach(k)
	if h.rt != nil {
		h.rt.release(k)
	}
}

// leave removes c from room. Called with h.mu held.
func (h *Hub) leave(c *Conn, room string) {
	if c.allIdx >= 0 {
		h.leaveRoom(c, room)
	}
}

// leaveRoom removes c from room. Called with h.mu held.
func (h *Hub) leaveRoom(c *Conn, room string) {
	idx, ok := c.rooms[room]
	if !ok {
		return
	}
	list := h.rooms[room]
	end := len(list) - 1
	moved := list[end]
	list[idx] = moved
	moved.rooms[room] = idx
	list[end] = nil
	if end == 0 {
		delete(h.rooms, room)
		h.stats.rooms.Add(-1)
	} else {
		h.rooms[room] = list[:end]
	}
	delete(c.rooms, room)
	h.unreadLog(logKey{kindRoom, room})
}

// JoinRoom adds every connection of userID on this instance to room and
// returns how many there are.
// A room name longer than MaxRoomBytes, or a connection already in
// MaxRoomsPerStream rooms, is refused with ErrTooLong and nothing changes.
// With a RedisBroker, JoinRoom returns once this instance receives the
// room's Publish* events (see awaitRoutes): the events published after it
// returns reach the connections.
func (h *Hub) JoinRoom(userID, room string) (int, error) {
	if userID == "" {
		return 0, ErrEmptyTarget
	}
	if err := checkRoom(room); err != nil {
		return 0, err
	}
	if h.UserConnections(userID) > 0 {
		defer h.awaitRoutes([]logKey{{kindRoom, room}})()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[userID]
	if u == nil {
		return 0, nil
	}
	for _, c := range u.conns {
		if err := c.roomFull(room); err != nil {
			return 0, err
		}
	}
	for _, c := range u.conns {
		h.join(c, room)
	}
	return len(u.conns), nil
}

// LeaveRoom removes every connection of userID on this instance from room
// and returns how many there are.
func (h *Hub) LeaveRoom(userID, room string) (int, error) {
	if userID == "" || room == "" {
		return 0, ErrEmptyTarget
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[userID]
	if u == nil {
		return 0, nil
	}
	for _, c := range u.conns {
		h.leaveRoom(c, room)
	}
	return len(u.conns), nil
}

// CloseUser ends every stream of userID on this instance and returns how
// many it ended. An empty userID closes nothing.
func (h *Hub) CloseUser(userID string) int {
	if userID == "" {
		return 0
	}
	h.mu.Lock()
	var conns []*Conn
	if u := h.users[userID]; u != nil {
		conns = append(conns, u.conns...)
	}
	h.closeLocked(conns)
	h.mu.Unlock()
	return len(conns)
}

// CloseAll ends every stream on this instance and returns how many it ended.
func (h *Hub) CloseAll() int {
	h.mu.Lock()
	conns := append([]*Conn(nil), h.all...)
	h.closeLocked(conns)
	h.mu.Unlock()
	return len(conns)
}

// closeLocked removes conns from the maps and closes them. h.mu held.
func (h *Hub) closeLocked(conns []*Conn) {
	for _, c := range conns {
		h.remove(c)
		c.close(nil)
	}
}

// UserConnections returns how many streams userID has on this instance.
func (h *Hub) UserConnections(userID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if u := h.users[userID]; u != nil {
		return len(u.conns)
	}
	return 0
}

// IsOnline reports whether userID has a stream on this instance.
func (h *Hub) IsOnline(userID string) bool { return h.UserConnections(userID) > 0 }

// newConnID returns the id of the hub's n-th connection, unique within the hub.
func (h *Hub) newConnID(n uint64) string {
	return h.opts.InstanceID + "-c" + strconv.FormatUint(n, 10)
}

// randomEpoch returns a nonzero random epoch of 40 bits (8 base-36 digits).
func randomEpoch() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:])&(1<<40-1) | 1<<39
}

// checkRooms checks the room names a stream registers with.
func checkRooms(rooms []string) error {
	if len(rooms) > MaxRoomsPerStream {
		return fmt.Errorf("%w: %d rooms, limit %d per stream", ErrTooLong, len(rooms), MaxRoomsPerStream)
	}
	for _, room := range rooms {
		if err := checkRoom(room); err != nil {
			return err
		}
	}
	return nil
}

// checkRoom checks one room name.
func checkRoom(room string) error {
	if room == "" {
		return fmt.Errorf("%w: room", ErrEmptyTarget)
	}
	return checkLen("room", room, MaxRoomBytes)
}
