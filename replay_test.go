package ssekify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// testClock is a clock the tests move by hand.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *testClock) Now() time.Time                { return time.Unix(0, c.ns.Load()) }
func (c *testClock) Advance(d time.Duration)       { c.ns.Add(int64(d)) }
func (c *testClock) Set(t time.Time)               { c.ns.Store(t.UnixNano()) }
func (c *testClock) Millis() int64                 { return time.Unix(0, c.ns.Load()).UnixMilli() }
func (c *testClock) hub(h *ssekify.Hub) *testClock { ssekify.SetClock(h, c.Now); return c }

// openStream opens GET /sse?<query> with the given headers; it is closed
// when the test ends.
func openStream(t testing.TB, srv *httptest.Server, q url.Values, hdr http.Header) *ssetest.Stream {
	t.Helper()
	s, err := ssetest.Connect(context.Background(), srv.Client(), srv.URL+"/sse?"+q.Encode(), hdr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// datas returns the data of each event.
func datas(evs []ssetest.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Data
	}
	return out
}

// mustSend sends to a user, a room or everyone and fails on error.
func mustSend(t testing.TB, h *ssekify.Hub, kind, target string, data any) {
	t.Helper()
	ev := ssekify.Event{Data: data}
	var err error
	switch kind {
	case "user":
		_, err = h.SendToUser(target, ev)
	case "room":
		_, err = h.SendToRoom(target, ev)
	default:
		_, err = h.SendToAll(ev)
	}
	require.NoError(t, err)
}

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
			mustSend(t, h, "user", "alice", "live")
			mustSend(t, h, "room", "news", "live-room")
			evs, err = s2.Collect(5, wait)
			require.NoError(t, err)
			require.Equal(t, []string{`"to-user"`, `"to-room"`, `"to-all"`, `"live"`, `"live-room"`}, datas(evs))
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

// idCounter returns the counter part of a default frame id.
func idCounter(t testing.TB, id string) uint64 {
	t.Helper()
	parts := strings.Split(id, "-")
	require.Len(t, parts, 3, "id %q", id)
	n, err := strconv.ParseUint(parts[2], 10, 64)
	require.NoError(t, err, "id %q", id)
	return n
}

// gapEvent decodes a gap event's data.
type gapEvent struct {
	LastEventID string `json:"lastEventId"`
	OldestID    string `json:"oldestId"`
	Reason      string `json:"reason"`
}

// TestReplayUnknownID: an id the hub does not hold gets the gap event, which
// names it and the oldest id held, then live events.
func TestReplayUnknownID(t *testing.T) {
	h := newHub(t, nil)
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	mustSend(t, h, "user", "alice", "first")
	first, err := s.Next(wait)
	require.NoError(t, err)
	mustSend(t, h, "user", "alice", "second")
	_, err = s.Next(wait)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s2 := connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {"1-elsewhere-7"}})
	mustSend(t, h, "user", "alice", "live")
	evs, err := s2.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultGapEvent, evs[0].Type)
	var g gapEvent
	require.NoError(t, json.Unmarshal([]byte(evs[0].Data), &g))
	require.Equal(t, gapEvent{LastEventID: "1-elsewhere-7", OldestID: first.LastEventID, Reason: "unknown-id"}, g)
	require.Equal(t, `"live"`, evs[1].Data)
	require.EqualValues(t, 1, h.Stats().ReplayMisses)
}

// TestReplayGapEventOptions: the gap event's name is configurable, it can be
// turned off, and with replay disabled every id is unknown.
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
		s2 := connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {ev.LastEventID}})
		ev, err = s2.Next(wait)
		require.NoError(t, err)
		require.Equal(t, ssekify.DefaultGapEvent, ev.Type)
		var g gapEvent
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &g))
		require.Equal(t, "replay-disabled", g.Reason)
		require.EqualValues(t, 0, h.Stats().ReplayUsers)
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

