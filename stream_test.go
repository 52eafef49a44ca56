package ssekify_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

func TestStreamHeadersAndRetry(t *testing.T) {
	h := newHub(t, &ssekify.Options{
		Retry:   1500 * time.Millisecond,
		Headers: http.Header{"Access-Control-Allow-Origin": {"*"}, "Content-Type": {"text/plain"}},
	})
	srv := serve(t, h, &ssekify.RegisterOptions{Headers: http.Header{"X-Extra": {"1"}, "Cache-Control": {"max-age=60"}}})
	s := connect(t, srv, "alice", "", nil)

	hdr := s.Resp.Header
	require.Equal(t, "text/event-stream; charset=utf-8", hdr.Get("Content-Type"))
	require.Equal(t, "no-cache, no-transform", hdr.Get("Cache-Control"))
	require.Equal(t, "no", hdr.Get("X-Accel-Buffering"))
	require.Equal(t, "*", hdr.Get("Access-Control-Allow-Origin"))
	require.Equal(t, "1", hdr.Get("X-Extra"))
	require.Equal(t, 200, s.Resp.StatusCode)

	_, err := h.SendToUser("alice", ssekify.Event{Name: "hello", Data: map[string]int{"n": 1}})
	require.NoError(t, err)
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, "hello", ev.Type)
	require.JSONEq(t, `{"n":1}`, stripAuto(t, ev.Data))
	retry, ok := s.Retry()
	require.True(t, ok)
	require.Equal(t, 1500, retry)
}

// stripAuto removes the fields the hub adds by default (timestamp) so tests
// can compare payloads.
func stripAuto(t testing.TB, data string) string {
	t.Helper()
	var m map[string]any
	if err := jsonUnmarshal(data, &m); err != nil {
		return data
	}
	delete(m, "timestamp")
	return jsonMarshal(t, m)
}

func TestTargeting(t *testing.T) {
	h := newHub(t, nil)
	srv := serve(t, h, nil)
	a1 := connect(t, srv, "alice", "red", nil)
	a2 := connect(t, srv, "alice", "blue", nil)
	b := connect(t, srv, "bob", "red,blue", nil)
	c := connect(t, srv, "carol", "", nil)

	require.Equal(t, 2, h.UserConnections("alice"))
	require.True(t, h.IsOnline("bob"))
	require.False(t, h.IsOnline("dave"))

	n, err := h.SendToUser("alice", ssekify.Event{Name: "u", Data: "to-alice"})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = h.SendToRoom("red", ssekify.Event{Name: "r", Data: "to-red"})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = h.SendToAll(ssekify.Event{Name: "a", Data: "to-all"})
	require.NoError(t, err)
	require.Equal(t, 4, n)
	n, err = h.SendToUser("dave", ssekify.Event{Data: "nobody"})
	require.NoError(t, err)
	require.Equal(t, 0, n)

	expect := map[*ssetest.Stream][]string{
		a1: {`"to-alice"`, `"to-red"`, `"to-all"`},
		a2: {`"to-alice"`, `"to-all"`},
		b:  {`"to-red"`, `"to-all"`},
		c:  {`"to-all"`},
	}
	for s, want := range expect {
		evs, err := s.Collect(len(want), wait)
		require.NoError(t, err)
		var got []string
		for _, e := range evs {
			got = append(got, e.Data)
		}
		require.Equal(t, want, got)
	}
	st := h.Stats()
	require.EqualValues(t, 4, st.Connections)
	require.EqualValues(t, 3, st.Users)
	require.EqualValues(t, 2, st.Rooms)
	eventually(t, "sent count", func() bool { return h.Stats().Sent == 8 })
}

func TestRoomsThroughConnHandleAndHub(t *testing.T) {
	h := newHub(t, nil)
	conns := make(chan *ssekify.Conn, 1)
	srv := serve(t, h, &ssekify.RegisterOptions{OnOpen: func(c *ssekify.Conn) { conns <- c }})
	s := connect(t, srv, "alice", "", nil)
	c := <-conns
	require.Equal(t, "alice", c.UserID())
	require.NotEmpty(t, c.ID())

	require.NoError(t, c.Join("lobby"))
	require.ErrorIs(t, c.Join(""), ssekify.ErrEmptyTarget)
	require.ElementsMatch(t, []string{"lobby"}, c.Rooms())
	n, _ := h.SendToRoom("lobby", ssekify.Event{Data: 1})
	require.Equal(t, 1, n)
	c.Leave("lobby")
	n, _ = h.SendToRoom("lobby", ssekify.Event{Data: 2})
	require.Equal(t, 0, n)
	require.EqualValues(t, 0, h.Stats().Rooms)

	n, err := h.JoinRoom("alice", "vip")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, _ = h.SendToRoom("vip", ssekify.Event{Data: 3})
	require.Equal(t, 1, n)
	n, err = h.LeaveRoom("alice", "vip")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, _ = h.SendToRoom("vip", ssekify.Event{Data: 4})
	require.Equal(t, 0, n)
	_, err = h.JoinRoom("", "vip")
	require.ErrorIs(t, err, ssekify.ErrEmptyTarget)

	evs, err := s.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, "1", evs[0].Data)
	require.Equal(t, "3", evs[1].Data)
}

