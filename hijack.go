package ssekify

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The lean transport (Options.Lean): once the response headers are out,
// the hub takes the HTTP/1.1 connection over (Hijack) and Register returns.
// The stream keeps its queue, policies, logs and cursor; only the
// transport under write changes: the hub writes the body's chunks on the
// connection itself. A writer goroutine runs only while there is work
// (kick, leanRun), heartbeats come from the hub-wide wheel (lean_wheel.go)
// and the client's leaving is noticed by the watcher (lean_watch.go).

// leanConn is the state of a stream that may be lean. It exists from
// newConn on for a request that allows it; nc is set once the connection
// was taken over, before any lean writer starts.
type leanConn struct {
	nc   net.Conn // the connection (a *tls.Conn over TLS); nil until taken over
	info ConnInfo // for OnDisconnect, which runs after the request is gone

	// running: a goroutine is the stream's writer (the handler's until the
	// hand-off, then one started by kick). Only its holder writes.
	running atomic.Bool
	// ping: the wheel found the stream idle for KeepAlive.
	ping atomic.Bool
	// lastWrite is when the last write started (mono), for the wheel.
	lastWrite atomic.Int64
	// run is the writer's loop, bound once: a go statement of a method
	// value would allocate per writer.
	run func()

	// The wheel's place of the stream, guarded by leanHub.mu.
	slot int32 // -1: not in the wheel
	idx  int32
	due  int64 // the tick the stream is due at

	token uint64     // names the stream to the poller: its connection number
	watch watchState // client-gone detection (lean_watch.go)
}

func newLeanConn(c *Conn, token uint64) *leanConn {
	l := &leanConn{slot: -1, token: token, run: c.leanRun}
	l.running.Store(true) // the handler's goroutine writes the opening
	return l
}

// errClientGone closes a lean stream whose client went away: a normal end,
// reported as nil like a handler's cancelled request context.
var errClientGone = errors.New("ssekify: client went away")

