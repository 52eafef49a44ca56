package ssekify_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// TestStatsJSONNames checks that a /stats endpoint shows the names the
// original library used, plus the replay and cross-instance counts.
func TestStatsJSONNames(t *testing.T) {
	b, err := json.Marshal(ssekify.Stats{})
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	for _, name := range []string{
		"connections", "users", "rooms", "sent", "droppedOldest", "droppedNewest",
		"disconnectedByBackpressure", "queueItemsMax", "queueBytesMax", "errorCount",
		"seqIncrsLocal", "seqIncrsRedis", "lastSeqKvFallbackAt",
		"replayHits", "replayMisses", "published", "received", "accepting",
	} {
		require.Contains(t, m, name)
	}
}

// TestStatsIsCheap proves that Stats allocates nothing, with no stream and
// with a thousand, and does not wait for the hub lock.
func TestStatsIsCheap(t *testing.T) {
	h := newHub(t, nil)
	var st ssekify.Stats
	require.Zero(t, testing.AllocsPerRun(100, func() { st = h.Stats() }), "no stream")
	require.Zero(t, st.Connections)

	srv := lcServe(t, h, nil)
	lcOpenMany(t, h, srv.Server, 1000)
	require.Zero(t, testing.AllocsPerRun(100, func() { st = h.Stats() }), "a thousand streams")
	require.EqualValues(t, 1000, st.Connections)
	require.EqualValues(t, 100, st.Users)
	require.EqualValues(t, 10, st.Rooms)

	unlock := ssekify.LockHub(h)
	done := make(chan ssekify.Stats, 1)
	go func() { done <- h.Stats() }()
	select {
	case st = <-done:
		unlock()
		require.EqualValues(t, 1000, st.Connections)
	case <-time.After(wait):
		unlock()
		t.Fatal("Stats waited for the hub lock")
	}
}

// TestStatsCounters checks the gauges and counters of the core against
// traffic whose outcome the test knows.
func TestStatsCounters(t *testing.T) {
	log := &errorLog{}
	h := newHub(t, &ssekify.Options{OnError: log.hook, KeepAlive: -1})
	srv := lcServe(t, h, nil)
	a1 := connect(t, srv.Server, "alice", "r1", nil)
	a2 := connect(t, srv.Server, "alice", "r1,r2", nil)
	bob := connect(t, srv.Server, "bob", "", nil)
	st := h.Stats()
	require.EqualValues(t, 3, st.Connections)
	require.EqualValues(t, 2, st.Users)
	require.EqualValues(t, 2, st.Rooms)
	require.True(t, st.Accepting)
	require.Zero(t, st.Sent, "the retry line is not an event")

	// 2×3 + 2 + 1 frames.
	for range 2 {
		_, err := h.SendToAll(ssekify.Event{Name: "all"})
		require.NoError(t, err)
	}
	_, err := h.SendToUser("alice", ssekify.Event{Name: "user"})
	require.NoError(t, err)
	_, err = h.SendToRoom("r2", ssekify.Event{Name: "room"})
	require.NoError(t, err)
	got := 0
	for s, n := range map[*ssetest.Stream]int{a1: 3, a2: 4, bob: 2} {
		evs, err := s.Collect(n, wait)
		require.NoError(t, err)
		got += len(evs)
	}
	require.Equal(t, 9, got)
	eventually(t, "sent to count every frame written", func() bool { return h.Stats().Sent == int64(got) })

	_, err = h.SendToAll(ssekify.Event{ID: "bad\x00id"})
	require.Error(t, err)
	_, err = h.SendToUser("", ssekify.Event{})
	require.Error(t, err)
	st = h.Stats()
	require.EqualValues(t, 2, st.ErrorCount)
	require.EqualValues(t, len(log.codes()), st.ErrorCount)
	require.Positive(t, st.QueueItemsMax)
	require.LessOrEqual(t, st.QueueItemsMax, int64(4), "no queue held more than was sent to it")
	require.Positive(t, st.QueueBytesMax)

	_, err = h.LeaveRoom("alice", "r2")
	require.NoError(t, err)
	require.Equal(t, 1, h.CloseUser("bob"))
	lcRequireEnd(t, bob)
	st = h.Stats()
	require.EqualValues(t, 2, st.Connections)
	require.EqualValues(t, 1, st.Users)
	require.EqualValues(t, 1, st.Rooms)
	h.StopAccepting()
	require.False(t, h.Stats().Accepting)
}

