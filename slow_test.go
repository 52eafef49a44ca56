package ssekify_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// Figures of the slow-client test: 1,280 events of 4 KiB, 5 MiB in total,
// to 200 fast clients and one that never reads. Under -race the same burst
// goes to 20 fast clients (the race detector makes each byte ~10x dearer);
// scripts/test also runs this test without -race at full size.
const (
	slowFastFull  = 200
	slowFastRace  = 20
	slowEvents    = 1280
	slowEventSize = 4 << 10
	slowBatch     = 16                // events sent before waiting for the fast clients
	slowQueue     = 128 << 10         // MaxQueueBytes
	slowKernelBuf = 64 << 10          // server send buffer of each accepted socket
	slowTimeout   = 60 * time.Second  // the whole burst; far below WriteTimeout
	slowWriteTO   = 120 * time.Second // so only the drop policy can act on the stalled client
)

// smallBuffers caps the kernel send buffer of accepted sockets, so that a
// client that never reads fills it quickly and the queue bound shows.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(slowKernelBuf)
	}
	return c, err
}

func TestSlowClient(t *testing.T) {
	for _, p := range []ssekify.DropPolicy{ssekify.DropOldest, ssekify.DropNewest, ssekify.Disconnect} {
		t.Run(p.String(), func(t *testing.T) { testSlowClient(t, p) })
	}
}

func testSlowClient(t *testing.T, policy ssekify.DropPolicy) {
	slowFast := slowFastFull
	if raceEnabled {
		slowFast = slowFastRace
	}
	log := &errorLog{}
	h := newHub(t, &ssekify.Options{
		DropPolicy:    policy,
		MaxQueueBytes: slowQueue,
		MaxQueueItems: 1000,
		WriteTimeout:  slowWriteTO,
		KeepAlive:     -1,
		OnError:       log.hook,
	})
	srv := httptest.NewUnstartedServer(sseHandler(h, nil))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(func() { h.CloseAll(); srv.Close() })

	stalled := dialStalled(t, srv)
	eventually(t, "stalled client registered", func() bool { return h.IsOnline("stalled") })

	// The fast clients count what they receive and check its order.
	var received atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, slowFast)
	for i := range slowFast {
		s := connect(t, srv, "fast-"+strconv.Itoa(i), "", nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- readInOrder(s, &received)
		}()
	}

	payload := json4K()
	deadline := time.Now().Add(slowTimeout)
	for i := 0; i < slowEvents; i++ {
		n, err := h.SendToAll(ssekify.Event{ID: strconv.Itoa(i), Data: payload})
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, slowFast, "every fast client is a recipient")
		if (i+1)%slowBatch == 0 {
			// Pace the burst to the fast clients (they must lose nothing);
			// the stalled client is never waited for.
			want := int64(slowFast * (i + 1))
			for received.Load() < want {
				require.True(t, time.Now().Before(deadline), "fast clients fell behind: %d of %d", received.Load(), want)
				time.Sleep(time.Millisecond)
			}
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	st := h.Stats()
	require.LessOrEqual(t, st.QueueBytesMax, int64(slowQueue), "no queue grew past MaxQueueBytes")
	switch policy {
	case ssekify.DropOldest:
		require.Positive(t, st.DroppedOldest)
		require.True(t, h.IsOnline("stalled"))
		require.Contains(t, log.codes(), ssekify.CodeDropOldest)
	case ssekify.DropNewest:
		require.Positive(t, st.DroppedNewest)
		require.True(t, h.IsOnline("stalled"))
		require.Contains(t, log.codes(), ssekify.CodeDropNewest)
	case ssekify.Disconnect:
		require.EqualValues(t, 1, st.DisconnectedByBackpressure)
		require.False(t, h.IsOnline("stalled"))
		require.Equal(t, []string{ssekify.CodeSlowClient}, log.codes())
		// The stalled client's connection really ends: drain what the
		// kernel holds and reach the end of the stream.
		require.NoError(t, stalled.SetReadDeadline(time.Now().Add(wait)))
		_, err := io.Copy(io.Discard, stalled)
		require.NoError(t, err, "the connection is closed, not left hanging")
	}
}

// dialStalled opens a stream over raw TCP and never reads it. Its receive
// buffer stays at the kernel's initial size (it only grows for a reader).
func dialStalled(t *testing.T, srv *httptest.Server) net.Conn {
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = fmt.Fprintf(c, "GET /sse?user=stalled HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return c
}

// readInOrder reads every event of the burst and checks ids 0, 1, 2, …
func readInOrder(s *ssetest.Stream, received *atomic.Int64) error {
	for i := 0; i < slowEvents; i++ {
		ev, err := s.Next(slowTimeout)
		if err != nil {
			return fmt.Errorf("event %d: %w", i, err)
		}
		if ev.LastEventID != strconv.Itoa(i) {
			return fmt.Errorf("got id %q, want %d: lost or reordered", ev.LastEventID, i)
		}
		if len(ev.Data) != slowEventSize {
			return fmt.Errorf("event %d: %d bytes", i, len(ev.Data))
		}
		received.Add(1)
	}
	return nil
}

// json4K is a JSON string of exactly slowEventSize bytes.
func json4K() []byte {
	return []byte(`"` + strings.Repeat("x", slowEventSize-2) + `"`)
}

// TestCloseCutsABlockedWrite: closing a stream whose writer is blocked on a
// client that never reads ends it at once, not after WriteTimeout (120s
// here, far beyond the bounded wait).
func TestCloseCutsABlockedWrite(t *testing.T) {
	ended := make(chan error, 1)
	h := newHub(t, &ssekify.Options{
		WriteTimeout:    slowWriteTO,
		KeepAlive:       -1,
		MaxQueueBytes:   1 << 30,
		MaxQueueItems:   1 << 20,
		MaxPayloadBytes: 1 << 20,
		OnDisconnect:    func(_ ssekify.ConnInfo, err error) { ended <- err },
	})
	srv := httptest.NewUnstartedServer(sseHandler(h, nil))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(func() { h.CloseAll(); srv.Close() })
	dialStalled(t, srv)
	eventually(t, "stalled client registered", func() bool { return h.IsOnline("stalled") })

	// Send far more than the kernel buffers hold (2.5 MiB against ~200
	// KiB), then wait until the written count stops moving short of it:
	// the writer is then parked inside a write.
	const events = 40
	payload := []byte(`"` + strings.Repeat("x", 64<<10) + `"`)
	for range events {
		_, err := h.SendToUser("stalled", ssekify.Event{Data: payload})
		require.NoError(t, err)
	}
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
	require.Equal(t, 1, h.CloseUser("stalled"))
	select {
	case err := <-ended:
		require.NoError(t, err, "a close by the hub is a normal end")
	case <-time.After(wait):
		t.Fatal("the blocked write held the stream after its close")
	}
}
