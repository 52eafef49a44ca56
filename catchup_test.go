package ssekify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// gapEvent is the decoded data of a gap event.
type gapEvent struct {
	Reason      string `json:"reason"`
	Missed      int    `json:"missed"`
	Exact       bool   `json:"exact"`
	First       string `json:"first"`
	Last        string `json:"last"`
	LastEventID string `json:"lastEventId"`
}

// delivery is what a client saw: events with their positions, and the gap
// events between them.
type delivery struct {
	positions []uint64 // of the events, in the order received
	datas     []string
	gaps      []gapEvent
	gapAt     []int // gaps[i] came before datas[gapAt[i]]
}

// record adds one event of a stream to d; it fails on an id that is no
// position token.
func (d *delivery) record(t testing.TB, ev ssetest.Event) {
	t.Helper()
	if ev.Type == ssekify.DefaultGapEvent {
		var g gapEvent
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &g), ev.Data)
		d.gaps = append(d.gaps, g)
		d.gapAt = append(d.gapAt, len(d.datas))
		return
	}
	_, pos, ok := ssekify.ParseToken(ev.LastEventID)
	require.True(t, ok, "id %q is no position token", ev.LastEventID)
	d.positions = append(d.positions, pos)
	d.datas = append(d.datas, ev.Data)
}

// seen returns the newest position the client got or was told it lost.
func (d *delivery) seen() uint64 {
	var p uint64
	if n := len(d.positions); n > 0 {
		p = d.positions[n-1]
	}
	if n := len(d.gaps); n > 0 && d.gapAt[n-1] == len(d.datas) {
		if _, l, ok := ssekify.ParseToken(d.gaps[n-1].Last); ok {
			p = max(p, l)
		}
	}
	return p
}

// check proves the guarantee on a stream that was the only reader of the
// hub's events, whose positions are therefore consecutive from first to
// last: every position arrived exactly once, in order, or lies in a gap
// event received at its place; exact gap events count exactly. It returns
// how many events the gap events covered.
func (d *delivery) check(t testing.TB, first, last uint64) (covered int) {
	t.Helper()
	prev := first - 1
	g := 0
	for i, pos := range append(d.positions, last+1) {
		require.Greater(t, pos, prev, "positions strictly increase (event %d)", i)
		var missed, lower int
		var gapFirst, gapLast uint64
		for ; g < len(d.gaps) && d.gapAt[g] == i; g++ {
			gp := d.gaps[g]
			missed += gp.Missed
			if !gp.Exact {
				lower++
			}
			if _, p, ok := ssekify.ParseToken(gp.First); ok && gapFirst == 0 {
				gapFirst = p
			}
			if _, p, ok := ssekify.ParseToken(gp.Last); ok {
				gapLast = p
			}
		}
		hole := int(pos - prev - 1)
		if pos == last+1 && hole == 0 && missed == 0 {
			break
		}
		switch {
		case hole == 0:
			require.Zero(t, missed, "a gap event where nothing was lost (before event %d)", i)
		case missed == 0 && lower == 0:
			t.Fatalf("silent loss: positions %d to %d missing before event %d, no gap event", prev+1, pos-1, i)
		case lower == 0:
			require.Equal(t, hole, missed, "exact gap count before event %d", i)
			require.Equal(t, prev+1, gapFirst, "first missed position")
			require.Equal(t, pos-1, gapLast, "last missed position")
		default:
			require.LessOrEqual(t, missed, hole, "a lower bound never exceeds the hole")
		}
		covered += hole
		prev = pos
	}
	require.Equal(t, len(d.gaps), g, "every gap event lies before an event or at the end")
	return covered
}

// stallServer serves sseHandler with small kernel send buffers, so a client
// that stops reading stalls its writer quickly.
func stallServer(t *testing.T, h *ssekify.Hub, ro *ssekify.RegisterOptions) *httptest.Server {
	srv := httptest.NewUnstartedServer(sseHandler(h, ro))
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	t.Cleanup(func() { h.CloseAll(); srv.Close() })
	return srv
}

