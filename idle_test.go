package ssekify_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// An idle stream (no event for longer than WriteTimeout, heartbeats only
// every KeepAlive) must stay open: the write deadline bounds a write in
// progress, not the silence between writes. On HTTP/2 a pending write
// deadline resets the stream when it expires even with no write under way,
// and so would a server's own WriteTimeout were it left in force.

// idleCase is one stream of an idle test: its protocol, the hub's options
// (hooks are added) and the http.Server's timeouts.
type idleCase struct {
	name         string
	h2           bool // HTTP/2 over TLS; else HTTP/1.1 in clear
	opts         ssekify.Options
	writeTimeout time.Duration // http.Server.WriteTimeout
	readTimeout  time.Duration // http.Server.ReadTimeout
}

// idleStream is an open idle case: its own hub and server, the stream read
// by ssetest, and the server's count of connections and stream ends.
type idleStream struct {
	idleCase
	hub    *ssekify.Hub
	s      *ssetest.Stream
	opened time.Time

	tcpConns atomic.Int64 // connections the server accepted
	requests atomic.Int64 // requests the handler got
	connects atomic.Int64 // OnConnect calls

	mu   sync.Mutex
	ends []string // OnDisconnect calls: when, and why
}

// idleUser is the user of every idle stream (each has its own hub).
const idleUser = "idle"

// openIdle starts the case's hub and server and opens its stream, checking
// that it speaks the case's protocol. Everything is closed when t ends.
func openIdle(t *testing.T, c idleCase) *idleStream {
	t.Helper()
	is := &idleStream{idleCase: c}
	opts := c.opts
	opts.OnConnect = func(ssekify.ConnInfo) { is.connects.Add(1) }
	opts.OnDisconnect = func(_ ssekify.ConnInfo, err error) {
		is.mu.Lock()
		defer is.mu.Unlock()
		is.ends = append(is.ends, fmt.Sprintf("ended %v after it opened, err = %v",
			time.Since(is.opened).Round(10*time.Millisecond), err))
	}
	is.hub = newHub(t, &opts)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		is.requests.Add(1)
		_ = is.hub.Register(w, r, r.URL.Query().Get("user"), nil)
	}))
	srv.Config.WriteTimeout = c.writeTimeout
	srv.Config.ReadTimeout = c.readTimeout
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			is.tcpConns.Add(1)
		}
	}
	if c.h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		is.hub.CloseAll()
		srv.Close()
	})
	client := srv.Client()
	if c.h2 {
		client.Transport.(*http.Transport).ForceAttemptHTTP2 = true
	}

	is.opened = time.Now()
	s, err := ssetest.Connect(context.Background(), client, srv.URL+"/sse?user="+idleUser, nil)
	require.NoError(t, err, c.name)
	t.Cleanup(func() { _ = s.Close() })
	is.s = s
	wantMajor := 1
	if c.h2 {
		wantMajor = 2
	}
	require.Equal(t, wantMajor, s.Resp.ProtoMajor, "%s: protocol %s", c.name, s.Resp.Proto)
	eventually(t, c.name+" registered", func() bool { return is.hub.Stats().Connections == 1 })
	return is
}

// serverEnds returns what OnDisconnect reported.
func (is *idleStream) serverEnds() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]string(nil), is.ends...)
}