// leanable reports whether a lean stream can serve r through w: HTTP/1.1
// (chunked), not HEAD, and a ResponseWriter that can be hijacked, itself or
// through Unwrap (the search http.ResponseController makes).
func leanable(w http.ResponseWriter, r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 || r.Method == http.MethodHead {
		return false
	}
	for {
		switch t := w.(type) {
		case http.Hijacker:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// taken reports whether the hub took the stream's connection over.
func (c *Conn) taken() bool { return c.lean != nil && c.lean.nc != nil }

// hijack takes the connection over once WriteHeader was called: net/http
// flushes the headers (chunked) and clears the connection's deadlines.
// The ResponseController is dropped, and with it net/http's buffers. On
// failure the stream stays on the handler path.
func (c *Conn) hijack() {
	nc, _, err := c.rc.Hijack()
	if err != nil {
		return
	}
	c.wmu.Lock()
	c.lean.nc, c.rc = nc, nil
	c.wmu.Unlock()
}

// handOff gives the stream to the hub once its opening is written: the
// handler's goroutine stops being its writer and Register returns.
func (c *Conn) handOff(info ConnInfo) {
	c.lean.info = info
	c.hub.leanAdd(c)
	if c.release() {
		go c.lean.run()
	}
}

// kick starts a writer unless one runs. The goroutine is started by the
// hub's starter (leanStarter), not here: a broadcast kicks every stream
// whose writer went idle, and its caller should not pay a goroutine per
// stream.
func (c *Conn) kick() {
	if l := c.lean; l.running.CompareAndSwap(false, true) {
		c.hub.life.lean.start.add(l.run)
	}
}

// leanStarter starts the writers that deliveries kicked: a caller queues
// the writer's loop, and the first to find the starter idle starts one
// goroutine that starts the queued writers, then ends once the queue is
// empty. So a broadcast to n idle lean streams costs its caller n appends
// and one goroutine, as waking n handler-path writers costs it n channel
// sends; the goroutines themselves are started beside it.
type leanStarter struct {
	mu      sync.Mutex
	queue   []func()
	spare   []func() // the previous queue, emptied, reused
	running bool
}

// add queues run to be started as a goroutine.
func (s *leanStarter) add(run func()) {
	s.mu.Lock()
	s.queue = append(s.queue, run)
	if s.running {
		s.mu.Unlock()
		return
	}
	s.running = true
	s.mu.Unlock()
	go s.startAll()
}

// startAll starts the queued writers until the queue is empty.
func (s *leanStarter) startAll() {
	for {
		s.mu.Lock()
		runs := s.queue
		if len(runs) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.queue, s.spare = s.spare, nil
		s.mu.Unlock()
		for i, run := range runs {
			go run()
			runs[i] = nil
		}
		s.mu.Lock()
		if cap(runs) <= 4096 { // a burst's queue is not kept for ever
			s.spare = runs[:0]
		}
		s.mu.Unlock()
	}
}

// release gives the writer role up. It reports whether work came in
// meanwhile and the caller took the role back: signal leaves its token
// before it kicks, so a token left after the check finds no writer and
// starts one.
func (c *Conn) release() bool {
	c.lean.running.Store(false)
	return len(c.wake) > 0 && c.lean.running.CompareAndSwap(false, true)
}

// leanRun is a lean stream's writer: it runs while there is work and ends
// the stream when it is over. Its batch and frames slices are lent by a
// pool while it runs, so that an idle stream holds neither.
func (c *Conn) leanRun() {
	growStack(0)
	for {
		s := scratchPool.Get().(*scratch)
		c.batch, c.frames = s.batch, s.frames
		for more := true; more; {
			select {
			case <-c.wake:
				if done, err := c.leanStep(); done {
					c.giveBack(s)
					c.leanEnd(err)
					return
				}
			default:
				more = false
			}
		}
		c.giveBack(s)
		if !c.release() {
			return
		}
	}
}

// growStack grows a fresh writer's stack from its first 2 KiB while it is
// nearly empty: the write path needs more, and growing there, under a dozen
// frames, costs a copy that adjusts every frame (a quarter of the CPU of a
// fixed-rate broadcast when measured); growing here adjusts one.
//
//go:noinline
func growStack(n int) byte {
	var pad [2 << 10]byte
	pad[n&(len(pad)-1)] = byte(n)
	return pad[(n*7)&(len(pad)-1)]
}

// scratch is a lean writer's batch and frames between runs.
type scratch struct {
	batch  []*message
	frames [][]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// giveBack returns the writer's slices to the pool, emptied.
func (c *Conn) giveBack(s *scratch) {
	s.batch, s.frames = c.batch[:0], c.frames[:0]
	c.batch, c.frames = nil, nil
	scratchPool.Put(s)
}

// leanStep writes what is queued (or reads the logs), then the heartbeat
// the wheel asked for unless the stream just wrote.
func (c *Conn) leanStep() (done bool, err error) {
	if done, err = c.drain(nil); done || !c.lean.ping.Swap(false) {
		return done, err
	}
	if time.Since(c.lastWrite) < c.cfg.keepAlive/2 {
		return false, nil
	}
	if err := c.write(nil, heartbeatFrames); err != nil {
		return true, c.endReason(err)
	}
	c.idle()
	return false, nil
}

// leanEnd ends a lean stream on its writer: out of the wheel and the
// watcher, the connection closed (cleanly, with the last chunk, when the
// hub closed the stream), the watcher awaited, then reported like the end
// of Register.
func (c *Conn) leanEnd(err error) {
	gone := errors.Is(err, errClientGone)
	if gone {
		err = nil
	}
	c.q.close(nil)
	c.hub.leanRemove(c)
	c.unwatch()
	c.lean.shut(err == nil && !gone)
	c.awaitWatch()
	c.hub.end(c, c.lean.info, err)
}

// lastChunk ends a chunked body.
var lastChunk = []byte("0\r\n\r\n")

// shut closes the connection. clean ends the body first with the last
// chunk, given closeGrace; a stalled peer (or a failed write) gets no
// second chance: the socket is closed under TLS too, whose Close would
// otherwise wait up to 5s to send its close_notify.
func (l *leanConn) shut(clean bool) {
	if clean {
		_ = l.nc.SetWriteDeadline(time.Now().Add(closeGrace))
		if _, err := l.nc.Write(lastChunk); err == nil {
			_ = l.nc.Close()
			return
		}
	}
	_ = rawConn(l.nc).Close()
}

// chunkHead is the room left before a chunk's data for its size line:
// up to 8 hex digits and CRLF.
const chunkHead = 10

// write sends frames as chunks of the response body: gathered into a
// pooled buffer behind the room of the size line, so that each chunk is
// one Write (one syscall, one TLS record); a frame larger than a buffer is
// a chunk of its own. at is when the write started, for the wheel.
func (l *leanConn) write(frames [][]byte, at time.Time) error {
	l.lastWrite.Store(mono(at))
	bp := gatherPool.Get().(*[]byte)
	defer gatherPool.Put(bp)
	buf := (*bp)[:chunkHead]
	for _, f := range frames {
		if len(buf)+len(f)+2 > cap(buf) {
			if len(buf) > chunkHead {
				if err := l.chunk(buf); err != nil {
					return err
				}
				buf = buf[:chunkHead]
			}
			if chunkHead+len(f)+2 > cap(buf) {
				if err := l.bigChunk(f); err != nil {
					return err
				}
				continue
			}
		}
		buf = append(buf, f...)
	}
	if len(buf) == chunkHead {
		return nil
	}
	return l.chunk(buf)
}

// chunk writes buf[chunkHead:] as one chunk: the size line goes into the
// room before it, the CRLF after it (buf has room for both).
func (l *leanConn) chunk(buf []byte) error {
	start := sizeLine(buf[:chunkHead], len(buf)-chunkHead)
	buf = append(buf, '\r', '\n')
	_, err := l.nc.Write(buf[start:])
	return err
}

// bigChunk writes f as a chunk of its own, without copying it (writev on
// TCP).
func (l *leanConn) bigChunk(f []byte) error {
	head := make([]byte, chunkHead)
	bufs := net.Buffers{head[sizeLine(head, len(f)):], f, crlf}
	_, err := bufs.WriteTo(l.nc)
	return err
}

// sizeLine writes the size line of a chunk of n bytes, hex digits and
// CRLF, at the end of head (chunkHead bytes) and returns where it starts.
// It is written by hand: strconv's formatter has a frame large enough to
// grow a fresh writer goroutine's stack, a copy on every run.
func sizeLine(head []byte, n int) int {
	i := len(head) - 2
	head[i], head[i+1] = '\r', '\n'
	for {
		i--
		head[i] = "0123456789abcdef"[n&15]
		if n >>= 4; n == 0 {
			return i
		}
	}
}

var crlf = []byte("\r\n")

// monoBase is the origin of mono: lean streams' times are nanoseconds of
// the monotonic clock since it, so that a wall clock step moves no
// heartbeat.
var monoBase = time.Now()

// mono returns t as nanoseconds since monoBase.
func mono(t time.Time) int64 { return int64(t.Sub(monoBase)) }
