package ssekify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// TestRegisterBounds: a user id, room name or room list beyond its bound is
// answered 400 and nothing of it is kept; other streams go on.
func TestRegisterBounds(t *testing.T) {
	log := &errorLog{}
	h := newHub(t, &ssekify.Options{KeepAlive: -1, OnError: log.hook})
	srv := serve(t, h, nil)
	ok := connect(t, srv, "ok", "", nil)

	many := make([]string, ssekify.MaxRoomsPerStream+1)
	for i := range many {
		many[i] = "r" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + strings.Repeat("y", i)
	}
	for name, q := range map[string]url.Values{
		"user id": {"user": {strings.Repeat("u", ssekify.MaxUserIDBytes+1)}},
		"room":    {"user": {"bob"}, "rooms": {strings.Repeat("r", ssekify.MaxRoomBytes+1)}},
		"rooms":   {"user": {"bob"}, "rooms": {strings.Join(many[:ssekify.MaxRoomsPerStream+1], ",")}},
	} {
		resp, err := srv.Client().Get(srv.URL + "/sse?" + q.Encode())
		require.NoError(t, err, name)
		resp.Body.Close()
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
	}
	st := h.Stats()
	require.EqualValues(t, 1, st.Users)
	require.EqualValues(t, 0, st.Rooms)
	require.Equal(t, []string{"TOO_LONG", "TOO_LONG", "TOO_LONG"}, log.codes())

	// At the bound exactly, all is well.
	edge := strings.Repeat("u", ssekify.MaxUserIDBytes)
	s := connect(t, srv, edge, strings.Repeat("r", ssekify.MaxRoomBytes), nil)
	eventually(t, "edge user", func() bool { return h.IsOnline(edge) })
	_, err := h.JoinRoom(edge, strings.Repeat("r", ssekify.MaxRoomBytes+1))
	require.ErrorIs(t, err, ssekify.ErrTooLong)

	_, err = h.SendToAll(ssekify.Event{Data: "still fine"})
	require.NoError(t, err)
	ev, err := ok.Next(wait)
	require.NoError(t, err)
	require.Equal(t, `"still fine"`, ev.Data)
	ev, err = s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, `"still fine"`, ev.Data)
}

// TestConnJoinBound: a stream can not join more than MaxRoomsPerStream rooms.
func TestConnJoinBound(t *testing.T) {
	joined := make(chan error, 1)
	h := newHub(t, &ssekify.Options{KeepAlive: -1})
	srv := serve(t, h, &ssekify.RegisterOptions{OnOpen: func(c *ssekify.Conn) {
		var err error
		for i := 0; i <= ssekify.MaxRoomsPerStream && err == nil; i++ {
			err = c.Join("room-" + strconv.Itoa(i))
		}
		joined <- err
	}})
	connect(t, srv, "alice", "", nil)
	select {
	case err := <-joined:
		require.ErrorIs(t, err, ssekify.ErrTooLong)
	case <-time.After(wait):
		t.Fatal("OnOpen did not run")
	}
	require.EqualValues(t, ssekify.MaxRoomsPerStream, h.Stats().Rooms)
}

// TestHeaderKeysCanonical: user headers under any case never replace or
// double the SSE headers; other headers are sent once, canonicalized.
func TestHeaderKeysCanonical(t *testing.T) {
	h := newHub(t, &ssekify.Options{
		KeepAlive: -1,
		Headers:   http.Header{"content-type": {"text/plain"}, "x-hub": {"1"}, "X-Both": {"hub"}},
	})
	inner := sseHandler(h, &ssekify.RegisterOptions{Headers: http.Header{
		"cache-control": {"max-age=60"}, "x-accel-buffering": {"yes"}, "connection": {"close"},
		"x-stream": {"2"}, "x-both": {"stream"},
	}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header()["content-type"] = []string{"application/json"} // a middleware, bypassing Set
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { h.CloseAll(); srv.Close() })
	resp, err := srv.Client().Get(srv.URL + "/sse?user=a")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, []string{"text/event-stream; charset=utf-8"}, resp.Header.Values("Content-Type"))
	require.Equal(t, []string{"no-cache, no-transform"}, resp.Header.Values("Cache-Control"))
	require.Equal(t, []string{"no"}, resp.Header.Values("X-Accel-Buffering"))
	require.Equal(t, []string{"keep-alive"}, resp.Header.Values("Connection"))
	require.Equal(t, []string{"1"}, resp.Header.Values("X-Hub"))
	require.Equal(t, []string{"2"}, resp.Header.Values("X-Stream"))
	require.Equal(t, []string{"stream"}, resp.Header.Values("X-Both"))
}