func TestCloseUserAndCloseAll(t *testing.T) {
	var mu sync.Mutex
	var ended []error
	h := newHub(t, &ssekify.Options{OnDisconnect: func(_ ssekify.ConnInfo, err error) {
		mu.Lock()
		ended = append(ended, err)
		mu.Unlock()
	}})
	srv := serve(t, h, nil)
	a := connect(t, srv, "alice", "", nil)
	b := connect(t, srv, "bob", "", nil)

	require.Equal(t, 0, h.CloseUser(""), "an empty user id closes nobody")
	require.Equal(t, 1, h.CloseUser("alice"))
	_, err := a.Next(wait)
	require.ErrorIs(t, err, io.EOF)
	require.False(t, h.IsOnline("alice"))
	require.True(t, h.IsOnline("bob"))

	require.Equal(t, 1, h.CloseAll())
	_, err = b.Next(wait)
	require.ErrorIs(t, err, io.EOF)
	eventually(t, "both disconnects", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ended) == 2
	})
	require.Equal(t, []error{nil, nil}, ended, "a close by the hub is a normal end")
	require.EqualValues(t, 0, h.Stats().Connections)
	require.EqualValues(t, 0, h.Stats().Users)
}

func TestClientGoneIsRemoved(t *testing.T) {
	h := newHub(t, nil)
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "room", nil)
	require.True(t, h.IsOnline("alice"))
	require.NoError(t, s.Close())
	eventually(t, "removal", func() bool { return !h.IsOnline("alice") })
	st := h.Stats()
	require.EqualValues(t, 0, st.Connections)
	require.EqualValues(t, 0, st.Rooms)
	n, _ := h.SendToRoom("room", ssekify.Event{Data: 1})
	require.Equal(t, 0, n)
}

func TestHeartbeat(t *testing.T) {
	h := newHub(t, &ssekify.Options{KeepAlive: 30 * time.Millisecond})
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	eventually(t, "heartbeats", func() bool { return s.Comments() >= 3 })
	require.EqualValues(t, 0, h.Stats().Sent, "heartbeats are not counted as sent")

	off := newHub(t, &ssekify.Options{KeepAlive: -1})
	s2 := connect(t, serve(t, off, &ssekify.RegisterOptions{}), "bob", "", nil)
	time.Sleep(100 * time.Millisecond)
	require.Zero(t, s2.Comments())
}

// TestNoHeartbeatWhileBusy: a stream that wrote within the interval gets
// no ": ping" (writes do not touch the timer; it checks the last write).
func TestNoHeartbeatWhileBusy(t *testing.T) {
	h := newHub(t, &ssekify.Options{KeepAlive: 300 * time.Millisecond})
	s := connect(t, serve(t, h, nil), "alice", "", nil)
	for i := range 90 { // ~900ms of events, 10ms apart
		_, err := h.SendToUser("alice", ssekify.Event{Data: i})
		require.NoError(t, err)
		time.Sleep(10 * time.Millisecond)
	}
	_, err := s.Collect(90, wait)
	require.NoError(t, err)
	require.Zero(t, s.Comments(), "a busy stream got a heartbeat")
	eventually(t, "a heartbeat once idle", func() bool { return s.Comments() > 0 })
}

func TestRetryDisabled(t *testing.T) {
	h := newHub(t, &ssekify.Options{Retry: -1})
	s := connect(t, serve(t, h, nil), "alice", "", nil)
	_, _ = h.SendToUser("alice", ssekify.Event{Data: 1})
	_, err := s.Next(wait)
	require.NoError(t, err)
	_, ok := s.Retry()
	require.False(t, ok)
}

