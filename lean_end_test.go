package ssekify_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ssekify/ssekify"
)

// leanGoneWithin is how soon a lean stream must notice its client's leaving.
const leanGoneWithin = time.Second

// TestLeanClientGone: a lean stream whose client closes, resets or ends
// its TLS session is removed within a second, as a normal end, and its
// room forgets it.
func TestLeanClientGone(t *testing.T) {
	hide := func(ln net.Listener) net.Listener { return hiddenFds{ln} }
	for _, c := range []struct {
		name string
		tls  bool
		wrap func(net.Listener) net.Listener
		quit func(net.Conn)
	}{
		{name: "close", quit: func(c net.Conn) { _ = c.Close() }},
		{name: "reset", quit: func(c net.Conn) { _ = c.(*net.TCPConn).SetLinger(0); _ = c.Close() }},
		{name: "half close", quit: func(c net.Conn) { _ = c.(*net.TCPConn).CloseWrite() }},
		{name: "TLS close", tls: true, quit: func(c net.Conn) { _ = c.Close() }},
		{name: "no descriptor, close", wrap: hide, quit: func(c net.Conn) { _ = c.Close() }},
		{name: "no descriptor, TLS reset", tls: true, wrap: hide, quit: func(c net.Conn) {
			_ = c.(*tls.Conn).NetConn().(*net.TCPConn).SetLinger(0)
			_ = c.(*tls.Conn).NetConn().Close()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			end := newEnds()
			h := newHub(t, &ssekify.Options{Lean: true, OnDisconnect: end.hook})
			srv := leanServe(t, h, leanSetup{tls: c.tls, wrap: c.wrap})
			conn := leanDial(t, srv, c.tls, "/sse?user=alice&rooms=lobby")
			require.NoError(t, srv.registerReturned(t))
			require.EqualValues(t, 1, h.Stats().LeanStreams)
			watcher := "(*poller).run" // Linux, a socket with a descriptor
			if c.wrap != nil || runtime.GOOS != "linux" {
				watcher = "(*Conn).readUntilGone"
			}
			eventually(t, "the stream's watcher "+watcher, func() bool { return strings.Contains(goroutines(), "ssekify."+watcher) })

			left := time.Now()
			c.quit(conn)
			at, err := end.next(t)
			require.NoError(t, err, "a client's leaving is a normal end")
			require.Less(t, at.Sub(left), leanGoneWithin, "noticed after %v", at.Sub(left))
			require.False(t, h.IsOnline("alice"))
			st := h.Stats()
			require.Zero(t, st.Connections)
			require.Zero(t, st.LeanStreams)
			require.Zero(t, st.Rooms)
			n, err := h.SendToRoom("lobby", ssekify.Event{Data: 1})
			require.NoError(t, err)
			require.Zero(t, n)
		})
	}
}

// goroutines returns the stacks of every goroutine.
func goroutines() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// hiddenFds hides the descriptors of its connections (as a listener
// wrapper may): a lean stream over one is watched by a reader goroutine.
type hiddenFds struct{ net.Listener }

func (l hiddenFds) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return struct{ net.Conn }{c}, err
}

// leanDial opens a stream over a raw connection (TLS with tls) and reads
// its response head; the connection is closed when the test ends.
func leanDial(t *testing.T, srv *leanServer, useTLS bool, path string) net.Conn {
	t.Helper()
	addr := srv.Listener.Addr().String()
	var conn net.Conn
	var err error
	if useTLS {
		cfg := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		conn, err = tls.Dial("tcp", addr, cfg)
	} else {
		conn, err = net.Dial("tcp", addr)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(wait))
	_, err = fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n", path)
	require.NoError(t, err)
	buf := make([]byte, 4096)
	var got strings.Builder
	for !strings.Contains(got.String(), "\r\n\r\n") {
		n, err := conn.Read(buf)
		require.NoError(t, err)
		got.Write(buf[:n])
	}
	require.True(t, strings.HasPrefix(got.String(), "HTTP/1.1 200 OK\r\n"), got.String())
	_ = conn.SetDeadline(time.Time{})
	return conn
}

// leanStalledServer serves lean streams over sockets with small kernel
// send buffers, so that a client that never reads stalls its writer soon.
func leanStalledServer(t *testing.T, h *ssekify.Hub) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(sseHandler(h, nil))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(func() { h.CloseAll(); srv.Close() })
	return srv
}

// leanFill sends events of 64 KiB to the stalled user until its writer is
// blocked: the sent count stops moving short of what was sent.
func leanFill(t *testing.T, h *ssekify.Hub, events int) {
	t.Helper()
	payload := []byte(`"` + strings.Repeat("x", 64<<10) + `"`)
	for range events {
		_, err := h.SendToUser("stalled", ssekify.Event{Data: payload})
		require.NoError(t, err)
	}
}

