package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/routes"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// testTimeouts are short, so that the tests see each of them expire.
var testTimeouts = timeouts{
	header:  3 * time.Second,
	idle:    400 * time.Millisecond,
	body:    400 * time.Millisecond,
	request: 800 * time.Millisecond,
}

// pastTimeouts is longer than idle, body and request together.
const pastTimeouts = 1600 * time.Millisecond

// serveDemo serves the demo's server, built by newServer as run builds it,
// with a hub of opts and timeouts t on a loopback port; it returns the
// server's host:port and the hub.
func serveDemo(t *testing.T, opts *ssekify.Options, tt timeouts) (string, *ssekify.Hub) {
	t.Helper()
	hub, err := ssekify.New(opts)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := newServer(hub, tt)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_ = hub.Shutdown(sctx, ssekify.ShutdownOptions{Grace: -1})
		_ = srv.Close()
		select {
		case <-served:
		case <-time.After(wait):
			t.Error("the server did not stop")
		}
	})
	return ln.Addr().String(), hub
}

// dial opens a raw connection to addr, closed at the end of the test.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, wait)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// isTimeout reports a read that hit its deadline.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestTrickledBodyIsCut: a POST whose body trickles in, one byte every
// 200 ms, is cut at the body's read deadline and answered 408, instead of
// holding its connection and handler for as long as the client likes.
func TestTrickledBodyIsCut(t *testing.T) {
	addr, _ := serveDemo(t, nil, testTimeouts)
	conn := dial(t, addr)
	_, err := io.WriteString(conn, "POST /notify/alice HTTP/1.1\r\nHost: demo\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
	require.NoError(t, err)
	start := time.Now()

	// Read before each write: the server's answer and close are seen
	// before a write could meet a reset. 25 rounds are 5 s; the whole body
	// would take 20 s.
	var answer []byte
	buf := make([]byte, 4096)
	for i := 0; i < 25 && answer == nil; i++ {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(200*time.Millisecond)))
		n, err := conn.Read(buf)
		switch {
		case n > 0:
			answer = append([]byte{}, buf[:n]...)
		case err != nil && !isTimeout(err):
			t.Fatalf("the connection ended after %v without an answer: %v", time.Since(start), err)
		default:
			_, err = conn.Write([]byte{'1'})
			require.NoError(t, err, "the server closed the connection without an answer")
		}
	}
	cut := time.Since(start)
	require.NotNil(t, answer, "the server is still reading the trickled body after %v", cut)
	require.Less(t, cut, testTimeouts.body+time.Second, "cut long after the read deadline")

	// The rest of the answer, up to the server's close. The close may be a
	// reset: a byte trickled in after the deadline is left unread in the
	// server's buffer.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(wait)))
	rest, err := io.ReadAll(conn)
	if err != nil {
		require.ErrorIs(t, err, syscall.ECONNRESET)
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(append(answer, rest...))), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode, "%s", body)
	require.JSONEq(t, `{"error":"body not received in time"}`, string(body))
}

// TestIdleKeepAliveIsClosed: a keep-alive connection that sends no further
// request is closed once IdleTimeout has passed.
func TestIdleKeepAliveIsClosed(t *testing.T) {
	addr, _ := serveDemo(t, nil, testTimeouts)
	conn := dial(t, addr)
	_, err := io.WriteString(conn, "GET /stats HTTP/1.1\r\nHost: demo\r\n\r\n")
	require.NoError(t, err)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(wait)))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, resp.Close, "the connection is not kept alive")

	idle := time.Now()
	require.NoError(t, conn.SetReadDeadline(idle.Add(testTimeouts.idle+2*time.Second)))
	_, err = br.ReadByte()
	held := time.Since(idle)
	require.ErrorIs(t, err, io.EOF, "the idle connection was not closed by the server after %v", held)
	require.Less(t, held, testTimeouts.idle+time.Second, "closed long after IdleTimeout")
}

