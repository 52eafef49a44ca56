package ssekify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssekify/ssekify"
)

// addOfflineUsers registers n users whose stream ends at once, so that
// each leaves a log behind (kept for RecentTTL, within RecentMaxUsers).
func addOfflineUsers(b *testing.B, h *ssekify.Hub, prefix string, n int) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := httptest.NewRequest("GET", "/sse", nil).WithContext(ctx)
	w := &discard{hdr: http.Header{}}
	for i := range n {
		if err := h.Register(w, r, prefix+strconv.Itoa(i), nil); err != nil {
			b.Fatal(err)
		}
	}
	if c := h.Stats().Connections; c != 0 {
		b.Fatalf("%d connections left", c)
	}
}

// BenchmarkBroadcastOfflineUsers sends 256-byte events to everyone with
// 100 connected in-process streams and 0, 10,000 or 100,000 known offline
// users (each has a log). A broadcast is one append to everyone's log:
// neither ns/op nor allocs/op may grow with the offline users.
func BenchmarkBroadcastOfflineUsers(b *testing.B) {
	const online = 100
	for _, offline := range []int{0, 10_000, 100_000} {
		b.Run("offline="+strconv.Itoa(offline), func(b *testing.B) {
			h, err := ssekify.New(&ssekify.Options{KeepAlive: -1, MaxQueueItems: 1 << 16, MaxQueueBytes: 1 << 30,
				RecentMaxUsers: 200_000, RecentMaxBytes: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			addOfflineUsers(b, h, "off", offline)
			if got := h.Stats().ReplayLogs; got < int64(offline) {
				b.Fatalf("%d logs for %d offline users", got, offline)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := range online {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := httptest.NewRequest("GET", "/sse", nil).WithContext(ctx)
					_ = h.Register(&discard{hdr: http.Header{}}, r, "on"+strconv.Itoa(i), nil)
				}()
			}
			for h.Stats().Connections < online {
				time.Sleep(time.Millisecond)
			}
			payload := json.RawMessage(`"` + strings.Repeat("x", 254) + `"`)
			if _, err := h.SendToAll(ssekify.Event{Data: payload}); err != nil { // warm up
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.SendToAll(ssekify.Event{Data: payload}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cancel()
			wg.Wait()
		})
	}
}

// replayCapture is a streaming ResponseWriter that ends the stream once it
// has been given the id line of the last event to replay.
type replayCapture struct {
	hdr    http.Header
	last   []byte // id line of the last event the replay writes
	tail   int    // how far from the end of a write it can be
	events int    // id lines seen (counted when count is set)
	count  bool
	done   context.CancelFunc
}

func (c *replayCapture) Header() http.Header { return c.hdr }
func (c *replayCapture) WriteHeader(int)     {}
func (c *replayCapture) Flush()              {}
func (c *replayCapture) Write(p []byte) (int, error) {
	if c.count {
		c.events += bytes.Count(p, []byte("\nid: ")) + bytes.Count(p[:min(len(p), 4)], []byte("id: "))
	}
	// The writer gathers whole frames: the last id line is at most an
	// event's frame from the end of the write that holds it.
	if bytes.Contains(p[max(0, len(p)-c.tail):], c.last) {
		c.done()
	}
	return len(p), nil
}

// BenchmarkReplayMissed is the cost of a reconnect whose Last-Event-ID
// misses 10 or 1,000 events of its user's full log (4,096 events), with
// 10,000 other users' logs and everyone's full log present: in-process
// Register, the replay written to a capture writer, the stream ended once
// it is. The cost must follow the missed events, not the sizes of the logs
// or the number of users: "small" misses 10 of a 10-event log with no
// other user.
func BenchmarkReplayMissed(b *testing.B) {
	cases := []struct {
		name                  string
		missed, logged, users int
	}{
		{"missed=10", 10, 4096, 10_000},
		{"missed=1000", 1000, 4096, 10_000},
		{"missed=10/small", 10, 10, 0},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			h, err := ssekify.New(&ssekify.Options{KeepAlive: -1, RecentMaxUsers: 20_000})
			if err != nil {
				b.Fatal(err)
			}
			addOfflineUsers(b, h, "other", tc.users)
			addOfflineUsers(b, h, "me", 1) // user "me0" has a log
			payload := json.RawMessage(`"` + strings.Repeat("x", 126) + `"`)
			if tc.users > 0 {
				for range tc.logged { // everyone's log is full, and older
					if _, err := h.SendToAll(ssekify.Event{Data: payload}); err != nil {
						b.Fatal(err)
					}
				}
			}
			for range tc.logged {
				if _, err := h.SendToUser("me0", ssekify.Event{Data: payload}); err != nil {
					b.Fatal(err)
				}
			}
			last := ssekify.LastPosition(h)
			epoch := ssekify.Epoch(h)
			r := httptest.NewRequest("GET", "/sse", nil)
			r.Header.Set("Last-Event-ID", string(ssekify.AppendToken(nil, epoch, last-uint64(tc.missed))))
			w := &replayCapture{hdr: http.Header{}, last: append(append([]byte("id: "), ssekify.AppendToken(nil, epoch, last)...), '\n'), tail: 512}
			reconnect := func() {
				ctx, cancel := context.WithCancel(context.Background())
				w.done = cancel
				if err := h.Register(w, r.WithContext(ctx), "me0", nil); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
			w.count = true
			reconnect()
			if w.events != tc.missed {
				b.Fatalf("replayed %d events, want %d", w.events, tc.missed)
			}
			w.count = false
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				reconnect()
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tc.missed), "ns/event")
		})
	}
}
