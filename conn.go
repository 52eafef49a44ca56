package ssekify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Conn is the handle of one registered stream, given to RegisterOptions.OnOpen.
// Its methods are safe for concurrent use and may be called after the stream
// ended (they then do nothing).
type Conn struct {
	hub    *Hub
	id     string
	userID string
	cfg    streamConfig
	shard  uint32 // which shard of the hub's sent counter this writer bumps
	q      queue
	wake   chan struct{} // one slot: "there is work"; the writer owns the ResponseWriter

	// The writer's own state (the handler goroutine only).
	batch  []*message // messages taken from the queue, reused
	frames [][]byte   // their frames, reused
	keys   []logKey   // the logs the stream reads, reused (catchup.go)
	// cursor is the position of the last event given to the client: the
	// stream's place in its logs.
	cursor uint64
	// told is the newest position of a loss the stream was told of.
	told uint64
	// rpos and repoch are the stream's place in the log on Redis (with a
	// broker that keeps logs): the newest position given to the client.
	rpos, repoch uint64
	// fetch is the stream's pending read of the logs on Redis (fetch.go).
	fetch *redisFetch
	timer *time.Timer // heartbeat; nil when KeepAlive is off
	// lastWrite is when the last write started; deadline is the write
	// deadline in force. Both spare a timer operation per write.
	lastWrite time.Time
	deadline  time.Time

	// Guarded by hub.mu.
	rooms    map[string]int // room → index in hub.rooms[room]
	allIdx   int            // index in hub.all; -1 once removed
	unsynced bool           // registered before the instance read the log's head

	// wmu interlocks close with an ongoing write, so that closing a stalled
	// connection cuts its write short without touching a finished handler's
	// ResponseController.
	wmu        sync.Mutex
	writing    bool
	finished   bool
	noDeadline bool                     // the ResponseWriter does not support write deadlines
	rc         *http.ResponseController // nil once the connection was taken over

	// lean is the state of a stream that may be lean (hijack.go), set
	// before the stream is registered and never changed; nil on the
	// handler path.
	lean *leanConn
}

// ConnInfo describes a connection to hooks.
type ConnInfo struct {
	// ID is the connection's id, unique within the hub (Conn.ID).
	ID string
	// UserID is the user the stream was registered for.
	UserID string
	// Remote is the client's address as net/http reports it.
	Remote string
}

// ID returns the connection's id, unique within the hub.
func (c *Conn) ID() string { return c.id }

// UserID returns the user the connection was registered for.
func (c *Conn) UserID() string { return c.userID }

// Join adds the connection to room. It returns ErrEmptyTarget for an empty
// room, and ErrTooLong for a name longer than MaxRoomBytes or when the
// connection is in MaxRoomsPerStream rooms already. With a RedisBroker it
// returns once this instance receives the room's Publish* events, at most
// two round trips to Redis when the room is new here (Hub.JoinRoom).
func (c *Conn) Join(room string) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	defer c.hub.awaitRoutes([]logKey{{kindRoom, room}})()
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	if c.allIdx < 0 {
		return nil
	}
	if err := c.roomFull(room); err != nil {
		return err
	}
	c.hub.join(c, room)
	return nil
}

// roomFull refuses a new room for a connection in MaxRoomsPerStream rooms
// already. hub.mu held.
func (c *Conn) roomFull(room string) error {
	if _, in := c.rooms[room]; in || len(c.rooms) < MaxRoomsPerStream {
		return nil
	}
	return fmt.Errorf("%w: connection %s is in %d rooms already, limit %d", ErrTooLong, c.id, len(c.rooms), MaxRoomsPerStream)
}

// Leave removes the connection from room.
func (c *Conn) Leave(room string) {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	c.hub.leave(c, room)
}

