package ssekify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Defaults of ShutdownOptions.
const (
	DefaultShutdownGrace  = 5 * time.Second
	DefaultShutdownEvent  = "server:shutdown"
	DefaultShutdownCode   = "SERVER_SHUTDOWN"
	DefaultShutdownSpread = 5 * time.Second
)

// ShutdownOptions configures Shutdown. The zero value announces the shutdown
// with the defaults below and waits the default grace period.
type ShutdownOptions struct {
	// Grace is how long the streams stay open after the announcement, so
	// that it, and what is still queued or sent meanwhile, reaches the
	// clients. Default 5s; negative closes at once (the announcement then
	// rarely gets out).
	Grace time.Duration
	// NoAnnounce turns the announcement off.
	NoAnnounce bool
	// Event is the announcement's event name. Default "server:shutdown".
	Event string
	// Code is the "code" member of the announcement's data. Default
	// "SERVER_SHUTDOWN".
	Code string
	// Retry is the shortest reconnection delay the announcement hints.
	// Default: Options.Retry (2s unless set), or 2s when that is disabled;
	// negative sends no retry line.
	Retry time.Duration
	// RetrySpread is the window over which the hints are spread: the
	// streams are told to come back after Retry plus an even share of
	// RetrySpread, so that clients do not all reconnect in the same second.
	// Default 5s; negative: every stream gets Retry.
	RetrySpread time.Duration
}

// shutdownConfig is ShutdownOptions with the defaults filled in.
type shutdownConfig struct {
	grace    time.Duration
	announce bool
	event    string
	code     string
	retry    time.Duration // < 0: no retry line
	spread   time.Duration // >= 0
}

// lifecycle is the shutdown state of a hub.
type lifecycle struct {
	mu    sync.Mutex
	hurry chan struct{} // closed when a caller's ctx ended: close every stream now
	done  chan struct{} // closed once the shutdown finished; nil before it started
	err   error         // the shutdown's result, written before done is closed

	hurryOnce sync.Once

	lean leanHub // the lean streams' count and heartbeat wheel (lean_wheel.go)
}

// StopAccepting makes new Register calls answer 503 with Retry-After and
// return ErrNotAccepting; open streams go on. Use it before a rolling
// restart, then Shutdown.
func (h *Hub) StopAccepting() { h.stopped.Store(true) }

// Shutdown ends the hub gracefully, in this order:
//
//  1. it stops accepting: Register answers 503 with Retry-After;
//  2. unless opts.NoAnnounce, it queues for every stream on this instance an
//     event (default "server:shutdown", data {"code", "time", "graceMs",
//     "retryMs"}) together with a "retry:" line of its own, spread over
//     opts.RetrySpread so that clients come back spread out;
//  3. it waits the grace period, until every stream has ended, or until ctx
//     ends, whichever comes first. Sends and publishes still work meanwhile;
//  4. it closes every stream (each Register returns) and waits for their
//     Register calls to return, and for the writers of lean streams to
//     close their connections, which they do promptly: a write blocked on
//     a stalled client gets 250ms, then is cut;
//  5. it stops the lean streams' heartbeat timer and client-gone poller
//     (which also stop by themselves with the last lean stream), the broker
//     subscription, and closes the broker when the hub opened it
//     (Options.RedisURL). The hub owns no other goroutine or timer (replay
//     and seq counters are swept lazily), so nothing outlives it.
//
// When ctx ends while streams are still open in step 4, Shutdown waits at
// most 500ms more (twice the 250ms a closed write is given) and then goes
// on with step 5 without them: a writer blocked on a client that does not
// read, behind a ResponseWriter without write deadlines, can not be cut.
// It then returns an error wrapping ErrShutdownIncomplete that says how
// many streams were still open; their Register calls return once their
// writes fail.
//
// From step 4 on, sends and publishes return ErrClosed and Register answers
// 503 with ErrClosed.
//
// Call it before http.Server.Shutdown, which would otherwise wait for the
// streams forever. When ctx ends before the grace period is over, the
// streams are closed at once, the rest completes, and Shutdown returns
// ctx.Err() (joined with any other error). Shutdown is idempotent and safe
// to call from several goroutines: every call returns once the first one
// has finished, with its result; a call whose ctx ends first makes the
// shutdown close every stream at once, and returns ctx.Err() too.
//
// Options are validated by the first call only: an invalid Event name
// returns ErrInvalidEvent and starts nothing.
func (h *Hub) Shutdown(ctx context.Context, opts ShutdownOptions) error {
	l := &h.life
	l.mu.Lock()
	first := l.done == nil
	if first {
		cfg, err := h.shutdownConfig(opts)
		if err != nil {
			l.mu.Unlock()
			return err
		}
		l.done, l.hurry = make(chan struct{}), make(chan struct{})
		l.mu.Unlock()
		res, cut := h.shutdown(ctx, cfg, l.hurry)
		l.err = res
		close(l.done)
		return withCtxErr(ctx, cut, res)
	}
	done := l.done
	l.mu.Unlock()
	select {
	case <-done:
		return l.err
	case <-ctx.Done():
		l.hurryOnce.Do(func() { close(l.hurry) })
		<-done
		return withCtxErr(ctx, true, l.err)
	}
}

// withCtxErr returns res, preceded by ctx's error when ctx cut the call short.
func withCtxErr(ctx context.Context, cut bool, res error) error {
	if !cut {
		return res
	}
	if res == nil {
		return ctx.Err()
	}
	return errors.Join(ctx.Err(), res)
}

