// Package extest holds what the examples' tests share: serving a handler over
// loopback HTTP, reading its streams, posting JSON, waiting for a Redis
// subscription, and building and running example programs as processes.
package extest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// Wait bounds every wait of the examples' tests.
const Wait = 5 * time.Second

// Quiet is how long a test listens to make sure nothing more arrives.
const Quiet = 300 * time.Millisecond

// Client is the HTTP client of the tests: its own transport, so that idle
// connections do not outlive a test.
func Client(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// ShutdownAtEnd shuts hub down at the end of the test, at once (no grace).
// Call it before Serve: cleanups run last first, so the server stops before
// the hub.
func ShutdownAtEnd(t testing.TB, hub *ssekify.Hub) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		if err := hub.Shutdown(ctx, ssekify.ShutdownOptions{Grace: -1}); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
	})
}

// Serve serves h on a loopback port until the test ends and returns its base
// URL ("http://127.0.0.1:port"). At the end it cuts the open streams and
// closes the server.
func Serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL
}

// Connect opens a stream on url and closes it at the end of the test.
func Connect(t testing.TB, c *http.Client, url string, header http.Header) *ssetest.Stream {
	t.Helper()
	s, err := ssetest.Connect(context.Background(), c, url, header)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Next returns the stream's next event, which must be of type typ.
func Next(t testing.TB, s *ssetest.Stream, typ string) ssetest.Event {
	t.Helper()
	ev, err := s.Next(Wait)
	if err != nil {
		t.Fatalf("waiting for a %q event: %v", typ, err)
	}
	if ev.Type != typ {
		t.Fatalf("got a %q event (%s), want %q", ev.Type, ev.Data, typ)
	}
	return ev
}

// NoEvent fails the test when s receives an event within Quiet.
func NoEvent(t testing.TB, s *ssetest.Stream) {
	t.Helper()
	if ev, err := s.Next(Quiet); err == nil {
		t.Fatalf("unexpected %q event: %s", ev.Type, ev.Data)
	} else if !errors.Is(err, ssetest.ErrTimeout) {
		t.Fatalf("stream: %v", err)
	}
}

// Ended fails the test unless the server ends s within Wait.
func Ended(t testing.TB, s *ssetest.Stream) {
	t.Helper()
	for {
		ev, err := s.Next(Wait)
		switch {
		case errors.Is(err, io.EOF):
			return
		case err != nil:
			t.Fatalf("the stream did not end: %v", err)
		}
		t.Logf("event before the end: %q %s", ev.Type, ev.Data)
	}
}

// Object decodes an event's data, a JSON object.
func Object(t testing.TB, ev ssetest.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
		t.Fatalf("event data %q is not a JSON object: %v", ev.Data, err)
	}
	return m
}

// Post sends body (JSON; "" for none) to url and returns the status and the
// decoded JSON answer.
func Post(t testing.TB, c *http.Client, url, body string) (int, map[string]any) {
	t.Helper()
	return Do(t, c, http.MethodPost, url, body)
}

// Get fetches url and returns the status and the decoded JSON answer.
func Get(t testing.TB, c *http.Client, url string) (int, map[string]any) {
	t.Helper()
	return Do(t, c, http.MethodGet, url, "")
}

// Do sends a request with an optional JSON body and decodes the JSON answer.
func Do(t testing.TB, c *http.Client, method, url, body string) (int, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	var m map[string]any
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: answer %q is not a JSON object: %v", method, url, raw, err)
		}
	}
	return resp.StatusCode, m
}

// Want fails the test unless the answer has status 200 and the field equal
// to want (numbers compare as float64).
func Want(t testing.TB, status int, answer map[string]any, field string, want any) {
	t.Helper()
	WantCode(t, http.StatusOK, status, answer, field, want)
}

// WantCode is Want for a status other than 200.
func WantCode(t testing.TB, code, status int, answer map[string]any, field string, want any) {
	t.Helper()
	if status != code {
		t.Fatalf("status %d (%v), want %d", status, answer, code)
	}
	if got, ok := answer[field]; !ok || got != want {
		t.Fatalf("answer %v: %s = %v, want %v", answer, field, got, want)
	}
}

// Eventually polls cond every 20 ms until it is true, failing the test after
// Wait.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Subscribers returns how many clients of the Redis servers at addrs are
// subscribed to channel, summed over the servers (a Cluster node counts only
// its own clients).
func Subscribers(addrs []string, password, channel string) int64 {
	var n int64
	for _, a := range addrs {
		v, err := redistest.Do(a, password, "PUBSUB", "NUMSUB", channel)
		if list, ok := v.([]any); err == nil && ok && len(list) == 2 {
			if c, ok := list[1].(int64); ok {
				n += c
			}
		}
	}
	return n
}

// ShardSubscribers returns how many clients of the Cluster nodes at addrs
// are subscribed to the shard channel of a hub's channel ("{"+channel+"}",
// where a hub on a Cluster subscribes), summed over the nodes.
func ShardSubscribers(addrs []string, password, channel string) int64 {
	var n int64
	for _, a := range addrs {
		v, err := redistest.Do(a, password, "PUBSUB", "SHARDNUMSUB", "{"+channel+"}")
		if list, ok := v.([]any); err == nil && ok && len(list) == 2 {
			if c, ok := list[1].(int64); ok {
				n += c
			}
		}
	}
	return n
}

// WaitShardSubscribers is WaitSubscribers for hubs on a Cluster, which
// subscribe to their channel's shard channel (SSUBSCRIBE).
func WaitShardSubscribers(t testing.TB, addrs []string, password, channel string, n int64) {
	t.Helper()
	Eventually(t, "shard subscribers of "+channel, func() bool { return ShardSubscribers(addrs, password, channel) >= n })
}

// WaitSubscribers waits until at least n clients are subscribed to channel:
// a hub subscribes in the background, and a message published before its
// subscription is active never reaches it (Redis Pub/Sub keeps nothing).
func WaitSubscribers(t testing.TB, addrs []string, password, channel string, n int64) {
	t.Helper()
	Eventually(t, "subscribers of "+channel, func() bool { return Subscribers(addrs, password, channel) >= n })
}