// lcSmallSendBuf caps the kernel send buffer of accepted sockets, so that a
// client that never reads blocks its writer after a few frames.
type lcSmallSendBuf struct{ net.Listener }

func (l lcSmallSendBuf) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(16 << 10)
	}
	return c, err
}

// TestStatsBackpressureExact drives a client that never reads into each
// drop policy and checks that every dropped frame is counted exactly once:
// the counters equal what OnError reported, and the queue high-water marks
// equal the configured bound.
func TestStatsBackpressureExact(t *testing.T) {
	const items = 4
	payload := json.RawMessage(`"` + strings.Repeat("x", 16<<10) + `"`)
	frame, err := ssekify.EncodeFrame("x", "", payload)
	require.NoError(t, err)
	for _, policy := range []ssekify.DropPolicy{ssekify.DropOldest, ssekify.DropNewest, ssekify.Disconnect} {
		t.Run(policy.String(), func(t *testing.T) {
			log := &errorLog{}
			h := newHub(t, &ssekify.Options{
				OnError: log.hook, DropPolicy: policy, MaxQueueItems: items, MaxQueueBytes: 1 << 20,
				KeepAlive: -1, WriteTimeout: time.Minute,
			})
			srv := lcServeOn(t, h, nil, func(l net.Listener) net.Listener { return lcSmallSendBuf{l} })

			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.(*net.TCPConn).SetReadBuffer(4096))
			_, err = fmt.Fprintf(c, "GET /sse?user=stalled HTTP/1.1\r\nHost: x\r\n\r\n")
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			eventually(t, "the stream", func() bool { return h.IsOnline("stalled") })

			acted := func() bool {
				st := h.Stats()
				return st.DroppedOldest+st.DroppedNewest+st.DisconnectedByBackpressure > 0
			}
			sends := 0
			for ; !acted(); sends++ {
				require.Less(t, sends, 10000, "the queue never filled")
				_, err := h.SendToUser("stalled", ssekify.Event{ID: "x", Data: payload})
				require.NoError(t, err)
			}
			for range 10 { // more, past the bound
				_, err := h.SendToUser("stalled", ssekify.Event{ID: "x", Data: payload})
				require.NoError(t, err)
			}

			st := h.Stats()
			require.EqualValues(t, items, st.QueueItemsMax, "the queue reached its bound, never more")
			require.EqualValues(t, items*len(frame), st.QueueBytesMax)
			require.EqualValues(t, len(log.codes()), st.ErrorCount)
			switch policy {
			case ssekify.DropOldest:
				// Equal frames, bounded by items: every push drops exactly one.
				require.EqualValues(t, lcCount(log.codes(), ssekify.CodeDropOldest), st.DroppedOldest)
				require.Positive(t, st.DroppedOldest)
				require.Zero(t, st.DroppedNewest+st.DisconnectedByBackpressure)
			case ssekify.DropNewest:
				require.EqualValues(t, lcCount(log.codes(), ssekify.CodeDropNewest), st.DroppedNewest)
				require.Positive(t, st.DroppedNewest)
				require.Zero(t, st.DroppedOldest+st.DisconnectedByBackpressure)
			case ssekify.Disconnect:
				require.EqualValues(t, 1, st.DisconnectedByBackpressure)
				require.Equal(t, []string{ssekify.CodeSlowClient}, log.codes())
				require.Zero(t, st.DroppedOldest+st.DroppedNewest)
				require.False(t, h.IsOnline("stalled"))
				eventually(t, "Register to return", func() bool { return srv.returned.Load() == 1 })
				require.True(t, errors.Is(srv.errs()[0], ssekify.ErrSlowClient), "Register returned %v", srv.errs()[0])
			}
		})
	}
}

// BenchmarkStats measures a Stats snapshot (what a /stats or /metrics
// scrape costs) with a thousand open streams.
func BenchmarkStats(b *testing.B) {
	h := newHub(b, nil)
	srv := lcServe(b, h, nil)
	lcOpenMany(b, h, srv.Server, 1000)
	b.ReportAllocs()
	var st ssekify.Stats
	for b.Loop() {
		st = h.Stats()
	}
	if st.Connections != 1000 {
		b.Fatalf("connections %d", st.Connections)
	}
}
