package ssekify_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// leanServer is a loopback server whose GET /sse?user=U&rooms=a,b registers
// a stream (through mw, when set) and reports what each Register call
// returned, when it returns.
type leanServer struct {
	*httptest.Server
	returned chan error
}

// leanSetup is how a leanServer serves: with these RegisterOptions,
// through middleware mw, over TLS (HTTP/1.1 unless h2), on a listener
// wrapped by wrap; the zero value serves HTTP/1.1 in clear.
type leanSetup struct {
	ro      *ssekify.RegisterOptions
	mw      func(http.Handler) http.Handler
	tls, h2 bool
	wrap    func(net.Listener) net.Listener
}

// leanServe starts a leanServer for h. It is closed when the test ends.
func leanServe(t testing.TB, h *ssekify.Hub, setup leanSetup) *leanServer {
	t.Helper()
	ro, mw, tls, h2 := setup.ro, setup.mw, setup.tls, setup.h2
	s := &leanServer{returned: make(chan error, 64)}
	var handler http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := &ssekify.RegisterOptions{}
		if ro != nil {
			*opts = *ro
		}
		if rooms := r.URL.Query().Get("rooms"); rooms != "" {
			opts.Rooms = strings.Split(rooms, ",")
		}
		s.returned <- h.Register(w, r, r.URL.Query().Get("user"), opts)
	})
	if mw != nil {
		handler = mw(handler)
	}
	s.Server = httptest.NewUnstartedServer(handler)
	if setup.wrap != nil {
		s.Listener = setup.wrap(s.Listener)
	}
	switch {
	case h2:
		s.EnableHTTP2 = true
		s.StartTLS()
		s.Client().Transport.(*http.Transport).ForceAttemptHTTP2 = true
	case tls:
		s.StartTLS()
	default:
		s.Start()
	}
	t.Cleanup(func() {
		h.CloseAll()
		s.Close()
	})
	return s
}