// TestLeanStalledClient: a lean stream's peer that never reads is cut by
// the write deadline (a timeout, reported), by the Disconnect policy
// (ErrSlowClient), and by a close, which gives a blocked write 250ms
// rather than WriteTimeout.
func TestLeanStalledClient(t *testing.T) {
	big := ssekify.Options{Lean: true, KeepAlive: -1, MaxQueueBytes: 1 << 30, MaxQueueItems: 1 << 20, MaxPayloadBytes: 1 << 20}
	t.Run("write deadline", func(t *testing.T) {
		end := newEnds()
		log := &errorLog{}
		o := big
		o.WriteTimeout, o.OnDisconnect, o.OnError = 300*time.Millisecond, end.hook, log.hook
		h := newHub(t, &o)
		dialStalled(t, leanStalledServer(t, h))
		eventually(t, "stalled client registered", func() bool { return h.Stats().LeanStreams == 1 })
		start := time.Now()
		leanFill(t, h, 40)
		at, err := end.next(t)
		require.True(t, errTimeout(err), "want a timeout, got %v", err)
		require.Less(t, at.Sub(start), wait/2, "cut after %v", at.Sub(start))
		require.Equal(t, []string{ssekify.CodeWrite}, log.codes())
		require.Zero(t, h.Stats().LeanStreams)
	})
	t.Run("disconnect policy", func(t *testing.T) {
		end := newEnds()
		h := newHub(t, &ssekify.Options{Lean: true, KeepAlive: -1, DropPolicy: ssekify.Disconnect,
			MaxQueueItems: 4, WriteTimeout: time.Minute, OnDisconnect: end.hook})
		dialStalled(t, leanStalledServer(t, h))
		eventually(t, "stalled client registered", func() bool { return h.Stats().LeanStreams == 1 })
		payload := []byte(`"` + strings.Repeat("x", 16<<10) + `"`)
		for i := 0; h.IsOnline("stalled"); i++ {
			require.Less(t, i, 10000, "the stalled stream was never disconnected")
			_, err := h.SendToUser("stalled", ssekify.Event{Data: payload})
			require.NoError(t, err)
		}
		_, err := end.next(t)
		require.ErrorIs(t, err, ssekify.ErrSlowClient)
		require.EqualValues(t, 1, h.Stats().DisconnectedByBackpressure)
		require.Zero(t, h.Stats().LeanStreams)
	})
	t.Run("close cuts a blocked write", func(t *testing.T) {
		end := newEnds()
		o := big
		o.WriteTimeout, o.OnDisconnect = 2*time.Minute, end.hook
		h := newHub(t, &o)
		dialStalled(t, leanStalledServer(t, h))
		eventually(t, "stalled client registered", func() bool { return h.Stats().LeanStreams == 1 })
		const events = 40
		leanFill(t, h, events)
		last := int64(-1)
		for i := 0; ; i++ {
			require.Less(t, i, 50, "the written count never settled")
			sent := h.Stats().Sent
			if sent == last {
				require.Less(t, sent, int64(events), "the client that never reads got everything")
				break
			}
			last = sent
			time.Sleep(100 * time.Millisecond)
		}
		closed := time.Now()
		require.Equal(t, 1, h.CloseUser("stalled"))
		at, err := end.next(t)
		require.NoError(t, err, "a close by the hub is a normal end")
		require.Less(t, at.Sub(closed), 2*time.Second, "the blocked write held the stream %v after its close", at.Sub(closed))
	})
}

// TestLeanShutdown: Shutdown announces itself to lean streams, closes
// them after the grace period, waits for their writers and stops the
// heartbeat wheel: no goroutine outlives it, and every client saw the
// announcement, then a clean end.
func TestLeanShutdown(t *testing.T) {
	n := 500
	if raceEnabled {
		n = 200
	}
	ignore := goleak.IgnoreCurrent()
	h, err := ssekify.New(&ssekify.Options{Lean: true, KeepAlive: 50 * time.Millisecond})
	require.NoError(t, err)
	srv := httptest.NewServer(sseHandler(h, nil))
	clients := lcOpenMany(t, h, srv, n)
	eventually(t, "every stream lean", func() bool { return h.Stats().LeanStreams == int64(n) })

	ctx, cancel := context.WithTimeout(context.Background(), lcManyWait)
	defer cancel()
	start := time.Now()
	require.NoError(t, h.Shutdown(ctx, ssekify.ShutdownOptions{Grace: 200 * time.Millisecond}))
	require.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond, "Shutdown returned before the grace period")
	st := h.Stats()
	require.Zero(t, st.Connections)
	require.Zero(t, st.LeanStreams)
	for i, c := range clients {
		select {
		case <-c.done:
		case <-time.After(wait):
			t.Fatalf("stream %d did not end", i)
		}
		require.ErrorIs(t, c.err, io.EOF, "stream %d", i)
		require.NotEmpty(t, c.events, "stream %d", i)
		require.Equal(t, ssekify.DefaultShutdownEvent, c.events[len(c.events)-1].Type, "stream %d", i)
	}
	srv.Close()
	goleak.VerifyNone(t, ignore)
}