// postStatus posts body to url and returns the status and the answer.
func postStatus(t *testing.T, c *http.Client, url, body string) (int, string) {
	t.Helper()
	resp, err := c.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func newClient(t *testing.T) *http.Client {
	c := &http.Client{Transport: &http.Transport{}, Timeout: wait}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// TestBodyAboveLimitIs413: a body above routes.MaxBody is answered 413.
func TestBodyAboveLimitIs413(t *testing.T) {
	addr, _ := serveDemo(t, nil, testTimeouts)
	st, answer := postStatus(t, newClient(t), "http://"+addr+"/notify/alice", `"`+strings.Repeat("x", routes.MaxBody)+`"`)
	require.Equal(t, http.StatusRequestEntityTooLarge, st, answer)
	require.Equal(t, `{"error":"http: request body too large"}`, answer)
}

// TestEventAboveMaxPayloadIs413: an event the hub refuses as too large
// (ErrPayloadTooLarge) is answered 413, and reaches no one.
func TestEventAboveMaxPayloadIs413(t *testing.T) {
	addr, hub := serveDemo(t, &ssekify.Options{MaxPayloadBytes: 64}, testTimeouts)
	c := newClient(t)
	st, answer := postStatus(t, c, "http://"+addr+"/notify/alice", `{"text":"`+strings.Repeat("x", 100)+`"}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, st, answer)
	require.Contains(t, answer, "payload too large")
	st, answer = postStatus(t, c, "http://"+addr+"/broadcast", `{"text":"`+strings.Repeat("x", 100)+`"}`)
	require.Equal(t, http.StatusRequestEntityTooLarge, st, answer)
	require.Zero(t, hub.Stats().Sent)
}

// TestInvalidInputIs400: an event the hub refuses as invalid (data that is
// not UTF-8: ErrInvalidEvent) and a body that is not JSON are answered 400.
func TestInvalidInputIs400(t *testing.T) {
	addr, _ := serveDemo(t, nil, testTimeouts)
	c := newClient(t)
	st, answer := postStatus(t, c, "http://"+addr+"/notify/alice", "\"\xff\"")
	require.Equal(t, http.StatusBadRequest, st, answer)
	require.Contains(t, answer, "invalid event")
	st, answer = postStatus(t, c, "http://"+addr+"/broadcast", `{oops`)
	require.Equal(t, http.StatusBadRequest, st, answer)
	require.Equal(t, `{"error":"body is not JSON"}`, answer)
}

// downBroker is a broker whose Redis is unreachable: every Publish fails.
type downBroker struct{}

func (downBroker) Publish(context.Context, string, []byte) error {
	return errors.New("dial tcp 127.0.0.1:6379: connection refused")
}

func (downBroker) Subscribe(ctx context.Context, _ string, _ func([]byte)) error {
	<-ctx.Done()
	return nil
}

func (downBroker) Close() error { return nil }

// TestBrokerDownIs502: a publish whose broker is down is answered 502 (the
// broker is the failed upstream); the streams of this instance still got
// the event.
func TestBrokerDownIs502(t *testing.T) {
	addr, _ := serveDemo(t, &ssekify.Options{Redis: downBroker{}}, testTimeouts)
	c := newClient(t)
	s, err := ssetest.Connect(context.Background(), c, "http://"+addr+"/sse?userId=alice", nil)
	require.NoError(t, err)
	defer s.Close()

	for _, path := range []string{"/broadcast", "/publish-room/global"} {
		st, answer := postStatus(t, c, "http://"+addr+path, `{"text":"down"}`)
		require.Equal(t, http.StatusBadGateway, st, "%s: %s", path, answer)
		require.Contains(t, answer, "broker", path)
		ev, err := s.Next(wait)
		require.NoError(t, err, path)
		require.Contains(t, ev.Data, `"down"`, path)
	}
}

// TestStreamOutlivesTheTimeouts: a stream stays open past the read and
// write deadlines of the other routes and past IdleTimeout, and still gets
// events — on a connection of its own, and on a keep-alive connection that
// served a POST (bounded by those deadlines) just before.
func TestStreamOutlivesTheTimeouts(t *testing.T) {
	addr, hub := serveDemo(t, nil, testTimeouts)

	fresh, err := ssetest.Connect(context.Background(), newClient(t), "http://"+addr+"/sse?userId=alice", nil)
	require.NoError(t, err)
	defer fresh.Close()

	c := newClient(t)
	st, answer := postStatus(t, c, "http://"+addr+"/notify/nobody", `{"text":"first"}`)
	require.Equal(t, http.StatusOK, st, answer)
	var reused bool
	trace := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	})
	after, err := ssetest.Connect(trace, c, "http://"+addr+"/sse?userId=bob", nil)
	require.NoError(t, err)
	defer after.Close()
	require.True(t, reused, "the stream did not reuse the POST's connection")

	// Next waits out the timeouts; a stream that ended returns io.EOF.
	past := time.Now().Add(pastTimeouts)
	for _, s := range []*ssetest.Stream{fresh, after} {
		_, err := s.Next(time.Until(past))
		require.ErrorIs(t, err, ssetest.ErrTimeout, "the stream ended")
	}
	require.EqualValues(t, 2, hub.Stats().Connections)

	for user, s := range map[string]*ssetest.Stream{"alice": fresh, "bob": after} {
		n, err := hub.SendToUser(user, ssekify.Event{Name: "late", Data: map[string]string{"to": user}})
		require.NoError(t, err)
		require.Equal(t, 1, n, user)
		ev, err := s.Next(wait)
		require.NoError(t, err, user)
		require.Equal(t, "late", ev.Type, user)
	}
}