// open opens a stream for user (rooms comma-separated) with ssetest.
func (s *leanServer) open(t testing.TB, user, rooms string, hdr http.Header) *ssetest.Stream {
	t.Helper()
	url := s.URL + "/sse?user=" + user
	if rooms != "" {
		url += "&rooms=" + rooms
	}
	st, err := ssetest.Connect(context.Background(), s.Client(), url, hdr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// registerReturned waits for the next Register call to return.
func (s *leanServer) registerReturned(t testing.TB) error {
	t.Helper()
	select {
	case err := <-s.returned:
		return err
	case <-time.After(wait):
		t.Fatal("Register did not return")
		return nil
	}
}

// requireRegisterBlocks proves that no Register call has returned: the
// stream is on the handler path.
func (s *leanServer) requireRegisterBlocks(t testing.TB) {
	t.Helper()
	select {
	case err := <-s.returned:
		t.Fatalf("Register returned %v while its stream was open", err)
	case <-time.After(50 * time.Millisecond):
	}
}

// ends collects what OnDisconnect reports, and when.
type ends struct {
	mu    sync.Mutex
	infos []ssekify.ConnInfo
	errs  []error
	at    []time.Time
	ch    chan struct{}
}

func newEnds() *ends { return &ends{ch: make(chan struct{}, 1024)} }

func (e *ends) hook(info ssekify.ConnInfo, err error) {
	e.mu.Lock()
	e.infos, e.errs, e.at = append(e.infos, info), append(e.errs, err), append(e.at, time.Now())
	e.mu.Unlock()
	e.ch <- struct{}{}
}

// next waits for the next end and returns its time and error.
func (e *ends) next(t testing.TB) (time.Time, error) {
	t.Helper()
	select {
	case <-e.ch:
	case <-time.After(wait):
		t.Fatal("no OnDisconnect")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	i := len(e.errs) - 1
	return e.at[i], e.errs[i]
}

// TestLeanStream: a lean stream's Register returns nil at once, and the
// stream goes on: headers, retry line, events for its user, room and
// everyone, Stats; CloseUser ends its body cleanly and OnDisconnect
// reports a normal end.
func TestLeanStream(t *testing.T) {
	end := newEnds()
	connected := make(chan ssekify.ConnInfo, 1)
	h := newHub(t, &ssekify.Options{
		Lean:         true,
		Retry:        1500 * time.Millisecond,
		Headers:      http.Header{"Access-Control-Allow-Origin": {"*"}},
		OnConnect:    func(ci ssekify.ConnInfo) { connected <- ci },
		OnDisconnect: end.hook,
	})
	srv := leanServe(t, h, leanSetup{})
	s := srv.open(t, "alice", "red", nil)
	require.NoError(t, srv.registerReturned(t), "a lean Register returns nil once its stream is open")

	hdr := s.Resp.Header
	require.Equal(t, "text/event-stream; charset=utf-8", hdr.Get("Content-Type"))
	require.Equal(t, "no-cache, no-transform", hdr.Get("Cache-Control"))
	require.Equal(t, "keep-alive", hdr.Get("Connection"))
	require.Equal(t, "*", hdr.Get("Access-Control-Allow-Origin"))
	require.Equal(t, []string{"chunked"}, s.Resp.TransferEncoding)
	st := h.Stats()
	require.EqualValues(t, 1, st.Connections)
	require.EqualValues(t, 1, st.LeanStreams)
	ci := <-connected
	require.Equal(t, "alice", ci.UserID)
	require.NotEmpty(t, ci.Remote)

	mustSend(t, h, "user", "alice", "to-alice")
	mustSend(t, h, "room", "red", "to-red")
	mustSend(t, h, "all", "", "to-all")
	evs, err := s.Collect(3, wait)
	require.NoError(t, err)
	require.Equal(t, []string{`"to-alice"`, `"to-red"`, `"to-all"`}, datas(evs))
	retry, ok := s.Retry()
	require.True(t, ok)
	require.Equal(t, 1500, retry)
	eventually(t, "sent count", func() bool { return h.Stats().Sent == 3 })

	require.Equal(t, 1, h.CloseUser("alice"))
	_, err = s.Next(wait)
	require.ErrorIs(t, err, io.EOF, "the body ends with its last chunk")
	_, err = end.next(t)
	require.NoError(t, err, "a close by the hub is a normal end")
	require.Equal(t, ci, end.infos[0], "OnDisconnect gets what OnConnect got")
	st = h.Stats()
	require.Zero(t, st.Connections)
	require.Zero(t, st.LeanStreams)
	require.False(t, h.IsOnline("alice"))
}

// TestLeanWire reads a lean stream's bytes: net/http's chunked head, then
// the hub's own chunks, one per write, and the last chunk at the close.
func TestLeanWire(t *testing.T) {
	h := newHub(t, &ssekify.Options{Lean: true, Retry: time.Second, KeepAlive: -1})
	srv := leanServe(t, h, leanSetup{})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	_, err = conn.Write([]byte("GET /sse?user=alice HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	head, err := readUntil(br, "\r\n\r\n")
	require.NoError(t, err)
	require.Contains(t, head, "HTTP/1.1 200 OK\r\n")
	require.Contains(t, head, "\r\nTransfer-Encoding: chunked\r\n")
	require.NoError(t, srv.registerReturned(t))

	chunk := func(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }
	opening := "retry: 1000\n\n" + string(ssekify.AppendToken([]byte("id: "), ssekify.Epoch(h), 0)) + "\n\n"
	_, err = h.SendToUser("alice", ssekify.Event{ID: "1", Name: "n", Data: []byte("a\nb")})
	require.NoError(t, err)
	want := chunk(opening) + chunk("id: 1\nevent: n\ndata: a\ndata: b\n\n")
	got := make([]byte, len(want))
	_, err = io.ReadFull(br, got)
	require.NoError(t, err)
	require.Equal(t, want, string(got))

	h.CloseAll()
	rest, err := io.ReadAll(br)
	require.NoError(t, err, "the hub closes the connection after the last chunk")
	require.Equal(t, "0\r\n\r\n", string(rest))
}

// readUntil reads from br up to and including sep.
func readUntil(br *bufio.Reader, sep string) (string, error) {
	var b strings.Builder
	for !strings.HasSuffix(b.String(), sep) {
		c, err := br.ReadByte()
		if err != nil {
			return b.String(), err
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

// accessLog is an access-log middleware: it records the status and when the
// handler returned, and whether the request's context had ended then.
type accessLog struct {
	http.ResponseWriter
	status int
}

func (a *accessLog) WriteHeader(code int)        { a.status = code; a.ResponseWriter.WriteHeader(code) }
func (a *accessLog) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// flushOnly flushes but neither hijacks nor unwraps: a stream through it
// stays on the handler path.
type flushOnly struct{ w http.ResponseWriter }

func (f flushOnly) Header() http.Header         { return f.w.Header() }
func (f flushOnly) Write(b []byte) (int, error) { return f.w.Write(b) }
func (f flushOnly) WriteHeader(code int)        { f.w.WriteHeader(code) }
func (f flushOnly) Flush()                      { f.w.(http.Flusher).Flush() }

// TestLeanMiddleware: through middleware that unwraps, the stream is lean;
// the middleware sees status 200 and its handler returns while the stream
// goes on; the request's context ends then, the stream does not.
func TestLeanMiddleware(t *testing.T) {
	h := newHub(t, &ssekify.Options{Lean: true})
	logged := make(chan int, 1)
	ctxDone := make(chan context.Context, 1)
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a := &accessLog{ResponseWriter: w}
			next.ServeHTTP(a, r)
			logged <- a.status
			ctxDone <- r.Context()
		})
	}
	srv := leanServe(t, h, leanSetup{mw: mw})
	s := srv.open(t, "alice", "", nil)
	require.NoError(t, srv.registerReturned(t))
	require.Equal(t, http.StatusOK, <-logged)
	ctx := <-ctxDone
	select {
	case <-ctx.Done():
	case <-time.After(wait):
		t.Fatal("the request's context did not end with its handler")
	}
	mustSend(t, h, "user", "alice", "after the handler returned")
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, `"after the handler returned"`, ev.Data)
	require.EqualValues(t, 1, h.Stats().LeanStreams)
}

// leanPath is one way a stream may be served: whether it must be lean.
type leanPath struct {
	name      string
	hubLean   bool
	lean      ssekify.LeanMode
	mw        func(http.Handler) http.Handler
	tls, h2   bool
	http10    bool // a raw HTTP/1.0 request
	wantLean  bool
	wantProto int
}

// TestLeanPaths: which streams are lean. HTTP/1.1 in clear and over TLS,
// through an unwrapping middleware, and by RegisterOptions are; HTTP/2,
// HTTP/1.0, a writer that can not be hijacked and LeanOff are not, and
// stream just the same on the handler path.
func TestLeanPaths(t *testing.T) {
	flushing := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(flushOnly{w}, r) })
	}
	unwrapping := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(&accessLog{ResponseWriter: w}, r) })
	}
	for _, c := range []leanPath{
		{name: "h1", hubLean: true, wantLean: true, wantProto: 1},
		{name: "h1 TLS", hubLean: true, tls: true, wantLean: true, wantProto: 1},
		{name: "h1 through Unwrap", hubLean: true, mw: unwrapping, wantLean: true, wantProto: 1},
		{name: "LeanOn on a hub without Lean", lean: ssekify.LeanOn, wantLean: true, wantProto: 1},
		{name: "LeanOff", hubLean: true, lean: ssekify.LeanOff, wantProto: 1},
		{name: "hub without Lean", wantProto: 1},
		{name: "h2", hubLean: true, h2: true, wantProto: 2},
		{name: "writer that can not be hijacked", hubLean: true, mw: flushing, wantProto: 1},
		{name: "HTTP/1.0", hubLean: true, http10: true},
	} {
		t.Run(c.name, func(t *testing.T) { testLeanPath(t, c) })
	}
}

