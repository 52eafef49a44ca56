package ssekify

import (
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// noDeadline clears a write deadline; expired makes writes fail at once.
var (
	noDeadline time.Time
	expired    = time.Unix(1, 0)
)

// Register turns the request into an SSE stream for userID and blocks until
// the stream ends: the client went away, the hub closed it (CloseUser,
// CloseAll, Conn.Close, Shutdown) or a write failed. Call it from the handler
// and return when it returns; the handler's goroutine writes the stream, so
// a connection costs no goroutine beyond net/http's own.
//
// Register writes the response itself. When it fails before the stream
// starts it answers with an HTTP error (400 for an empty or too long userID
// or room, 503
// with Retry-After when not accepting, 500 when the ResponseWriter can not
// flush) and returns the error. It returns nil when the client went away or
// the hub closed the stream, ErrSlowClient when the Disconnect policy closed
// it, and the write error when a write failed or timed out.
//
// Do not write to w before calling Register, nor after it returns. It works
// on HTTP/1.1 and HTTP/2, through middleware that wraps the ResponseWriter
// (if the wrapper has an Unwrap method or flushes) and with servers that set
// ReadTimeout or WriteTimeout: Register lifts the server's write deadline
// for the stream (net/http clears the read deadline of a request without a
// body itself), and each write gets its own deadline of
// Options.WriteTimeout, cleared after it.
//
// userID is at most MaxUserIDBytes, each room at most MaxRoomBytes and a
// stream in at most MaxRoomsPerStream rooms: beyond, Register answers 400
// with an error wrapping ErrTooLong. Invalid RegisterOptions (negative
// bounds, headers over MaxHeaderBytes) are answered 500 (ErrInvalidOptions).
//
// The Last-Event-ID header (else the lastEventId or last-event-id query
// parameter) selects what is replayed before live events.
//
// With a RedisBroker, the first stream of a user or room on this instance
// waits, before its headers, until the instance receives that user's or
// room's events (interest routing: a SUBSCRIBE and a mark, two round trips
// shared with the other streams arriving, at most two seconds), and then
// reads from the logs what was published since Register began.
//
// A lean stream (Options.Lean, RegisterOptions.Lean) does not block:
// Register takes the HTTP/1.1 connection over once the headers and the
// opening are written and returns nil at once; the stream goes on without
// the handler, and its end is reported by OnDisconnect only. The handler
// must then return without touching w (writes fail with
// http.ErrHijacked). Middleware sees status 200 and a handler that
// returned: an access log records the stream's opening, not its life; a
// tracing span ends there; the request's context is cancelled by net/http
// when the handler returns, and the stream does not use it. Failures
// before the stream starts are answered and returned as above. Requests
// that can not be lean (HTTP/2, HTTP/1.0, HEAD, a ResponseWriter without
// Hijack) block as described above.
func (h *Hub) Register(w http.ResponseWriter, r *http.Request, userID string, opts *RegisterOptions) error {
	// The setup runs in open and has returned before the writer parks, so
	// that an idle stream's goroutine holds a shallow stack (which the
	// garbage collector then shrinks).
	c, err := h.open(w, r, userID, opts)
	if c == nil {
		return err
	}
	if c.taken() {
		if err == nil {
			c.handOff(c.info(r))
			return nil
		}
		c.lean.shut(false)
	}
	if err == nil {
		err = c.serve(r.Context(), w)
	}
	h.end(c, c.info(r), err)
	return err
}

// end reports the end of a stream and counts it out: the last step of
// Register, or of a lean stream's writer.
func (h *Hub) end(c *Conn, info ConnInfo, err error) {
	h.detach(c, info, err)
	h.running.Add(-1)
	h.streams.Done()
}

// open turns the request into a registered stream whose opening is written:
// headers, retry line, gap or replay. It returns a nil Conn when it refused
// the request (already answered), or the Conn and the error of a failed
// first write.
func (h *Hub) open(w http.ResponseWriter, r *http.Request, userID string, opts *RegisterOptions) (*Conn, error) {
	c, err := h.newConn(w, r, userID, opts)
	if err != nil {
		return nil, h.refuse(w, userID, err)
	}
	var rooms []string
	var onOpen func(*Conn)
	if opts != nil {
		rooms, onOpen = opts.Rooms, opts.OnOpen
	}
	from, routed := h.routeIn(c.userID, rooms)
	open, err := h.attach(c, rooms, lastEventID(r), from)
	routed()
	if err != nil {
		return nil, h.refuse(w, userID, err)
	}
	h.writeHeaders(w, r, c)
	if c.lean != nil {
		c.hijack() // on failure the stream stays on the handler path
	}
	// A stream lives past a server-wide WriteTimeout: lift it (each write
	// gets the hub's own WriteTimeout instead). net/http itself clears the
	// read deadline of a request without a body once its handler runs,
	// and both deadlines of a connection it hands over.
	// Writers without deadlines answer ErrNotSupported: nothing changes.
	if !c.taken() {
		_ = c.rc.SetWriteDeadline(noDeadline)
	}
	info := c.info(r)
	if h.opts.OnConnect != nil {
		h.callHook("OnConnect", func() { h.opts.OnConnect(info) })
	}
	if onOpen != nil {
		h.callHook("OnOpen", func() { onOpen(c) })
	}
	if err := c.write(w, open.frames); err != nil {
		return c, c.endReason(err)
	}
	h.stats.sent.add(c.shard, int64(open.events))
	c.idle()
	return c, nil
}

// newConn validates the request's parameters and builds its connection.
func (h *Hub) newConn(w http.ResponseWriter, r *http.Request, userID string, opts *RegisterOptions) (*Conn, error) {
	if userID == "" {
		return nil, fmt.Errorf("%w: user id", ErrEmptyTarget)
	}
	if err := checkLen("user id", userID, MaxUserIDBytes); err != nil {
		return nil, err
	}
	if h.stopped.Load() {
		return nil, h.notAccepting()
	}
	if opts != nil {
		if err := checkRooms(opts.Rooms); err != nil {
			return nil, err
		}
	}
	cfg, err := h.streamConfig(opts)
	if err != nil {
		return nil, err
	}
	if !canFlush(w) {
		return nil, ErrNoStreaming
	}
	n := h.connIDs.Add(1)
	c := &Conn{
		hub:    h,
		id:     h.newConnID(n),
		shard:  uint32(n),
		userID: userID,
		cfg:    cfg,
		wake:   make(chan struct{}, 1),
		allIdx: -1,
		rc:     http.NewResponseController(w),
	}
	c.q.maxItems, c.q.maxBytes, c.q.policy = cfg.maxItems, cfg.maxBytes, cfg.policy
	if cfg.lean && leanable(w, r) {
		c.lean = newLeanConn(c, n)
	}
	return c, nil
}

func (h *Hub) notAccepting() error {
	if h.closed.Load() {
		return ErrClosed
	}
	return ErrNotAccepting
}

// opening is what a stream writes before anything queued: the retry line,
// and the gap event when the client's Last-Event-ID names no position.
type opening struct {
	frames [][]byte
	events int // frames that are events (counted as sent)
}

// attach registers c and sets its cursor in one critical section: with a
// known Last-Event-ID the stream starts by catching up from that position
// (its writer reads its logs, then goes live under the same lock), without
// one it starts live at the current position. Every event is therefore
// either replayed or delivered live, never both, never neither.
func (h *Hub) attach(c *Conn, rooms []string, lastID string, from logPlace) (opening, error) {
	h.mu.Lock()
	if h.stopped.Load() {
		h.mu.Unlock()
		return opening{}, h.notAccepting()
	}
	h.streams.Add(1)
	h.running.Add(1)
	h.add(c, rooms)
	c.cursor = h.pos
	replay := false
	switch {
	case h.follows:
		replay = h.attachLogged(c, lastID, from)
	case lastID != "":
		var pos uint64
		if pos, replay = h.position(c, lastID); replay {
			c.cursor = pos
			c.q.catchUp()
		}
	}
	if replay {
		c.signal()
	}
	h.mu.Unlock()
	return h.opening(c, lastID, replay), nil
}

// logPlace is a place in the log on Redis: an epoch and a position.
type logPlace struct{ epoch, pos uint64 }

// routeIn asks for the routes of a stream that registers (route.go) and
// waits until this instance receives their events. When it had to wait,
// it returns where the instance stood before: the stream reads the logs
// from there, so that it misses nothing published since Register began.
// Call done once the stream is attached (or refused).
func (h *Hub) routeIn(userID string, rooms []string) (from logPlace, done func()) {
	if h.rt == nil {
		return logPlace{}, func() {}
	}
	h.mu.Lock()
	from = logPlace{h.fol.epoch, h.fol.upto()}
	h.mu.Unlock()
	keys := make([]logKey, 0, 1+len(rooms))
	keys = append(keys, logKey{kindUser, userID})
	for _, r := range rooms {
		keys = append(keys, logKey{kindRoom, r})
	}
	done = func() { h.rt.done(keys) }
	wait, s := h.rt.want(keys)
	if len(wait) == 0 {
		return logPlace{}, done
	}
	h.rt.wait(wait, s)
	return from, done
}

// attachLogged sets the cursors of c, whose hub follows a log on Redis,
// from its Last-Event-ID: the token's local part, when it is this
// instance's, replays the memory logs (what SendTo* sent, and Publish*
// events as delivered here); its Redis part, when it is of the log's
// epoch, replays the Publish* events from the logs on Redis, on any
// instance. A caller's id is searched in the memory logs only. It reports
// whether the id was known (else the stream gets the gap event). A stream
// that starts live starts at from when it is of the log's epoch (it waited
// for its routes), reading the logs from there. h.mu held.
func (h *Hub) attachLogged(c *Conn, lastID string, from logPlace) bool {
	f := &h.fol
	c.repoch, c.rpos = f.epoch, f.upto()
	c.unsynced = f.epoch == 0
	if from.epoch == f.epoch && from.epoch != 0 && from.pos < c.rpos {
		c.fetch = &redisFetch{epoch: f.epoch, after: from.pos, upto: c.rpos}
		c.rpos = from.pos
	}
	tok, ok := parseToken2(lastID)
	if !ok || len(lastID) > MaxLastEventIDBytes {
		if lastID == "" {
			return false
		}
		pos, found := h.position(c, lastID)
		if found {
			c.cursor = pos
			c.q.catchUp()
		}
		return found
	}
	switch {
	case f.epoch == 0:
		// Where the instance stands is known once it read the log's head.
		c.repoch, c.rpos, c.unsynced = tok.repoch, tok.rpos, false
		c.fetch = &redisFetch{epoch: tok.repoch, after: tok.rpos, wait: true}
	case tok.repoch != f.epoch:
		return false // another epoch: the stream starts live, told by the gap event
	default:
		c.rpos, c.fetch = tok.rpos, nil // the client's place, whatever from was
		local := tok.epoch == h.epoch && tok.pos <= h.pos
		if up := f.upto(); tok.rpos < up && !(local && h.memoryCovers(c, tok.pos)) {
			c.fetch = &redisFetch{epoch: f.epoch, after: tok.rpos, upto: up}
		}
	}
	if tok.epoch == h.epoch && tok.pos <= h.pos {
		c.cursor = tok.pos
		c.q.catchUp()
	}
	return true
}

// memoryCovers reports whether the memory logs of c hold everything after
// local position pos: then a reconnect to the instance that wrote the
// token reads them alone. The Publish* events it needs were all delivered
// here after pos (an instance delivers the log in order), so they are in
// them too, unless they dropped some, or hold no log for one of the
// stream's targets (then the logs on Redis are read). h.mu held.
func (h *Hub) memoryCovers(c *Conn, pos uint64) bool {
	c.keys = c.logKeys(c.keys[:0])
	return h.logs.covers(c.keys, pos)
}

// opening builds what c writes first: the retry line; for a stream that
// starts live, the gap event when its Last-Event-ID named no position, and
// an id line without data naming its start, which sets the client's last
// event id without dispatching an event, so a client that loses its stream
// before its first event still comes back with a position. A stream that
// replays needs neither: its writer catches up from the position.
func (h *Hub) opening(c *Conn, lastID string, replay bool) opening {
	o := opening{frames: make([][]byte, 0, 3)}
	if f := retryFrame(c.cfg.retry); f != nil {
		o.frames = append(o.frames, f)
	}
	if replay {
		h.stats.replayHits.Add(1)
		return o
	}
	if lastID != "" {
		h.stats.replayMisses.Add(1)
		if len(lastID) > MaxLastEventIDBytes || !validField(lastID) {
			h.reportErr(&Error{Code: CodeInvalidLastEvent, Level: LevelWarn, Op: "register", Target: c.id,
				Err: fmt.Errorf("Last-Event-ID %q of user %q is not an id this hub makes; answered with the gap event", clip(lastID), c.userID)})
		}
		if !h.opts.NoGapEvent {
			o.frames = append(o.frames, h.gapFrame(loss{reason: reasonUnknownID}, lastID))
			o.events = 1
			h.stats.gapEvents.Add(1)
		}
	}
	o.frames = append(o.frames, append(h.positionLine(c.cursor, c.repoch, c.rpos), '\n'))
	return o
}

// position returns the position a client's Last-Event-ID names: a token of
// this hub's epoch at or before the current position, or the id of an
// event (a caller's Event.ID or an Options.FrameID id) still held by the
// stream's own logs. h.mu held.
func (h *Hub) position(c *Conn, lastID string) (uint64, bool) {
	if len(lastID) > MaxLastEventIDBytes {
		return 0, false
	}
	if epoch, pos, ok := parseToken(lastID); ok {
		return pos, epoch == h.epoch && pos <= h.pos
	}
	if h.opts.FrameID == nil && !h.customIDs.Load() {
		return 0, false // no event here has a caller's id: nothing to search
	}
	c.keys = c.logKeys(c.keys[:0])
	return h.logs.find(c.keys, lastID)
}

// detach removes c from the hub once its stream ended and reports the end.
func (h *Hub) detach(c *Conn, info ConnInfo, err error) {
	if errors.Is(err, ErrSlowClient) && !c.taken() {
		// The peer is stalled: make net/http's final flush fail at once so
		// that it closes the connection instead of keeping it alive.
		_ = c.rc.SetWriteDeadline(expired)
	}
	c.finish()
	h.mu.Lock()
	h.remove(c)
	h.mu.Unlock()
	c.q.close(nil)
	if err != nil && !errors.Is(err, ErrSlowClient) {
		h.report("write", c.id, err)
	}
	if h.opts.OnDisconnect != nil {
		h.callHook("OnDisconnect", func() { h.opts.OnDisconnect(info, err) })
	}
}

// refuse answers a request that can not become a stream and reports why.
func (h *Hub) refuse(w http.ResponseWriter, userID string, err error) error {
	switch {
	case errors.Is(err, ErrEmptyTarget), errors.Is(err, ErrTooLong):
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrNotAccepting), errors.Is(err, ErrClosed):
		w.Header().Set("Retry-After", strconv.Itoa(h.retryAfterSeconds()))
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
	h.report("register", clip(userID), err)
	return err
}

// retryAfterSeconds is the Retry-After of a refused request: the retry hint,
// rounded up to a whole second.
func (h *Hub) retryAfterSeconds() int {
	s := int((h.opts.Retry.Milliseconds() + 999) / 1000)
	if s < 1 {
		s = 1
	}
	return s
}

// sseHeaders are the headers that make the stream work; the user's headers
// can neither replace nor double them, whatever the case of their keys.
var sseHeaders = map[string]bool{
	"Content-Type": true, "Cache-Control": true, "X-Accel-Buffering": true,
	"Connection": true, "Content-Length": true,
}

// writeHeaders sends the SSE headers at once: the hub's Headers, then the
// stream's (a key given again replaces the hub's), each under its canonical
// key, then the four SSE headers, which nothing can replace or double.
func (h *Hub) writeHeaders(w http.ResponseWriter, r *http.Request, c *Conn) {
	hdr := w.Header()
	for k := range hdr {
		if sseHeaders[textproto.CanonicalMIMEHeaderKey(k)] {
			delete(hdr, k) // set by a middleware, maybe under another case
		}
	}
	setHeaders(hdr, h.opts.Headers)
	setHeaders(hdr, c.cfg.extra)
	hdr.Set("Content-Type", "text/event-stream; charset=utf-8")
	hdr.Set("Cache-Control", "no-cache, no-transform")
	hdr.Set("X-Accel-Buffering", "no")
	if r.ProtoMajor == 1 {
		hdr.Set("Connection", "keep-alive")
	}
	if c.lean != nil {
		// The hub writes the body's chunks itself once it took the
		// connection over: net/http must chunk its part too.
		for k := range hdr {
			if textproto.CanonicalMIMEHeaderKey(k) == "Transfer-Encoding" {
				delete(hdr, k)
			}
		}
	}
	w.WriteHeader(http.StatusOK)
}

// setHeaders copies src into dst under canonical keys, skipping the SSE
// headers; a key present in dst is replaced.
func setHeaders(dst, src http.Header) {
	for k, v := range src {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if !sseHeaders[ck] {
			dst[ck] = append([]string(nil), v...)
		}
	}
}

// lastEventID reads the client's last event id: the Last-Event-ID header,
// else the lastEventId or last-event-id query parameter (EventSource
// polyfills send it there).
func lastEventID(r *http.Request) string {
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		return v
	}
	if !strings.Contains(r.URL.RawQuery, "ast") { // lastEventId, last-event-id
		return ""
	}
	q := r.URL.Query()
	if v := q.Get("lastEventId"); v != "" {
		return v
	}
	return q.Get("last-event-id")
}

// canFlush reports whether w, or a writer it wraps, can flush: the same
// search http.ResponseController makes, done before any byte is written so
// that Register can still answer with an error status.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }, http.Flusher:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}