// Rooms returns the rooms the connection is in, in no particular order.
func (c *Conn) Rooms() []string {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	rooms := make([]string, 0, len(c.rooms))
	for r := range c.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

// Close ends the stream: Register returns nil (a lean stream's
// OnDisconnect reports nil). Frames still queued are discarded (they stay
// in the user's replay buffer); a write in progress gets 250ms to finish,
// so that a stalled client can not hold the handler.
func (c *Conn) Close() { c.close(nil) }

// close ends the stream with reason (nil for a normal end). It wakes the
// writer and gives a write in progress closeGrace to finish, so that a
// writer blocked on a stalled peer can not hold the handler.
func (c *Conn) close(reason error) bool {
	if !c.q.close(reason) {
		return false
	}
	c.signal()
	c.wmu.Lock()
	if c.writing && !c.finished {
		_ = c.setWriteDeadline(time.Now().Add(closeGrace))
	}
	c.wmu.Unlock()
	return true
}

// closeGrace is how long a write in progress may still take once its stream
// is closed: enough for a healthy client, whose stream then ends cleanly;
// a stalled one is cut off then.
const closeGrace = 250 * time.Millisecond

// signal tells the writer there is work. A lean stream's writer runs only
// while there is: the token is left first, then a writer started if none
// runs (hijack.go).
func (c *Conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
	if c.lean != nil {
		c.kick()
	}
}

// errStreamEnded is the internal result of a write attempted after close.
var errStreamEnded = errors.New("ssekify: stream ended")

// serve is the writer loop, on the handler goroutine, until the client goes
// away, the connection is closed or a write fails. Its frame holds little
// more than the select: the work is done in drain and heartbeat.
func (c *Conn) serve(ctx context.Context, w http.ResponseWriter) error {
	var tick <-chan time.Time
	if c.cfg.keepAlive > 0 {
		c.timer = time.NewTimer(c.cfg.keepAlive)
		defer c.timer.Stop()
		tick = c.timer.C
	}
	for {
		var done bool
		var err error
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			done, err = c.heartbeat(w)
		case <-c.wake:
			done, err = c.drain(w)
		}
		if done {
			return err
		}
	}
}

// heartbeatFrames is the batch of a heartbeat.
var heartbeatFrames = [][]byte{heartbeatFrame}

// heartbeat writes the keep-alive comment when the stream wrote nothing for
// KeepAlive, else re-arms the timer for the rest of the interval: writes do
// not touch the timer. done reports the end of the stream.
func (c *Conn) heartbeat(w http.ResponseWriter) (done bool, err error) {
	if idle := time.Since(c.lastWrite); idle < c.cfg.keepAlive {
		c.timer.Reset(c.cfg.keepAlive - idle)
		return false, nil
	}
	if err := c.write(w, heartbeatFrames); err != nil {
		return true, c.endReason(err)
	}
	c.idle()
	c.timer.Reset(c.cfg.keepAlive)
	return false, nil
}

// drain writes everything queued; when the queue overflowed (CatchUp) or a
// replay is due, it first reads the stream's logs from its cursor. done
// reports the end of the stream, with the close reason or the write error.
func (c *Conn) drain(w http.ResponseWriter) (done bool, err error) {
	batch, catching, closed, reason := c.q.take(c.batch[:0])
	if closed {
		return true, reason
	}
	if c.fetch != nil {
		err = c.fetchRedis(w)
	}
	if catching && err == nil {
		err = c.catchUp(w)
	}
	if err == nil && len(batch) > 0 {
		err = c.send(w, batch)
	}
	clear(batch)
	c.batch = batch[:0]
	if err != nil {
		return true, c.endReason(err)
	}
	c.idle()
	return false, nil
}

// endReason turns a write error into Register's result: nil when the stream
// was closed on purpose (the write was cut short by close), the close reason
// when there is one, else the write error.
func (c *Conn) endReason(err error) error {
	if closed, reason := c.q.closedReason(); closed {
		return reason
	}
	return err
}