func testLeanPath(t *testing.T, c leanPath) {
	end := newEnds()
	h := newHub(t, &ssekify.Options{Lean: c.hubLean, OnDisconnect: end.hook})
	srv := leanServe(t, h, leanSetup{ro: &ssekify.RegisterOptions{Lean: c.lean}, mw: c.mw, tls: c.tls, h2: c.h2})
	if c.http10 {
		testLeanHTTP10(t, h, srv)
		return
	}
	s := srv.open(t, "alice", "", nil)
	require.Equal(t, c.wantProto, s.Resp.ProtoMajor)
	if c.wantLean {
		require.NoError(t, srv.registerReturned(t))
		require.EqualValues(t, 1, h.Stats().LeanStreams)
	} else {
		srv.requireRegisterBlocks(t)
		require.Zero(t, h.Stats().LeanStreams)
	}
	mustSend(t, h, "user", "alice", c.name)
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, jsonMarshal(t, c.name), ev.Data)
	require.Equal(t, 1, h.CloseUser("alice"))
	_, err = s.Next(wait)
	require.ErrorIs(t, err, io.EOF)
	_, err = end.next(t)
	require.NoError(t, err)
	if !c.wantLean {
		require.NoError(t, srv.registerReturned(t))
	}
	require.Zero(t, h.Stats().LeanStreams)
}

