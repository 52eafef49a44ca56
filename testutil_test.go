package ssekify_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
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

// sendTo sends ev to a user, a room or everyone ("user", "room", else all).
func sendTo(h *ssekify.Hub, kind, target string, ev ssekify.Event) error {
	var err error
	switch kind {
	case "user":
		_, err = h.SendToUser(target, ev)
	case "room":
		_, err = h.SendToRoom(target, ev)
	default:
		_, err = h.SendToAll(ev)
	}
	return err
}

// mustSend sends data to a user, a room or everyone and fails on error.
func mustSend(t testing.TB, h *ssekify.Hub, kind, target string, data any) {
	t.Helper()
	require.NoError(t, sendTo(h, kind, target, ssekify.Event{Data: data}))
}