// shutdownConfig validates o and fills its defaults.
func (h *Hub) shutdownConfig(o ShutdownOptions) (shutdownConfig, error) {
	c := shutdownConfig{
		grace:    o.Grace,
		announce: !o.NoAnnounce,
		event:    o.Event,
		code:     o.Code,
		retry:    o.Retry,
		spread:   o.RetrySpread,
	}
	if !validField(c.event) {
		return c, fmt.Errorf("%w: shutdown event name %q contains CR, LF, NUL or invalid UTF-8", ErrInvalidEvent, clip(c.event))
	}
	def(&c.grace, DefaultShutdownGrace)
	def(&c.event, DefaultShutdownEvent)
	def(&c.code, DefaultShutdownCode)
	def(&c.spread, DefaultShutdownSpread)
	if c.spread < 0 {
		c.spread = 0
	}
	if c.retry == 0 {
		c.retry = h.opts.Retry
		if c.retry < 0 {
			c.retry = DefaultRetry
		}
	}
	return c, nil
}

// shutdown runs the steps of Shutdown. cut reports that ctx ended before
// the shutdown was over.
func (h *Hub) shutdown(ctx context.Context, c shutdownConfig, hurry <-chan struct{}) (res error, cut bool) {
	start := time.Now()
	h.stopped.Store(true)
	announced := h.announce(c)
	// No Register can join the wait group any more: attach checks stopped
	// under h.mu, which announce took after stopped was set.
	ended := make(chan struct{})
	go func() {
		h.streams.Wait()
		close(ended)
	}()
	h.opts.Logger.Info("ssekify: shutting down",
		slog.Int("streams", announced), slog.Duration("grace", max(c.grace, 0)))

	if c.grace > 0 {
		grace := time.NewTimer(c.grace)
		select {
		case <-grace.C:
		case <-ended:
		case <-hurry:
		case <-ctx.Done():
			cut = true
		}
		grace.Stop()
	}

	h.mu.Lock()
	h.closed.Store(true)
	conns := append([]*Conn(nil), h.all...)
	h.closeLocked(conns)
	h.mu.Unlock()

	var errs []error
	select {
	case <-ended:
	case <-ctx.Done():
		// A writer that can not be cut (its ResponseWriter has no write
		// deadline and its client does not read) would hold Shutdown
		// forever: ctx ends the wait, and the error says what is left.
		cut = true
		// Every stream was just closed: one that can be cut ends within
		// closeGrace. Only those that can not are left behind.
		left := time.NewTimer(2 * closeGrace)
		select {
		case <-ended:
		case <-left.C:
			errs = append(errs, fmt.Errorf("%w: %d stream(s) still open when ctx ended (their writers are blocked and can not be cut)",
				ErrShutdownIncomplete, h.running.Load()))
		}
		left.Stop()
	}

	h.leanStop()
	if h.subStop != nil {
		h.subStop()
	}
	if h.ownsBroker && h.broker != nil {
		if err := h.broker.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%w: close: %w", ErrBroker, err))
		}
	}
	res = errors.Join(errs...)
	h.opts.Logger.Info("ssekify: shut down",
		slog.Int("closed", len(conns)), slog.Duration("took", time.Since(start)), slog.Bool("cut", cut))
	return res, cut
}

// shutdownData is the announcement's payload.
type shutdownData struct {
	Code    string `json:"code"`
	Time    string `json:"time"`
	GraceMs int64  `json:"graceMs"`
}

// announce queues the shutdown announcement, with its own retry line, for
// every stream through the normal queue path, and returns how many streams
// there are.
func (h *Hub) announce(c shutdownConfig) int {
	var prefix []byte
	if c.announce {
		// The payload is the same for every stream but its last member,
		// retryMs; it is built once and completed per stream.
		prefix, _ = json.Marshal(shutdownData{
			Code:    c.code,
			Time:    h.now().UTC().Format("2006-01-02T15:04:05.000Z"),
			GraceMs: max(c.grace, 0).Milliseconds(),
		})
		prefix = prefix[:len(prefix)-1] // drop the closing brace
	}
	var fx effects
	h.mu.Lock()
	n := len(h.all)
	if c.announce {
		baseMs, spreadMs := c.retry.Milliseconds(), c.spread.Milliseconds()
		for i, conn := range h.all {
			retryMs := int64(-1)
			if c.retry >= 0 {
				retryMs = baseMs + spreadMs*int64(i)/int64(n)
			}
			h.enqueue(conn, &message{frame: shutdownFrame(c.event, prefix, retryMs)}, &fx)
		}
		for _, conn := range fx.disconnect {
			h.remove(conn)
		}
	}
	h.mu.Unlock()
	h.settle(&fx)
	return n
}

// shutdownFrame builds one stream's announcement: its retry line (none when
// retryMs is negative) and the event, in one frame. The event has no id, so
// the client's Last-Event-ID stays that of the last event it got.
func shutdownFrame(event string, prefix []byte, retryMs int64) []byte {
	data := make([]byte, 0, len(prefix)+len(`,"retryMs":}`)+20)
	data = append(data, prefix...)
	if retryMs >= 0 {
		data = append(data, `,"retryMs":`...)
		data = strconv.AppendInt(data, retryMs, 10)
	}
	data = append(data, '}')
	f := make([]byte, 0, len("retry: \n")+20+frameSize("", event, data))
	if retryMs >= 0 {
		f = append(f, "retry: "...)
		f = strconv.AppendInt(f, retryMs, 10)
		f = append(f, '\n')
	}
	return appendFrame(f, "", event, data)
}
