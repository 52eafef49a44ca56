// Command baseline is the benchmark server of a plain net/http broadcaster:
// a map of connections under a mutex, a buffered channel per connection, and
// one write and one flush per frame. A frame that does not fit a full
// channel is dropped for that connection.
package main

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/ssekify/ssekify/benchmarks/internal/harness"
)

// defaultQueue is the channel capacity when -queue-items is not given.
const defaultQueue = 1024

func main() {
	harness.Main("baseline", func(cfg harness.Config) (harness.Library, error) {
		q := cfg.QueueItems
		if q <= 0 {
			q = defaultQueue
		}
		return &hub{queue: q, conns: make(map[*conn]struct{})}, nil
	})
}

type conn struct {
	ch chan []byte
}

type hub struct {
	queue   int
	mu      sync.Mutex
	conns   map[*conn]struct{}
	dropped atomic.Int64
}

func (h *hub) ServeStream(w http.ResponseWriter, r *http.Request, _ string) {
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f.Flush()

	c := &conn{ch: make(chan []byte, h.queue)}
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, c)
		h.mu.Unlock()
	}()

	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case frame := <-c.ch:
			if _, err := w.Write(frame); err != nil {
				return
			}
			f.Flush()
		}
	}
}

func (h *hub) Publish(payload []byte) (int, error) {
	frame := make([]byte, 0, len(payload)+8)
	frame = append(frame, "data: "...)
	frame = append(frame, payload...)
	frame = append(frame, '\n', '\n')
	n := 0
	h.mu.Lock()
	for c := range h.conns {
		select {
		case c.ch <- frame:
			n++
		default:
			h.dropped.Add(1)
		}
	}
	h.mu.Unlock()
	return n, nil
}

func (h *hub) Dropped() int64 { return h.dropped.Load() }

func (h *hub) Close(context.Context) error { return nil }
