package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

const wait = 5 * time.Second

// TestRoutes drives every route of the demo over HTTP and reads the streams.
func TestRoutes(t *testing.T) {
	hub, err := ssekify.New(&ssekify.Options{KeepAlive: -1})
	require.NoError(t, err)
	srv := httptest.NewServer(newMux(hub))
	t.Cleanup(func() { hub.CloseAll(); srv.Close() })

	page := get(t, srv, "/")
	require.Contains(t, page, "new EventSource('/sse?userId='")

	alice := stream(t, srv, "alice")
	bob := stream(t, srv, "bob")

	require.Equal(t, `{"delivered":1}`, post(t, srv, "/notify/alice", `{"text":"hi"}`))
	require.Equal(t, `{"ok":true}`, post(t, srv, "/broadcast", `{"text":"all"}`))
	require.Equal(t, `{"delivered":2}`, post(t, srv, "/room/global", `{"text":"room"}`))
	require.Equal(t, `{"ok":true}`, post(t, srv, "/publish-room/global", `{"text":"room2"}`))
	require.Equal(t, `{"error":"body is not JSON"}`, post(t, srv, "/notify/alice", `not json`))

	for _, c := range []struct {
		s    *ssetest.Stream
		want []string
	}{
		{alice, []string{"notify:hi", "broadcast:all", "room:room", "room:room2"}},
		{bob, []string{"broadcast:all", "room:room", "room:room2"}},
	} {
		evs, err := c.s.Collect(len(c.want), wait)
		require.NoError(t, err)
		var got []string
		for _, e := range evs {
			var d struct{ Text string }
			require.NoError(t, json.Unmarshal([]byte(e.Data), &d))
			got = append(got, e.Type+":"+d.Text)
		}
		require.Equal(t, c.want, got)
	}

	var st ssekify.Stats
	require.NoError(t, json.Unmarshal([]byte(get(t, srv, "/stats")), &st))
	require.EqualValues(t, 2, st.Connections)
	require.EqualValues(t, 1, st.Rooms)

	require.Equal(t, `{"closed":true}`, post(t, srv, "/close/alice", ""))
	_, err = alice.Next(wait)
	require.ErrorIs(t, err, io.EOF)
	require.False(t, hub.IsOnline("alice"))
	require.True(t, hub.IsOnline("bob"))
}

func stream(t *testing.T, srv *httptest.Server, user string) *ssetest.Stream {
	t.Helper()
	s, err := ssetest.Connect(context.Background(), srv.Client(), srv.URL+"/sse?userId="+user, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func get(t *testing.T, srv *httptest.Server, path string) string {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func post(t *testing.T, srv *httptest.Server, path, body string) string {
	t.Helper()
	resp, err := srv.Client().Post(srv.URL+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}
