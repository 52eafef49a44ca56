package ssekify_test

import (
	"encoding/json"
	"fmt"
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

// TestLogBytesOfflineUsersRooms: 300 users register, each in
// MaxRoomsPerStream rooms of MaxRoomBytes, get one event and disconnect.
// What their logs cost while unread (names, rings, events) counts against
// RecentMaxBytes: the figure stays under the bound and the logs unread the
// longest are forgotten, so the first user gets the gap event on its
// return while the last one still replays exactly.
func TestLogBytesOfflineUsersRooms(t *testing.T) {
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
	require.NoError(t, ssekify.CheckLogs(h))
	// One user's room logs alone cost over 100 KB: far fewer than 300
	// users' logs fit.
	require.Less(t, st.ReplayLogs, int64(users*ssekify.MaxRoomsPerStream/10))
	require.Positive(t, st.ReplayLogs)
	require.Greater(t, st.ReplayBytes, int64(bound/2), "the kept logs' names are counted")

	s := connect(t, srv, "user-000", "", http.Header{"Last-Event-ID": {last[0]}})
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultGapEvent, ev.Type, "the user offline the longest was forgotten: %s", ev.Data)

	s = connect(t, srv, fmt.Sprintf("user-%03d", users-1), "", http.Header{"Last-Event-ID": {last[users-1]}})
	mustSend(t, h, "user", fmt.Sprintf("user-%03d", users-1), "live")
	ev, err = s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, `"live"`, ev.Data, "the last user is still known: nothing missed, no gap")
	require.EqualValues(t, 2, h.Stats().ReplayHits)
	require.NoError(t, ssekify.CheckLogs(h))
}

// TestLogBytesSeparateData: an event whose data is a copy apart from its
// frame (data with a line break is) is counted with both, over HTTP: six
// events of 64 KiB hold more than 768 KiB, and three more exceed a 1 MiB
// bound, which drops the oldest events; a client behind them gets the gap
// event with their exact count, then the rest.
func TestLogBytesSeparateData(t *testing.T) {
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
	require.NoError(t, ssekify.CheckLogs(h))
	require.Greater(t, h.Stats().ReplayBytes, int64(6*2*len(data)), "frame and data both counted")
	send(3)
	require.NoError(t, ssekify.CheckLogs(h))
	require.LessOrEqual(t, h.Stats().ReplayBytes, int64(bound))
	require.NoError(t, s.Close())
	eventually(t, "alice offline", func() bool { return !h.IsOnline("alice") })

	s = connect(t, srv, "alice", "", http.Header{"Last-Event-ID": {first[0]}})
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultGapEvent, ev.Type, "nine events of 128 KiB can not all be held")
	var g gapEvent
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &g))
	require.Equal(t, "retention", g.Reason)
	require.True(t, g.Exact)
	held := 0
	for ; ; held++ {
		ev, err := s.Next(200 * time.Millisecond)
		if err != nil {
			break
		}
		require.Len(t, ev.Data, len(data))
	}
	require.Equal(t, 8, g.Missed+held, "what is not replayed is counted")
	require.Positive(t, held)
}
