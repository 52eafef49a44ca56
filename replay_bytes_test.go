package ssekify_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// longRooms returns n room names of MaxRoomBytes bytes, distinct to user.
func longRooms(user string, n int) []string {
	rooms := make([]string, n)
	for i := range rooms {
		name := fmt.Sprintf("%s/room-%03d/", user, i)
		rooms[i] = name + strings.Repeat("r", ssekify.MaxRoomBytes-len(name))
	}
	return rooms
}

// TestReplayBytesOfflineUsersRooms: 300 users register, each in
// MaxRoomsPerStream rooms of MaxRoomBytes, get one event and disconnect.
// What they cost while offline (their ids, their room lists and the rooms
// index) counts against RecentMaxBytes: the figure stays under the bound
// and the users offline the longest are forgotten, so the first user's id
// is unknown on its return while the last one's still replays.
func TestReplayBytesOfflineUsersRooms(t *testing.T) {
	const users = 300
	const bound = 2 << 20
	h := newHub(t, &ssekify.Options{RecentMaxBytes: bound})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		var rooms []string
		if r.URL.Query().Get("rooms") == "long" {
			rooms = longRooms(user, ssekify.MaxRoomsPerStream)
		}
		_ = h.Register(w, r, user, &ssekify.RegisterOptions{Rooms: rooms})
	}))
	t.Cleanup(func() {
		h.CloseAll()
		srv.Close()
	})

	last := make([]string, users)
	for i := range users {
		user := fmt.Sprintf("user-%03d", i)
		s := connect(t, srv, user, "long", nil)
		mustSend(t, h, "user", user, i)
		ev, err := s.Next(wait)
		require.NoError(t, err)
		last[i] = ev.LastEventID
		require.LessOrEqual(t, h.Stats().ReplayBytes, int64(bound), "user %d online", i)
		require.NoError(t, s.Close())
		eventually(t, user+" offline", func() bool { return !h.IsOnline(user) })
		require.LessOrEqual(t, h.Stats().ReplayBytes, int64(bound), "user %d offline", i)
	}
	st := h.Stats()
	require.NoError(t, ssekify.CheckReplay(h))
	// One user's rooms alone cost over 180 KB: far fewer than 300 fit.
	require.Less(t, st.ReplayUsers, int64(users/10))
	require.Positive(t, st.ReplayUsers)
	require.EqualValues(t, users-st.ReplayUsers, st.ReplayEvicted, "each forgotten user counted once")
	require.Greater(t, st.ReplayBytes, int64(bound/2), "the kept users' rooms are counted")

	s := connect(t, srv, "user-000", "", http.Header{"Last-Event-ID": {last[0]}})
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultGapEvent, ev.Type, "the user offline the longest was forgotten")

	s = connect(t, srv, fmt.Sprintf("user-%03d", users-1), "", http.Header{"Last-Event-ID": {last[users-1]}})
	mustSend(t, h, "user", fmt.Sprintf("user-%03d", users-1), "live")
	ev, err = s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, `"live"`, ev.Data, "the last user is still known: nothing missed, no gap")
	require.EqualValues(t, 1, h.Stats().ReplayHits)
	require.NoError(t, ssekify.CheckReplay(h))
}

// TestReplayBytesSeparateData: an event whose data is a copy apart from
// its frame (data with a line break is) is counted with both, over HTTP:
// six events of 64 KiB hold more than 768 KiB, and three more exceed a
// 1 MiB bound, which empties the buffer (the first id becomes unknown)
// instead of holding 1.1 MiB.
func TestReplayBytesSeparateData(t *testing.T) {
	const bound = 1 << 20
	h := newHub(t, &ssekify.Options{RecentMaxBytes: bound, MaxQueueBytes: 4 << 20})
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	data := json.RawMessage("[\n\"" + strings.Repeat("d", 64<<10-6) + "\"\n]")
	send := func(n int) []string {
		ids := make([]string, n)
		for i := range ids {
			_, err := h.SendToUser("alice", ssekify.Event{Data: data})
			require.NoError(t, err)
			ev, err := s.Next(wait)
			require.NoError(t, err)
			require.Len(t, ev.Data, len(data))
			ids[i] = ev.LastEventID
		}
		return ids
	}
	first := send(6)
	require.NoError(t, ssekify.CheckReplay(h))
	require.Greater(t, h.Stats().ReplayBytes, int64(6*2*len(data)), "frame and data both counted")
	send(3)
	require.NoError(t, ssekify.CheckReplay(h))
	require.LessOrEqual(t, h.Stats().ReplayBytes, int64(bound))
	require.NoError(t, s.Close())
	eventually(t, "alice offline", func() bool { return !h.IsOnline("alice") })

	s = connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {first[0]}})
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultGapEvent, ev.Type, "nine events of 128 KiB can not all be held")
}

// TestReplayStoreDataInFrame: data that is a slice of the frame is not
// counted twice; a copy of its own is.
func TestReplayStoreDataInFrame(t *testing.T) {
	r := newStore(t, &ssekify.Options{RecentMaxBytes: -1}, newTestClock())
	r.Online("a")
	data := []byte(strings.Repeat("x", 1000))
	_, before, _ := r.Stats()
	inFrame := r.RecordData("user", "a", "1", data, true)
	_, after, _ := r.Stats()
	ring := int64(ssekify.DefaultRecentBufferSize * ssekify.PointerBytes)
	require.Equal(t, before+ring+int64(inFrame), after)
	copied := r.RecordData("user", "a", "2", data, false)
	require.Equal(t, inFrame+len(data), copied)
	_, final, _ := r.Stats()
	require.Equal(t, after+int64(copied), final)
	require.NoError(t, r.Check())
}