// TestReplayTTLSweep: an offline user's buffer outlives a gap shorter than
// RecentTTL and is swept after a longer one; the sweep needs no timer, only
// the next call into the store.
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
		return ev.LastEventID
	}
	lastA := away("a")
	clock.Advance(30 * time.Second)
	lastB := away("b")
	require.EqualValues(t, 2, h.Stats().ReplayUsers)

	clock.Advance(40 * time.Second) // a: 70s away, b: 40s
	mustSend(t, h, "all", "", "news")
	st := h.Stats()
	require.EqualValues(t, 1, st.ReplayUsers, "a swept")
	require.EqualValues(t, 1, st.ReplayEvicted)

	s := connect(t, srv, "b", "", http.Header{"Last-Event-ID": {lastB}})
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, `"news"`, ev.Data)
	s = connect(t, srv, "a", "", http.Header{"Last-Event-ID": {lastA}})
	ev, err = s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultGapEvent, ev.Type)

	// An online user is never swept, however long it stays.
	clock.Advance(time.Hour)
	mustSend(t, h, "user", "a", "still")
	ev, err = s.Next(wait)
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

// TestClearRecent: ClearRecent(user) drops one user's buffer, ClearRecent("")
// every buffer; a reconnect then gets the gap event.
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
	h.ClearRecent("a")
	require.Equal(t, ssekify.DefaultGapEvent, first("a").Type)
	require.Equal(t, `"missed"`, first("b").Data)
	h.ClearRecent("")
	require.EqualValues(t, 0, h.Stats().ReplayBytes, "every user was offline: all forgotten")
	require.Equal(t, ssekify.DefaultGapEvent, first("b").Type)
	require.Equal(t, ssekify.DefaultGapEvent, first("c").Type)
	require.NoError(t, ssekify.CheckReplay(h))
}

// storeIDs is what Since returns, for comparing in one assertion.
type storeIDs struct {
	IDs    []string
	Oldest string
	Found  bool
}

func since(r *ssekify.ReplayStore, user, last string) storeIDs {
	ids, oldest, found := r.Since(user, last)
	return storeIDs{ids, oldest, found}
}

func newStore(t testing.TB, o *ssekify.Options, clock *testClock) *ssekify.ReplayStore {
	t.Helper()
	r, err := ssekify.NewReplayStore(o, clock.Now)
	require.NoError(t, err)
	return r
}

// TestReplayStoreTargets: who records what — the target user, the room's
// members (kept while offline, dropped on leave and afresh on reconnect),
// every known user for broadcasts, each at most once, and never a user who
// was never seen.
func TestReplayStoreTargets(t *testing.T) {
	r := newStore(t, nil, newTestClock())
	r.Online("a")
	r.Join("a", "r1")
	r.Join("a", "r1") // twice: still one membership
	r.Join("a", "r2")
	r.Online("b")
	r.Join("b", "r1")
	r.Offline("b") // keeps r1 while away
	r.RecordUser("a", "1")
	r.RecordRoom("r1", "2")
	r.RecordRoom("r2", "3")
	r.RecordAll("4")
	r.RecordUser("stranger", "5")
	r.RecordRoom("nobody", "6")
	r.Leave("a", "r2")
	r.RecordRoom("r2", "7")

	require.Equal(t, storeIDs{[]string{"2", "3", "4"}, "1", true}, since(r, "a", "1"))
	require.Equal(t, storeIDs{[]string{"4"}, "2", true}, since(r, "b", "2"))
	require.Equal(t, storeIDs{nil, "", false}, since(r, "stranger", "5"))
	users, _, _ := r.Stats()
	require.EqualValues(t, 2, users)

	// Back online, b's rooms start afresh (the hub joins them again).
	r.Online("b")
	r.RecordRoom("r1", "8")
	require.Equal(t, storeIDs{nil, "2", true}, since(r, "b", "4"))
	require.Equal(t, storeIDs{[]string{"8"}, "1", true}, since(r, "a", "4"))
}