// testLeanHTTP10: an HTTP/1.0 response has no chunks: the stream stays on
// the handler path, its body delimited by the connection's end.
func testLeanHTTP10(t *testing.T, h *ssekify.Hub, srv *leanServer) {
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	_, err = conn.Write([]byte("GET /sse?user=alice HTTP/1.0\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.TransferEncoding)
	srv.requireRegisterBlocks(t)
	require.Zero(t, h.Stats().LeanStreams)
	require.EqualValues(t, 1, h.Stats().Connections)
	mustSend(t, h, "user", "alice", "http/1.0")
	line, err := readUntil(br, `data: "http/1.0"`)
	require.NoError(t, err, "got %q", line)
	h.CloseAll()
	require.NoError(t, srv.registerReturned(t))
}

// TestLeanInvalidMode: an unknown LeanMode is refused like any invalid
// RegisterOptions.
func TestLeanInvalidMode(t *testing.T) {
	h := newHub(t, nil)
	srv := leanServe(t, h, leanSetup{ro: &ssekify.RegisterOptions{Lean: 7}})
	resp, err := srv.Client().Get(srv.URL + "/sse?user=alice")
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.ErrorIs(t, srv.registerReturned(t), ssekify.ErrInvalidOptions)
}

// TestLeanHeartbeat: the hub-wide wheel gives idle lean streams their ": ping",
// each at its own KeepAlive (RegisterOptions), never more often; a stream
// that writes gets none; KeepAlive off means none.
func TestLeanHeartbeat(t *testing.T) {
	h := newHub(t, &ssekify.Options{Lean: true, KeepAlive: 60 * time.Millisecond})
	fast := leanServe(t, h, leanSetup{}).open(t, "fast", "", nil)
	slow := leanServe(t, h, leanSetup{ro: &ssekify.RegisterOptions{KeepAlive: 240 * time.Millisecond}}).open(t, "slow", "", nil)
	off := leanServe(t, h, leanSetup{ro: &ssekify.RegisterOptions{KeepAlive: -1}}).open(t, "off", "", nil)
	busy := leanServe(t, h, leanSetup{}).open(t, "busy", "", nil)
	eventually(t, "four lean streams", func() bool { return h.Stats().LeanStreams == 4 })

	start := time.Now()
	for i := range 60 { // ~1.2s of events to busy, 20ms apart (a third of its KeepAlive)
		mustSend(t, h, "user", "busy", i)
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := time.Since(start)
	_, err := busy.Collect(60, wait)
	require.NoError(t, err)
	require.Zero(t, busy.Comments(), "a busy stream got a heartbeat")
	require.Zero(t, off.Comments(), "a stream without KeepAlive got a heartbeat")
	maxFast, maxSlow := int(elapsed/(60*time.Millisecond))+1, int(elapsed/(240*time.Millisecond))+1
	require.LessOrEqual(t, fast.Comments(), maxFast, "heartbeats more often than KeepAlive in %v", elapsed)
	require.LessOrEqual(t, slow.Comments(), maxSlow, "heartbeats more often than its KeepAlive in %v", elapsed)
	require.GreaterOrEqual(t, fast.Comments(), maxFast/3, "heartbeats in %v", elapsed)
	require.GreaterOrEqual(t, slow.Comments(), 1, "heartbeats in %v", elapsed)
	eventually(t, "a heartbeat once idle", func() bool { return busy.Comments() > 0 })
	require.Zero(t, h.Stats().Sent-60, "heartbeats are not counted as sent")
}

// TestLeanReplayAndCatchUp: a lean stream replays from its logs after a
// reconnect (Last-Event-ID), and reads them when its queue overflows
// (CatchUp): every event arrives once, in order.
func TestLeanReplayAndCatchUp(t *testing.T) {
	h := newHub(t, &ssekify.Options{Lean: true, MaxQueueItems: 4, KeepAlive: -1})
	srv := leanServe(t, h, leanSetup{})
	first := srv.open(t, "alice", "", nil)
	mustSend(t, h, "user", "alice", 0)
	ev, err := first.Next(wait)
	require.NoError(t, err)
	require.NoError(t, first.Close())
	eventually(t, "the first stream gone", func() bool { return !h.IsOnline("alice") })
	for i := 1; i <= 3; i++ {
		mustSend(t, h, "user", "alice", i)
	}
	s := srv.open(t, "alice", "", http.Header{"Last-Event-ID": {ev.LastEventID}})
	evs, err := s.Collect(3, wait)
	require.NoError(t, err)
	require.Equal(t, []string{"1", "2", "3"}, datas(evs), "replayed after the reconnect")
	require.EqualValues(t, 1, h.Stats().ReplayHits)

	const burst = 2000
	for i := range burst {
		mustSend(t, h, "all", "", i)
	}
	evs, err = s.Collect(burst, wait)
	require.NoError(t, err)
	for i, ev := range evs {
		require.Equal(t, jsonMarshal(t, i), ev.Data, "event %d", i)
	}
	require.Positive(t, h.Stats().CatchUps, "the burst overflowed the queue of 4")
	require.Zero(t, h.Stats().GapEvents)
}

// TestLeanGoroutines: idle lean streams cost at most one goroutine each
// (the watcher's, where there is one) and the handler path's are gone.
func TestLeanGoroutines(t *testing.T) {
	const n = 200
	h := newHub(t, &ssekify.Options{Lean: true})
	srv := leanServe(t, h, leanSetup{})
	runtime.GC()
	before := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	for range n {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		require.NoError(t, err)
		conns = append(conns, c)
		_, err = c.Write([]byte("GET /sse?user=u HTTP/1.1\r\nHost: x\r\n\r\n"))
		require.NoError(t, err)
	}
	for range n {
		require.NoError(t, srv.registerReturned(t))
	}
	eventually(t, "every stream lean", func() bool { return h.Stats().LeanStreams == n })
	var per float64
	eventually(t, "the handlers' goroutines gone", func() bool {
		per = float64(runtime.NumGoroutine()-before) / n
		return per <= 1
	})
	t.Logf("goroutines per idle lean stream: %.2f", per)
	mustSend(t, h, "all", "", "x")
	eventually(t, "the writers gone after the broadcast", func() bool {
		return float64(runtime.NumGoroutine()-before)/n <= per
	})
}

// errTimeout reports whether err is a network timeout.
func errTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
