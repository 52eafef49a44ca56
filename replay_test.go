package ssekify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// TestReplayAfterReconnect: 5 events, a disconnect, 3 events sent while the
// user is away (to it, to its room, to all), a reconnect naming the last id
// seen: exactly those 3, in order, then a live one. The id comes from the
// header or from either query parameter.
func TestReplayAfterReconnect(t *testing.T) {
	for _, how := range []string{"header", "lastEventId", "last-event-id"} {
		t.Run(how, func(t *testing.T) {
			h := newHub(t, nil)
			srv := serve(t, h, nil)
			s := connect(t, srv, "alice", "news", nil)
			for i := range 5 {
				mustSend(t, h, "user", "alice", i)
			}
			evs, err := s.Collect(5, wait)
			require.NoError(t, err)
			require.Equal(t, []string{"0", "1", "2", "3", "4"}, datas(evs))
			last := evs[4].LastEventID
			require.NotEmpty(t, last)
			require.NoError(t, s.Close())
			eventually(t, "alice offline", func() bool { return !h.IsOnline("alice") })

			mustSend(t, h, "user", "alice", "to-user")
			mustSend(t, h, "user", "bob", "to-bob")       // not alice's
			mustSend(t, h, "room", "sports", "to-sports") // not alice's room
			mustSend(t, h, "room", "news", "to-room")
			mustSend(t, h, "all", "", "to-all")

			q := url.Values{"user": {"alice"}, "rooms": {"news"}}
			hdr := http.Header{}
			if how == "header" {
				hdr.Set("Last-Event-ID", last)
			} else {
				q.Set(how, last)
			}
			s2 := openStream(t, srv, q, hdr)
			evs, err = s2.Collect(3, wait)
			require.NoError(t, err)
			require.Equal(t, []string{`"to-user"`, `"to-room"`, `"to-all"`}, datas(evs))
			// Once replayed, the stream is live: these come through its queue.
			mustSend(t, h, "user", "alice", "live")
			mustSend(t, h, "room", "news", "live-room")
			evs, err = s2.Collect(2, wait)
			require.NoError(t, err)
			require.Equal(t, []string{`"live"`, `"live-room"`}, datas(evs))
			st := h.Stats()
			require.EqualValues(t, 1, st.ReplayHits)
			require.EqualValues(t, 0, st.ReplayMisses)
			require.EqualValues(t, 3, st.ReplayedEvents)
		})
	}
}

// TestReplayKnownIDNothingMissed: a known id with nothing after it replays
// nothing, and counts as a hit.
func TestReplayKnownIDNothingMissed(t *testing.T) {
	h := newHub(t, nil)
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	mustSend(t, h, "user", "alice", 1)
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	s2 := connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {ev.LastEventID}})
	mustSend(t, h, "user", "alice", 2)
	ev, err = s2.Next(wait)
	require.NoError(t, err)
	require.Equal(t, "2", ev.Data)
	require.EqualValues(t, 1, h.Stats().ReplayHits)
}

// TestReplayRace: 1,000 reconnects with replay while another goroutine sends
// without pause: every event arrives once, in order, none missing, and the
// ids' counters strictly increase.
func TestReplayRace(t *testing.T) {
	h := newHub(t, &ssekify.Options{RecentBufferSize: 4096, MaxQueueItems: 1 << 16, MaxQueueBytes: 64 << 20})
	srv := serve(t, h, nil)

	var received atomic.Int64 // events the client has checked
	var sendErr atomic.Value
	start, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		select { // the user is known once its first stream is registered
		case <-start:
		case <-stop:
			return
		}
		for i := int64(0); ; i++ {
			// Keep at most 512 events in flight, well within the buffer.
			for i-received.Load() >= 512 {
				select {
				case <-stop:
					return
				default:
					time.Sleep(20 * time.Microsecond)
				}
			}
			select {
			case <-stop:
				return
			default:
			}
			if _, err := h.SendToUser("racer", ssekify.Event{Data: i}); err != nil {
				sendErr.Store(err)
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()

	var last string
	var lastCounter uint64
	next := int64(0)
	for iter := range 1000 {
		hdr := http.Header{}
		if last != "" {
			hdr.Set("Last-Event-ID", last)
		}
		s, err := ssetest.Connect(context.Background(), srv.Client(), srv.URL+"/sse?user=racer", hdr)
		require.NoError(t, err)
		if iter == 0 {
			close(start)
		}
		for range 1 + iter%3 {
			ev, err := s.Next(wait)
			require.NoError(t, err, "iteration %d", iter)
			require.Equal(t, "message", ev.Type, "iteration %d: %s", iter, ev.Data)
			n, err := strconv.ParseInt(ev.Data, 10, 64)
			require.NoError(t, err)
			require.Equal(t, next, n, "iteration %d: duplicate or gap", iter)
			c := idCounter(t, ev.LastEventID)
			require.Greater(t, c, lastCounter, "iteration %d: ids must increase", iter)
			lastCounter, last = c, ev.LastEventID
			next++
			received.Store(next)
		}
		if iter%2 == 1 {
			h.CloseUser("racer") // the server ends it: the user goes offline
		}
		require.NoError(t, s.Close())
	}
	require.Nil(t, sendErr.Load())
	require.EqualValues(t, 0, h.Stats().ReplayMisses)
}

// idCounter returns the position of a position token.
func idCounter(t testing.TB, id string) uint64 {
	t.Helper()
	_, pos, ok := ssekify.ParseToken(id)
	require.True(t, ok, "id %q", id)
	return pos
}

// TestReplayUnknownID: an id that names no position here gets the gap
// event, which names it, then live events; the stream's start is named by
// an id line, so the client's next reconnect is exact.
func TestReplayUnknownID(t *testing.T) {
	h := newHub(t, nil)
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	mustSend(t, h, "user", "alice", "first")
	_, err := s.Next(wait)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	other := string(ssekify.AppendToken(nil, ssekify.Epoch(h)+1, 1)) // another instance's, or from before a restart
	future := string(ssekify.AppendToken(nil, ssekify.Epoch(h), 1<<40))
	for _, id := range []string{"1-elsewhere-7", other, future} {
		s2 := connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {id}})
		mustSend(t, h, "user", "alice", "live")
		evs, err := s2.Collect(2, wait)
		require.NoError(t, err)
		require.Equal(t, ssekify.DefaultGapEvent, evs[0].Type)
		var g gapEvent
		require.NoError(t, json.Unmarshal([]byte(evs[0].Data), &g))
		require.Equal(t, gapEvent{LastEventID: id, Reason: "unknown-id"}, g)
		require.Equal(t, `"live"`, evs[1].Data)
		require.NoError(t, s2.Close())
	}
	require.EqualValues(t, 3, h.Stats().ReplayMisses)
}