// write sends frames with as few Write calls as it can (frames are gathered
// into a pooled buffer) and one Flush, under the write deadline. With no
// frames it only flushes (the headers).
//
// The deadline bounds a write in progress only: it is set before the write
// (renewed when less than half of WriteTimeout is left, so a run of writes
// sets it once) and cleared by idle once the writer has nothing left to do.
// An idle stream therefore has no deadline: on HTTP/2 a deadline that
// expires resets the stream even when no write is in progress.
func (c *Conn) write(w http.ResponseWriter, frames [][]byte) error {
	// The deadline is set under wmu, so that a close cutting this write
	// short (an expired deadline, set under wmu) always comes after it.
	c.wmu.Lock()
	if c.q.isClosed() {
		c.wmu.Unlock()
		return errStreamEnded
	}
	c.lastWrite = time.Now()
	if wt := c.hub.opts.WriteTimeout; wt > 0 && !c.noDeadline && c.deadline.Sub(c.lastWrite) < wt/2 {
		// A writer without deadlines answers ErrNotSupported (a new error
		// value each time): it is asked once.
		c.deadline = c.lastWrite.Add(wt)
		if err := c.setWriteDeadline(c.deadline); errors.Is(err, http.ErrNotSupported) {
			c.noDeadline = true
		}
	}
	c.writing = true
	c.wmu.Unlock()
	var err error
	if l := c.lean; l != nil && l.nc != nil {
		err = l.write(frames, c.lastWrite)
	} else if err = writeFrames(w, frames); err == nil {
		err = c.rc.Flush()
	}
	c.wmu.Lock()
	c.writing = false
	c.wmu.Unlock()
	return err
}

// idle clears the write deadline when the writer has caught up: nothing was
// queued since its last take (the wake slot is empty). A frame queued right
// after the check only costs the next write one more SetWriteDeadline.
// A lean stream keeps its deadline: a deadline that expires between writes
// does nothing to a TCP connection (only HTTP/2 resets a stream for it),
// and write renews it before it writes, so most writes set none.
func (c *Conn) idle() {
	if c.deadline.IsZero() || len(c.wake) > 0 || c.taken() {
		return
	}
	c.wmu.Lock()
	if !c.q.isClosed() {
		_ = c.setWriteDeadline(noDeadline)
	}
	c.deadline = noDeadline
	c.wmu.Unlock()
}

// setWriteDeadline sets the write deadline of the connection: through the
// ResponseController, or on the connection itself once it was taken over.
// wmu held, or on the writer.
func (c *Conn) setWriteDeadline(t time.Time) error {
	if l := c.lean; l != nil && l.nc != nil {
		return l.nc.SetWriteDeadline(t)
	}
	return c.rc.SetWriteDeadline(t)
}

// gatherSize is the capacity of the pooled buffers that coalesce frames.
const gatherSize = 32 << 10

var gatherPool = sync.Pool{New: func() any { b := make([]byte, 0, gatherSize); return &b }}

// writeFrames writes frames through w: a single frame as it is, several
// gathered into buffers of up to gatherSize so that a backlog goes out in a
// few large writes rather than one per frame.
func writeFrames(w http.ResponseWriter, frames [][]byte) error {
	if len(frames) == 1 {
		_, err := w.Write(frames[0])
		return err
	}
	bp := gatherPool.Get().(*[]byte)
	defer gatherPool.Put(bp)
	buf := (*bp)[:0]
	for _, f := range frames {
		if len(buf)+len(f) > gatherSize && len(buf) > 0 {
			if _, err := w.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if len(f) > gatherSize {
			if _, err := w.Write(f); err != nil {
				return err
			}
			continue
		}
		buf = append(buf, f...)
	}
	if len(buf) == 0 {
		return nil
	}
	_, err := w.Write(buf)
	return err
}

// finish marks the handler as returning: close must not touch the
// ResponseController after this.
func (c *Conn) finish() {
	c.wmu.Lock()
	c.finished = true
	c.wmu.Unlock()
}

// info returns the hook view of the connection.
func (c *Conn) info(r *http.Request) ConnInfo {
	ci := ConnInfo{ID: c.id, UserID: c.userID}
	if r != nil {
		ci.Remote = r.RemoteAddr
	}
	return ci
}