// TestDefaultPayloadFitsQueue: at the default options the largest event
// allowed takes at most a quarter of a queue, so bursts of such events never
// make a healthy stream drop frames or disconnect.
func TestDefaultPayloadFitsQueue(t *testing.T) {
	_, err := ssekify.New(&ssekify.Options{MaxQueueBytes: 100 << 10, MaxPayloadBytes: 64 << 10})
	require.ErrorIs(t, err, ssekify.ErrInvalidOptions)

	log := &errorLog{}
	h := newHub(t, &ssekify.Options{KeepAlive: -1, OnError: log.hook})
	big := `"` + strings.Repeat("x", ssekify.DefaultMaxQueueBytes/4-2) + `"`
	_, err = h.SendToAll(ssekify.Event{Data: []byte(big + " ")})
	require.ErrorIs(t, err, ssekify.ErrPayloadTooLarge, "a payload above a quarter of the queue is refused")

	for _, policy := range []ssekify.DropPolicy{ssekify.DropOldest, ssekify.Disconnect} {
		srv := serve(t, h, &ssekify.RegisterOptions{DropPolicy: policy, SetDropPolicy: true})
		user := "u-" + policy.String()
		s := connect(t, srv, user, "", nil)
		eventually(t, "registered", func() bool { return h.IsOnline(user) })
		// Small events queued back to back, then three of the largest:
		// everything fits the default queue whatever the writer did.
		for i := 0; i < 3; i++ {
			for j := 0; j < 20; j++ {
				_, err := h.SendToUser(user, ssekify.Event{Data: "small"})
				require.NoError(t, err)
			}
			_, err := h.SendToUser(user, ssekify.Event{Data: json.RawMessage(big)})
			require.NoError(t, err)
		}
		evs, err := s.Collect(63, wait)
		require.NoError(t, err, policy.String())
		require.Len(t, evs[62].Data, len(big))
	}
	st := h.Stats()
	require.Zero(t, st.DroppedOldest)
	require.Zero(t, st.DisconnectedByBackpressure)
}

// TestErrorCodeFallback: an error that matches no sentinel is not reported
// as a write error.
func TestErrorCodeFallback(t *testing.T) {
	log := &errorLog{}
	h := newHub(t, &ssekify.Options{KeepAlive: -1, OnError: log.hook})
	srv := serve(t, h, &ssekify.RegisterOptions{MaxQueueItems: -1})
	resp, err := srv.Client().Get(srv.URL + "/sse?user=a")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Equal(t, []string{"INVALID_OPTIONS"}, log.codes())
}

// noDeadlineWriter hides every optional interface of the ResponseWriter but
// Flush: the hub can not set write deadlines through it, so a write to a
// client that does not read can not be cut.
type noDeadlineWriter struct{ w http.ResponseWriter }

func (n noDeadlineWriter) Header() http.Header         { return n.w.Header() }
func (n noDeadlineWriter) Write(p []byte) (int, error) { return n.w.Write(p) }
func (n noDeadlineWriter) WriteHeader(code int)        { n.w.WriteHeader(code) }
func (n noDeadlineWriter) Flush()                      { n.w.(http.Flusher).Flush() }

// TestShutdownKeepsItsDeadline: Shutdown returns when its ctx ends even when
// a writer blocked on a client that never reads can not be cut, and says
// how many streams were still open.
func TestShutdownKeepsItsDeadline(t *testing.T) {
	h, err := ssekify.New(&ssekify.Options{KeepAlive: -1, MaxQueueBytes: 64 << 20, MaxQueueItems: 1 << 16, MaxPayloadBytes: 1 << 20})
	require.NoError(t, err)
	var handlers sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		_ = h.Register(noDeadlineWriter{w}, r, r.URL.Query().Get("user"), nil)
	}))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	stalled := dialStalled(t, srv)
	eventually(t, "stalled client registered", func() bool { return h.IsOnline("stalled") })
	payload := []byte(`"` + strings.Repeat("x", 1<<20-2) + `"`)
	for range 8 { // far more than the kernel buffers hold
		_, err := h.SendToUser("stalled", ssekify.Event{Data: payload})
		require.NoError(t, err)
	}
	time.Sleep(100 * time.Millisecond) // let the writer block in its write

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- h.Shutdown(ctx, ssekify.ShutdownOptions{Grace: -1}) }()
	select {
	case err = <-done:
	case <-time.After(wait):
		_ = stalled.Close() // unblock, so the test ends either way
		<-done
		t.Fatal("Shutdown ignored its ctx")
	}
	require.Less(t, time.Since(start), 2*time.Second)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, ssekify.ErrShutdownIncomplete)
	require.Contains(t, err.Error(), "1 stream(s) still open")

	_ = stalled.Close() // the blocked write now fails and Register returns
	handlers.Wait()
	srv.Close()
	require.True(t, errors.Is(h.Shutdown(context.Background(), ssekify.ShutdownOptions{}), ssekify.ErrShutdownIncomplete),
		"a later call returns the first one's result")
}