// TestReplayGapEventOptions: the gap event's name is configurable, it can be
// turned off, and with replay disabled every reconnect gets it.
func TestReplayGapEventOptions(t *testing.T) {
	t.Run("named", func(t *testing.T) {
		h := newHub(t, &ssekify.Options{GapEvent: "resync"})
		srv := serve(t, h, nil)
		s := connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {"x"}})
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.Equal(t, "resync", ev.Type)
		var g gapEvent
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &g))
		require.Equal(t, gapEvent{LastEventID: "x", Reason: "unknown-id"}, g)
	})
	t.Run("off", func(t *testing.T) {
		h := newHub(t, &ssekify.Options{NoGapEvent: true})
		srv := serve(t, h, nil)
		s := connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {"x"}})
		mustSend(t, h, "user", "alice", "live")
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.Equal(t, "message", ev.Type)
		require.Equal(t, `"live"`, ev.Data)
		require.EqualValues(t, 1, h.Stats().ReplayMisses)
	})
	t.Run("replay disabled", func(t *testing.T) {
		h := newHub(t, &ssekify.Options{RecentBufferSize: -1})
		srv := serve(t, h, nil)
		s := connect(t, srv, "alice", "", nil)
		mustSend(t, h, "user", "alice", 1)
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		mustSend(t, h, "user", "alice", 2)
		s2 := connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {ev.LastEventID}})
		ev, err = s2.Next(wait)
		require.NoError(t, err)
		require.Equal(t, ssekify.DefaultGapEvent, ev.Type)
		var g gapEvent
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &g))
		require.Equal(t, "retention", g.Reason)
		require.Equal(t, 1, g.Missed)
		require.True(t, g.Exact)
	})
}

// TestReplayHostileLastEventID: a huge id full of control characters is just
// unknown: the gap event carries a clipped, JSON-escaped copy and the stream
// goes on.
func TestReplayHostileLastEventID(t *testing.T) {
	h := newHub(t, nil)
	srv := serve(t, h, nil)
	hostile := "\x00\r\nid: forged\n\nevent: x\u2028\xff" + strings.Repeat("é\x01", 50000)
	s := openStream(t, srv, url.Values{"user": {"alice"}, "lastEventId": {hostile}}, nil)
	mustSend(t, h, "user", "alice", "live")
	evs, err := s.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultGapEvent, evs[0].Type)
	var g gapEvent
	require.NoError(t, json.Unmarshal([]byte(evs[0].Data), &g))
	require.Equal(t, "unknown-id", g.Reason)
	require.LessOrEqual(t, len(g.LastEventID), 80)
	require.True(t, strings.HasPrefix(g.LastEventID, "\x00\r\nid: forged\n\nevent: x"), "%q", g.LastEventID)
	require.Equal(t, `"live"`, evs[1].Data)
	require.NotContains(t, evs[1].LastEventID, "forged")
}