// check proves the stream idle until `until`: no event and no end before
// it, at least heartbeats comments (": ping"), then an event sent after the
// silence arrives on the same stream, over the same connection, with no
// second request.
func (is *idleStream) check(t *testing.T, until time.Time, heartbeats int) {
	t.Helper()
	ev, err := is.s.Next(time.Until(until))
	require.ErrorIs(t, err, ssetest.ErrTimeout,
		"%s: the stream did not stay open and silent for %v: got event %+v, err %v; the server: %q",
		is.name, until.Sub(is.opened).Round(10*time.Millisecond), ev, err, is.serverEnds())
	require.Empty(t, is.serverEnds(), "%s: the server ended the stream during the silence", is.name)
	require.GreaterOrEqual(t, is.s.Comments(), heartbeats,
		"%s: heartbeats received in %v of silence", is.name, time.Since(is.opened).Round(10*time.Millisecond))

	n, err := is.hub.SendToUser(idleUser, ssekify.Event{Name: "after-silence", Data: is.name})
	require.NoError(t, err)
	require.Equal(t, 1, n, "%s: connections the event was delivered to", is.name)
	ev, err = is.s.Next(wait)
	require.NoError(t, err, "%s: the event after the silence did not arrive; the server: %q", is.name, is.serverEnds())
	require.Equal(t, "after-silence", ev.Type)
	require.Equal(t, jsonMarshal(t, is.name), ev.Data)

	require.EqualValues(t, 1, is.requests.Load(), "%s: requests (a reconnect makes a second one)", is.name)
	require.EqualValues(t, 1, is.connects.Load(), "%s: OnConnect calls", is.name)
	require.EqualValues(t, 1, is.tcpConns.Load(), "%s: connections the server accepted", is.name)
	require.EqualValues(t, 1, is.hub.Stats().Connections, "%s: the hub's streams", is.name)
	require.Empty(t, is.serverEnds(), "%s: the server ended the stream", is.name)
}

// runIdle opens every case at once, keeps them all silent for silence, then
// checks each in a subtest (the first waits out the silence, the others are
// checked at once when it ends).
func runIdle(t *testing.T, silence time.Duration, heartbeats int, cases ...idleCase) {
	t.Helper()
	streams := make([]*idleStream, len(cases))
	for i, c := range cases {
		streams[i] = openIdle(t, c)
	}
	until := time.Now().Add(silence)
	for _, is := range streams {
		t.Run(is.name, func(t *testing.T) { is.check(t, until, heartbeats) })
	}
}

// TestIdleStreamScaled: with WriteTimeout 300ms and KeepAlive 500ms, an
// HTTP/2 and an HTTP/1.1 stream stay open through 2.5 KeepAlive (more than
// 4 WriteTimeout) of silence, get their heartbeats, then an event.
func TestIdleStreamScaled(t *testing.T) {
	opts := ssekify.Options{WriteTimeout: 300 * time.Millisecond, KeepAlive: 500 * time.Millisecond}
	silence := 2*opts.KeepAlive + opts.KeepAlive/2
	require.Greater(t, silence, 3*opts.WriteTimeout)
	runIdle(t, silence, 2,
		idleCase{name: "h2", h2: true, opts: opts},
		idleCase{name: "h1", opts: opts},
	)
}

// TestIdleStreamDefaults is TestIdleStreamScaled at the hub's real defaults
// (KeepAlive 15s, WriteTimeout 10s): 31s of silence, two heartbeats, then
// an event, on both protocols. Also behind an http.Server whose
// WriteTimeout is 1s (the hub lifts the server's write deadline on the
// stream), and one whose ReadTimeout is 1s (net/http itself lifts it
// before its background read of a request without a body, and Register
// lifts it too). Every stream waits out the same silence, in parallel with
// the other slow tests.
func TestIdleStreamDefaults(t *testing.T) {
	t.Parallel()
	require.Greater(t, ssekify.DefaultKeepAlive, ssekify.DefaultWriteTimeout,
		"the silence between two heartbeats outlasts the write timeout")
	silence := 2*ssekify.DefaultKeepAlive + time.Second
	const serverTimeout = time.Second
	runIdle(t, silence, 2,
		idleCase{name: "h2", h2: true},
		idleCase{name: "h1"},
		idleCase{name: "h2 server write timeout", h2: true, writeTimeout: serverTimeout},
		idleCase{name: "h1 server write timeout", writeTimeout: serverTimeout},
		idleCase{name: "h2 server read timeout", h2: true, readTimeout: serverTimeout},
		idleCase{name: "h1 server read timeout", readTimeout: serverTimeout},
	)
}