// TestReplayStoreOnlineCostsOverBound: when online users' own costs (their
// rooms) alone exceed RecentMaxBytes, offline users are forgotten, every
// buffer is emptied and nothing more is recorded — a recipient's older ids
// become unknown — until they shrink; the first of them to go offline is
// then forgotten too.
func TestReplayStoreOnlineCostsOverBound(t *testing.T) {
	clock := newTestClock()
	r := newStore(t, &ssekify.Options{RecentMaxBytes: 20_000}, clock)
	r.Online("b")
	r.RecordUser("b", "b1")
	r.Offline("b")
	r.Online("z")
	r.RecordUser("z", "z1")
	r.Online("a")
	r.RecordUser("a", "a1")
	require.True(t, since(r, "a", "a1").Found)
	for _, room := range longRooms("a", 40) { // 40 × ~700 bytes
		r.Join("a", room)
		require.NoError(t, r.Check())
	}
	users, bytes, evicted := r.Stats()
	require.Greater(t, bytes, int64(20_000))
	require.EqualValues(t, 2, users, "b (offline) forgotten")
	require.EqualValues(t, 3, evicted, "b, then z's and a's buffers")
	require.Equal(t, storeIDs{nil, "", true}, since(r, "z", "z1"), "z's buffer emptied from its newest event")
	r.Offline("z")
	users, _, _ = r.Stats()
	require.EqualValues(t, 1, users, "z, offline, goes at once")

	r.RecordUser("a", "a2")
	require.NoError(t, r.Check())
	require.False(t, since(r, "a", "a1").Found, "a2 was not kept: a1 no longer replays")
	require.Equal(t, storeIDs{nil, "", true}, since(r, "a", "a2"))

	r.Leave("a", longRooms("a", 40)[0])
	r.Offline("a")
	require.NoError(t, r.Check())
	users, bytes, _ = r.Stats()
	require.Zero(t, users)
	require.Zero(t, bytes)
}

// TestReplayStoreBytesConsistent: after every step of a random, seeded and
// bounded sequence of every store operation (connect, disconnect, join,
// leave, records of each kind and size, clears, TTL sweeps, LRU and byte
// evictions), the running byte figure equals the one recomputed from
// scratch, and Stats().ReplayBytes equals both.
func TestReplayStoreBytesConsistent(t *testing.T) {
	configs := []ssekify.Options{
		{RecentBufferSize: 4, RecentMaxUsers: 8, RecentTTL: time.Minute, RecentMaxBytes: 8000},
		// Tight: online users' own costs alone can exceed the bound.
		{RecentBufferSize: 3, RecentMaxUsers: -1, RecentTTL: -1, RecentMaxBytes: 3000},
		{RecentBufferSize: 5, RecentTTL: 30 * time.Second, RecentMaxBytes: -1},
	}
	users := []string{"a", "bb", "user-ccc", "d", "eeeeeeeeeeee", "f", "g7", "hhhh", "i", "jj"}
	rooms := []string{"r", "room-2", "a-much-longer-room-name-3", "r4", "rr5", "six"}
	const steps = 3000
	for ci, o := range configs {
		for seed := uint64(1); seed <= 3; seed++ {
			t.Run(fmt.Sprintf("config=%d/seed=%d", ci, seed), func(t *testing.T) {
				clock := newTestClock()
				r := newStore(t, &o, clock)
				rng := rand.New(rand.NewPCG(seed, uint64(ci)))
				pick := func(s []string) string { return s[rng.IntN(len(s))] }
				kinds := map[string]int{}
				for i := range steps {
					id := fmt.Sprintf("e%d", i)
					var op string
					switch n := rng.IntN(100); {
					case n < 15:
						op = "online"
						r.Online(pick(users))
					case n < 27:
						op = "offline"
						r.Offline(pick(users))
					case n < 45:
						op = "join"
						r.Join(pick(users), pick(rooms))
					case n < 52:
						op = "leave"
						r.Leave(pick(users), pick(rooms))
					case n < 64:
						op = "record user"
						r.RecordHeld("user", pick(users), id, 300+rng.IntN(1200))
					case n < 74:
						op = "record room"
						r.RecordHeld("room", pick(rooms), id, 300+rng.IntN(1200))
					case n < 80:
						op = "record all"
						r.RecordHeld("all", "", id, 300+rng.IntN(600))
					case n < 86:
						op = "record data"
						r.RecordData("user", pick(users), id, []byte(strings.Repeat("x", rng.IntN(800))), rng.IntN(2) == 0)
					case n < 88:
						op = "record huge"
						r.RecordSized(pick(users), id, 10_000)
					case n < 92:
						op = "clear user"
						r.Clear(pick(users))
					case n < 93:
						op = "clear all"
						r.Clear("")
					case n < 98:
						op = "advance"
						clock.Advance(time.Duration(rng.IntN(20)) * time.Second)
					default:
						op = "since"
						r.Since(pick(users), fmt.Sprintf("e%d", rng.IntN(i+1)))
					}
					kinds[op]++
					require.NoError(t, r.Check(), "step %d: %s", i, op)
				}
				require.Len(t, kinds, 13, "every operation ran")
				if o.RecentMaxBytes >= 0 || o.RecentTTL > 0 {
					_, _, evicted := r.Stats()
					require.Positive(t, evicted)
				}
			})
		}
	}
}