// TestReplayTTLSweep: an offline user's log outlives an absence shorter
// than RecentTTL and is forgotten after a longer one; what it held is then
// announced by the gap event, never lost in silence. The sweep needs no
// timer, only the next call into the logs.
func TestReplayTTLSweep(t *testing.T) {
	h := newHub(t, &ssekify.Options{RecentTTL: time.Minute})
	clock := newTestClock().hub(h)
	srv := serve(t, h, nil)

	away := func(user string) string {
		s := connect(t, srv, user, "", nil)
		mustSend(t, h, "user", user, "seen")
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		eventually(t, user+" offline", func() bool { return !h.IsOnline(user) })
		mustSend(t, h, "user", user, "while-away")
		return ev.LastEventID
	}
	lastA := away("a")
	clock.Advance(30 * time.Second)
	lastB := away("b")
	require.EqualValues(t, 3, h.Stats().ReplayLogs, "everyone's, a's and b's")

	clock.Advance(40 * time.Second) // a: 70s away, b: 40s
	mustSend(t, h, "all", "", "news")
	st := h.Stats()
	require.EqualValues(t, 2, st.ReplayLogs, "a's forgotten")

	s := connect(t, srv, "b", "", http.Header{"Last-Event-ID": {lastB}})
	evs, err := s.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, []string{`"while-away"`, `"news"`}, datas(evs))
	s = connect(t, srv, "a", "", http.Header{"Last-Event-ID": {lastA}})
	evs, err = s.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultGapEvent, evs[0].Type, "a's while-away is gone: %s", evs[0].Data)
	require.Equal(t, `"news"`, evs[1].Data)

	// An online user's log is never forgotten, however long it stays; its
	// events still age out, and that is told too.
	clock.Advance(time.Hour)
	mustSend(t, h, "user", "a", "still")
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, `"still"`, ev.Data)
	require.NoError(t, s.Close())
	eventually(t, "a offline", func() bool { return !h.IsOnline("a") })
	s = connect(t, srv, "a", "", http.Header{"Last-Event-ID": {ev.LastEventID}})
	mustSend(t, h, "user", "a", "after")
	ev, err = s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, `"after"`, ev.Data)
}

// TestClearRecent: ClearRecent(user) drops one user's log, ClearRecent("")
// every log's events; a reconnect then gets the gap event with the count.
func TestClearRecent(t *testing.T) {
	h := newHub(t, nil)
	srv := serve(t, h, nil)
	last := map[string]string{}
	for _, u := range []string{"a", "b", "c"} {
		s := connect(t, srv, u, "", nil)
		mustSend(t, h, "user", u, "x")
		ev, err := s.Next(wait)
		require.NoError(t, err)
		last[u] = ev.LastEventID
		require.NoError(t, s.Close())
		eventually(t, u+" offline", func() bool { return !h.IsOnline(u) })
		mustSend(t, h, "user", u, "missed")
	}
	first := func(u string) ssetest.Event {
		t.Helper()
		s := connect(t, srv, u, "", http.Header{"Last-Event-ID": {last[u]}})
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		eventually(t, u+" offline", func() bool { return !h.IsOnline(u) })
		return ev
	}
	gap := func(ev ssetest.Event) gapEvent {
		t.Helper()
		require.Equal(t, ssekify.DefaultGapEvent, ev.Type, ev.Data)
		var g gapEvent
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &g))
		return g
	}
	h.ClearRecent("a")
	require.Equal(t, 1, gap(first("a")).Missed)
	require.Equal(t, `"missed"`, first("b").Data)
	h.ClearRecent("")
	require.Equal(t, 1, gap(first("b")).Missed)
	require.Equal(t, 1, gap(first("c")).Missed)
	require.NoError(t, ssekify.CheckLogs(h))
}

// TestReplayCallerIDs: with a caller's ids (Event.ID, or Options.FrameID),
// a reconnect finds the id in the stream's own logs and replays exactly
// what follows it; an id the logs no longer hold gets the gap event.
func TestReplayCallerIDs(t *testing.T) {
	var n atomic.Int64
	h := newHub(t, &ssekify.Options{KeepAlive: -1, RecentBufferSize: 4,
		FrameID: func(ssekify.Event, []byte) string { return "job-" + strconv.FormatInt(n.Add(1), 10) }})
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	mustSend(t, h, "user", "alice", "one")
	_, err := h.SendToUser("alice", ssekify.Event{ID: "mine", Data: "two"})
	require.NoError(t, err)
	evs, err := s.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, []string{"job-1", "mine"}, []string{evs[0].LastEventID, evs[1].LastEventID})
	require.NoError(t, s.Close())
	eventually(t, "alice offline", func() bool { return !h.IsOnline("alice") })
	mustSend(t, h, "user", "alice", "three")
	mustSend(t, h, "all", "", "four")

	for id, want := range map[string][]string{
		"job-1": {`"two"`, `"three"`, `"four"`},
		"mine":  {`"three"`, `"four"`},
	} {
		s := connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {id}})
		evs, err := s.Collect(len(want), wait)
		require.NoError(t, err, id)
		require.Equal(t, want, datas(evs), id)
		require.NoError(t, s.Close())
		eventually(t, "alice offline", func() bool { return !h.IsOnline("alice") })
	}
	// Past the log's 4 events, job-1 is gone: the gap event, then live.
	for range 4 {
		mustSend(t, h, "user", "alice", "more")
	}
	s = connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {"job-1"}})
	mustSend(t, h, "user", "alice", "live")
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultGapEvent, ev.Type, ev.Data)
}