// TestOverflowPolicies: a client that stops reading while thousands of
// events are sent to it, then reads again, receives every event exactly once
// and in order, or the gap event at the place of loss with the exact count.
func TestOverflowPolicies(t *testing.T) {
	const events = 3000
	payload := strings.Repeat("x", 8<<10)
	for _, tc := range []struct {
		name      string
		opts      ssekify.Options
		ro        *ssekify.RegisterOptions
		wantLoss  bool
		reconnect bool
	}{
		{name: "catchup-defaults"},
		{name: "catchup-short-logs", opts: ssekify.Options{RecentBufferSize: 500}, wantLoss: true},
		{name: "drop-oldest", ro: &ssekify.RegisterOptions{DropPolicy: ssekify.DropOldest, SetDropPolicy: true}, wantLoss: true},
		{name: "drop-newest", ro: &ssekify.RegisterOptions{DropPolicy: ssekify.DropNewest, SetDropPolicy: true}, wantLoss: true},
		{name: "disconnect", ro: &ssekify.RegisterOptions{DropPolicy: ssekify.Disconnect, SetDropPolicy: true}, reconnect: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			opts.KeepAlive = -1
			h := newHub(t, &opts)
			srv := stallServer(t, h, tc.ro)
			s := connect(t, srv, "u", "", nil)
			eventually(t, "registered", func() bool { return h.IsOnline("u") })

			var first, last uint64
			for i := range events {
				_, err := h.SendToUser("u", ssekify.Event{Data: json.RawMessage(`"` + strconv.Itoa(i) + payload + `"`)})
				require.NoError(t, err)
				if i == 0 {
					first = lastPosition(t, h)
				}
			}
			last = lastPosition(t, h)
			require.Equal(t, uint64(events-1), last-first)

			var d delivery
			for d.seen() < last {
				ev, err := s.Next(wait)
				if err != nil && tc.reconnect {
					// Disconnected for backpressure: come back with the
					// last id seen, as a browser does.
					require.EqualValues(t, 1, h.Stats().DisconnectedByBackpressure)
					tc.reconnect = false
					s = connect(t, srv, "u", "", http.Header{"Last-Event-ID": {s.LastEventID()}})
					continue
				}
				require.NoError(t, err, "after %d events", len(d.positions))
				d.record(t, ev)
			}
			covered := d.check(t, first, last)
			require.Equal(t, events, len(d.positions)+covered)
			st := h.Stats()
			if tc.wantLoss {
				require.NotZero(t, covered, "the stall lost events")
				require.NotZero(t, st.GapEvents)
			} else {
				require.Zero(t, covered)
				require.Len(t, d.positions, events)
			}
			if tc.name == "catchup-defaults" {
				require.NotZero(t, st.CatchUps, "the queue overflowed and the stream caught up from the logs")
				require.Zero(t, st.DroppedOldest+st.DroppedNewest+st.DisconnectedByBackpressure)
			}
		})
	}
}

// lastPosition returns the position of the hub's newest event, read from a
// stream that replays from there (a probe user reading everyone's log).
func lastPosition(t testing.TB, h *ssekify.Hub) uint64 {
	t.Helper()
	return ssekify.LastPosition(h)
}