// TestReplayStoreRing: the buffer keeps the last RecentBufferSize events; the
// id just before the oldest held still replays everything, older ids are
// unknown, and a repeated id replays from its newest occurrence.
func TestReplayStoreRing(t *testing.T) {
	r := newStore(t, &ssekify.Options{RecentBufferSize: 3}, newTestClock())
	r.Online("a")
	for i := 1; i <= 5; i++ {
		r.RecordUser("a", strconv.Itoa(i))
	}
	require.Equal(t, storeIDs{[]string{"4", "5"}, "3", true}, since(r, "a", "3"))
	require.Equal(t, storeIDs{[]string{"3", "4", "5"}, "3", true}, since(r, "a", "2"))
	require.Equal(t, storeIDs{nil, "3", false}, since(r, "a", "1"))
	require.Equal(t, storeIDs{nil, "3", true}, since(r, "a", "5"))
	r.RecordUser("a", "4")
	require.Equal(t, storeIDs{nil, "4", true}, since(r, "a", "4"))
}

// TestReplayStoreLRU: beyond RecentMaxUsers the offline user inactive the
// longest is forgotten; online users are not.
func TestReplayStoreLRU(t *testing.T) {
	clock := newTestClock()
	r := newStore(t, &ssekify.Options{RecentMaxUsers: 3}, clock)
	for _, u := range []string{"a", "b", "c"} {
		r.Online(u)
		r.RecordUser(u, u+"1")
		clock.Advance(time.Second)
	}
	r.Offline("b") // offline order: b, then a, then c
	clock.Advance(time.Second)
	r.Offline("a")
	clock.Advance(time.Second)
	r.Offline("c")
	r.Online("d") // 4 users: b goes
	_, _, evicted := r.Stats()
	require.EqualValues(t, 1, evicted)
	require.False(t, since(r, "b", "b1").Found)
	require.True(t, since(r, "a", "a1").Found)
	r.Online("a") // a is active again: c is now the oldest offline
	r.Online("e")
	require.False(t, since(r, "c", "c1").Found)
	require.True(t, since(r, "a", "a1").Found)
	r.Online("f") // only online users left: all are kept
	users, _, evicted := r.Stats()
	require.EqualValues(t, 4, users)
	require.EqualValues(t, 2, evicted)
}

// TestReplayStoreTTL: offline users are swept lazily, oldest first, on the
// next call; the clock is the store's.
func TestReplayStoreTTL(t *testing.T) {
	clock := newTestClock()
	r := newStore(t, &ssekify.Options{RecentTTL: time.Minute}, clock)
	r.Online("a")
	r.Online("b")
	r.RecordAll("1")
	r.Offline("a")
	clock.Advance(59 * time.Second)
	r.RecordAll("2")
	require.True(t, since(r, "a", "1").Found)
	clock.Advance(time.Second)
	r.RecordAll("3")
	require.False(t, since(r, "a", "1").Found)
	require.Equal(t, storeIDs{[]string{"2", "3"}, "1", true}, since(r, "b", "1"))
	users, _, evicted := r.Stats()
	require.EqualValues(t, 1, users)
	require.EqualValues(t, 1, evicted)

	never := newStore(t, &ssekify.Options{RecentTTL: -1}, clock)
	never.Online("a")
	never.RecordUser("a", "1")
	never.Offline("a")
	clock.Advance(1000 * time.Hour)
	never.RecordAll("2")
	require.Equal(t, storeIDs{[]string{"2"}, "1", true}, since(never, "a", "1"))
}