// TestHTTP2 streams over TLS with HTTP/2, where Connection is illegal.
func TestHTTP2(t *testing.T) {
	h := newHub(t, nil)
	srv := httptest.NewUnstartedServer(sseHandler(h, nil))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() { h.CloseAll(); srv.Close() })

	s, err := ssetest.Connect(context.Background(), srv.Client(), srv.URL+"/sse?user=alice", nil)
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, 2, s.Resp.ProtoMajor)
	require.Empty(t, s.Resp.Header.Get("Connection"))
	for i := range 3 {
		_, err := h.SendToUser("alice", ssekify.Event{ID: "h2-" + string(rune('a'+i)), Data: i})
		require.NoError(t, err)
	}
	evs, err := s.Collect(3, wait)
	require.NoError(t, err)
	require.Equal(t, "h2-c", evs[2].LastEventID)
}

// TestServerWriteTimeout: a server with WriteTimeout 1s still streams for 3s.
func TestServerWriteTimeout(t *testing.T) {
	h := newHub(t, &ssekify.Options{KeepAlive: 200 * time.Millisecond})
	srv := httptest.NewUnstartedServer(sseHandler(h, nil))
	srv.Config.WriteTimeout = time.Second
	srv.Start()
	t.Cleanup(func() { h.CloseAll(); srv.Close() })
	s := connect(t, srv, "alice", "", nil)

	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		_, err := h.SendToUser("alice", ssekify.Event{Data: i})
		require.NoError(t, err)
		ev, err := s.Next(wait)
		require.NoError(t, err, "stream ended after %v", time.Until(deadline))
		require.Equal(t, jsonMarshal(t, i), ev.Data)
		time.Sleep(100 * time.Millisecond)
	}
}

// wrapped is middleware's ResponseWriter: it hides Flush but can Unwrap.
type wrapped struct {
	http.ResponseWriter
	status int
}

func (w *wrapped) WriteHeader(code int)        { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// opaque hides everything: streaming is impossible through it.
type opaque struct{ w http.ResponseWriter }

func (o opaque) Header() http.Header         { return o.w.Header() }
func (o opaque) Write(b []byte) (int, error) { return o.w.Write(b) }
func (o opaque) WriteHeader(code int)        { o.w.WriteHeader(code) }

func TestMiddlewareWrappedWriter(t *testing.T) {
	h := newHub(t, nil)
	mw := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&wrapped{ResponseWriter: w}, r)
		})
	}
	srv := httptest.NewServer(mw(sseHandler(h, nil)))
	t.Cleanup(func() { h.CloseAll(); srv.Close() })
	s := connect(t, srv, "alice", "", nil)
	_, _ = h.SendToUser("alice", ssekify.Event{Data: "through middleware"})
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, `"through middleware"`, ev.Data)
}

func TestNoStreaming(t *testing.T) {
	log := &errorLog{}
	h := newHub(t, &ssekify.Options{OnError: log.hook})
	var regErr error
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		regErr = h.Register(opaque{w}, r, "alice", nil)
	}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.ErrorIs(t, regErr, ssekify.ErrNoStreaming)
	require.ErrorIs(t, regErr, http.ErrNotSupported)
	require.Equal(t, []string{ssekify.CodeNoStreaming}, log.codes())
}

func TestRegisterRejects(t *testing.T) {
	log := &errorLog{}
	h := newHub(t, &ssekify.Options{OnError: log.hook})
	srv := serve(t, h, nil)
	for _, path := range []string{"/sse", "/sse?user=alice&rooms=a,,b"} {
		resp, err := srv.Client().Get(srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, path)
	}
	require.Equal(t, []string{ssekify.CodeEmptyTarget, ssekify.CodeEmptyTarget}, log.codes())
	require.EqualValues(t, 0, h.Stats().Connections)

	h.StopAccepting()
	resp, err := srv.Client().Get(srv.URL + "/sse?user=alice")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}

// TestRawHTTP11 checks the exact bytes of a stream over a raw connection.
func TestRawHTTP11(t *testing.T) {
	h := newHub(t, &ssekify.Options{Retry: time.Second, KeepAlive: -1})
	srv := serve(t, h, nil)
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("GET /sse?user=alice HTTP/1.1\r\nHost: x\r\n\r\n"))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, "keep-alive", resp.Header.Get("Connection"))
	_, err = h.SendToUser("alice", ssekify.Event{ID: "1", Name: "n", Data: []byte("a\nb")})
	require.NoError(t, err)
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	// The opening names the stream's start position (an id line without
	// data), then the event.
	want := "retry: 1000\n\n" + string(ssekify.AppendToken([]byte("id: "), ssekify.Epoch(h), 0)) + "\n\n" +
		"id: 1\nevent: n\ndata: a\ndata: b\n\n"
	got := make([]byte, len(want))
	_, err = io.ReadFull(resp.Body, got)
	require.NoError(t, err)
	require.Equal(t, want, string(got))
}