// TestReconnectLoop: a client reconnects 1,000 times with its Last-Event-ID
// while events are sent continuously to its user, its room and everyone:
// it gets every event exactly once, in order.
func TestReconnectLoop(t *testing.T) {
	const iterations = 1000
	h := newHub(t, &ssekify.Options{KeepAlive: -1, AutoFields: ssekify.AutoFields{Timestamp: ssekify.TimestampOff}})
	srv := serve(t, h, nil)

	// The sender sends a burst of six events, to the user, its room and
	// everyone, each time the client starts an iteration, while the client
	// connects and reads: sends and reconnects overlap all the time.
	ctx, stop := context.WithCancel(context.Background())
	kick := make(chan struct{}, 1)
	sent := make(chan int, 1)
	go func() {
		n := 0
		defer func() { sent <- n }()
		for {
			select {
			case <-ctx.Done():
				return
			case <-kick:
			}
			for range 6 {
				target := [3][2]string{{"user", "u"}, {"room", "r"}, {"all", ""}}[n%3]
				if err := sendTo(h, target[0], target[1], ssekify.Event{Data: json.RawMessage(strconv.Itoa(n))}); err != nil {
					return
				}
				n++
			}
		}
	}()

	got := make([]int, 0, 1<<16)
	lastID := ""
	for i := 0; i < iterations; i++ {
		var hdr http.Header
		if lastID != "" {
			hdr = http.Header{"Last-Event-ID": {lastID}}
		}
		s := connect(t, srv, "u", "r", hdr)
		select {
		case kick <- struct{}{}:
		default:
		}
		for k := 0; k < 1+i%5; k++ {
			ev, err := s.Next(wait)
			require.NoError(t, err)
			require.NotEqual(t, ssekify.DefaultGapEvent, ev.Type, "a gap event: %s", ev.Data)
			n, err := strconv.Atoi(ev.Data)
			require.NoError(t, err)
			got = append(got, n)
			lastID = ev.LastEventID // what was consumed, not what is buffered
		}
		require.NoError(t, s.Close())
	}
	stop()
	total := <-sent
	s := connect(t, srv, "u", "r", http.Header{"Last-Event-ID": {lastID}})
	for len(got) < total {
		ev, err := s.Next(wait)
		require.NoError(t, err, "after %d of %d", len(got), total)
		n, err := strconv.Atoi(ev.Data)
		require.NoError(t, err)
		got = append(got, n)
	}
	for i, n := range got {
		if n != i {
			t.Fatalf("event %d is %d: %v", i, n, got[max(0, i-3):min(len(got), i+3)])
		}
	}
	t.Logf("%d reconnects, %d events", iterations, total)
}

// TestNoGapEventCountsLosses: with the gap event turned off, losses are not
// told in the stream but still counted.
func TestNoGapEventCountsLosses(t *testing.T) {
	h := newHub(t, &ssekify.Options{KeepAlive: -1, NoGapEvent: true})
	srv := stallServer(t, h, &ssekify.RegisterOptions{DropPolicy: ssekify.DropOldest, SetDropPolicy: true})
	s := connect(t, srv, "u", "", nil)
	eventually(t, "registered", func() bool { return h.IsOnline("u") })
	payload := strings.Repeat("x", 8<<10)
	for i := range 1000 {
		_, err := h.SendToUser("u", ssekify.Event{Data: json.RawMessage(`"` + strconv.Itoa(i) + payload + `"`)})
		require.NoError(t, err)
	}
	_, err := h.SendToUser("u", ssekify.Event{Data: json.RawMessage(`"end"`)})
	require.NoError(t, err)
	for {
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.NotEqual(t, ssekify.DefaultGapEvent, ev.Type)
		if ev.Data == `"end"` {
			break
		}
	}
	st := h.Stats()
	require.Zero(t, st.GapEvents)
	require.Positive(t, st.MissedEvents)
	require.Equal(t, st.DroppedOldest, st.MissedEvents)
}

// TestForgottenLogIsTold: an event sent to a user while its log is
// forgotten (beyond RecentMaxUsers) is kept by none; the user's reconnect
// is told so by the gap event, not left in silence.
func TestForgottenLogIsTold(t *testing.T) {
	h := newHub(t, &ssekify.Options{KeepAlive: -1, RecentMaxUsers: 1})
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	mustSend(t, h, "user", "alice", "a1")
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	eventually(t, "alice offline", func() bool { return !h.IsOnline("alice") })
	b := connect(t, srv, "bob", "", nil)
	require.NoError(t, b.Close())
	eventually(t, "bob offline, alice's log forgotten", func() bool { return !h.IsOnline("bob") })
	mustSend(t, h, "user", "alice", "a2")

	s = connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {ev.LastEventID}})
	mustSend(t, h, "user", "alice", "a3")
	evs, err := s.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultGapEvent, evs[0].Type, "a2 is lost: %s", evs[0].Data)
	var g gapEvent
	require.NoError(t, json.Unmarshal([]byte(evs[0].Data), &g))
	require.Equal(t, gapEvent{Reason: "retention"}, gapEvent{Reason: g.Reason})
	require.False(t, g.Exact)
	require.Equal(t, `"a3"`, evs[1].Data)
}