// TestReplayStoreBytes: a message shared by several buffers counts once;
// beyond RecentMaxBytes whole buffers go, offline users' first (with their
// own costs); a message larger than the bound empties its recipients'
// buffers, so their older ids become unknown. The figures are exact.
func TestReplayStoreBytes(t *testing.T) {
	clock := newTestClock()
	// A user with a one-letter id and a ring of 20 slots.
	user := int64(ssekify.ReplayUserOverhead + 1 + 20*ssekify.PointerBytes)
	bound := 3*user + 1100
	r := newStore(t, &ssekify.Options{RecentMaxBytes: bound}, clock)
	for _, u := range []string{"a", "b", "c"} {
		r.Online(u)
	}
	_, bytes, _ := r.Stats()
	require.EqualValues(t, 3*(ssekify.ReplayUserOverhead+1), bytes, "users without a ring yet")
	r.RecordHeld("all", "", "x", 200) // one message shared by three buffers
	_, bytes, _ = r.Stats()
	require.Equal(t, 3*user+200, bytes)
	r.RecordHeld("user", "a", "a1", 400)
	r.RecordHeld("user", "b", "b1", 400)
	r.Offline("b")
	r.RecordHeld("user", "c", "c1", 400) // 300 over: b (offline) goes, with its own cost
	_, bytes, evicted := r.Stats()
	require.Equal(t, 2*user+200+2*400, bytes)
	require.EqualValues(t, 1, evicted)
	require.False(t, since(r, "b", "x").Found)
	require.True(t, since(r, "a", "x").Found)
	require.True(t, since(r, "c", "x").Found)

	r.RecordHeld("user", "c", "c2", 800) // only online users: a (connected first) is emptied
	_, bytes, _ = r.Stats()
	require.LessOrEqual(t, bytes, bound)
	// a keeps its struct, its id and the id it dropped ("a1"), not its ring.
	require.Equal(t, int64(ssekify.ReplayUserOverhead+1+2)+user+200+400+800, bytes)
	require.False(t, since(r, "a", "x").Found)
	require.Equal(t, storeIDs{nil, "", true}, since(r, "a", "a1"), "a client that saw a's newest event misses nothing")
	require.Equal(t, storeIDs{[]string{"c1", "c2"}, "x", true}, since(r, "c", "x"))

	r.RecordSized("c", "huge", 5000)
	_, bytes, _ = r.Stats()
	require.LessOrEqual(t, bytes, bound)
	require.False(t, since(r, "c", "c2").Found, "an id before the dropped frame must be unknown")
	r.RecordUser("c", "after")
	require.Equal(t, storeIDs{[]string{"after"}, "after", true}, since(r, "c", "huge"))
	require.NoError(t, r.Check())

	r.Clear("") // online users stay known: only their own costs are left
	_, bytes, _ = r.Stats()
	require.EqualValues(t, 2*(ssekify.ReplayUserOverhead+1), bytes)
	r.Offline("a")
	r.Offline("c")
	r.Clear("")
	_, bytes, _ = r.Stats()
	require.Zero(t, bytes)
	require.NoError(t, r.Check())
}

// BenchmarkReplayEvict measures what a new user costs once the store is at
// RecentMaxUsers: it connects (evicting the least recently active offline
// user), gets an event and leaves. The cost per op must not grow with the
// number of users. Measured here: from 10,000 to 1,000,000 users (100×) the
// cost per op stays within ~1.5–2.5× — memory locality of a larger map and
// heap, not the eviction, which pops the list's tail — where an eviction
// that sorts or scans the users would grow ~100× or more.
func BenchmarkReplayEvict(b *testing.B) {
	for _, n := range []int{10_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			clock := newTestClock()
			r, err := ssekify.NewReplayStore(&ssekify.Options{RecentMaxUsers: n, RecentMaxBytes: -1}, clock.Now)
			require.NoError(b, err)
			names := make([]string, n+b.N)
			for i := range names {
				names[i] = "u" + strconv.Itoa(i)
			}
			for _, u := range names[:n] {
				r.Online(u)
				r.RecordUser(u, u)
				r.Offline(u)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				u := names[n+i]
				r.Online(u)
				r.RecordUser(u, u)
				r.Offline(u)
			}
			b.StopTimer()
			users, _, evicted := r.Stats()
			require.EqualValues(b, n, users)
			require.EqualValues(b, b.N, evicted)
		})
	}
}

// BenchmarkReplayTTLSweep measures the lazy TTL sweep: every op makes one
// offline user expire and records an event, which sweeps it.
func BenchmarkReplayTTLSweep(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			clock := newTestClock()
			r, err := ssekify.NewReplayStore(&ssekify.Options{RecentTTL: time.Duration(n) * time.Millisecond, RecentMaxUsers: -1}, clock.Now)
			require.NoError(b, err)
			names := make([]string, n+b.N)
			for i := range names {
				names[i] = "u" + strconv.Itoa(i)
			}
			for _, u := range names[:n] {
				r.Online(u)
				r.Offline(u)
				clock.Advance(time.Millisecond)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				u := names[n+i]
				r.Online(u)
				r.Offline(u)
				clock.Advance(time.Millisecond)
				r.RecordUser(u, u)
			}
			b.StopTimer()
			users, _, _ := r.Stats()
			require.InDelta(b, n, users, 1)
		})
	}
}
