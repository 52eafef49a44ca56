package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// source is a tiny upstream SSE service standing in for another team's
// stream (a market feed, a model server): every interval it sends each open
// stream a "tick" event. A stream opened with an X-Upstream-To header gets
// that value as the userId of each payload, which the bridges turn into
// per-user delivery.
type source struct {
	interval time.Duration
	closing  chan struct{} // closed by close: the open streams end
	open     atomic.Int64  // streams open now
	opened   atomic.Int64  // streams opened since start
	next     atomic.Int64  // the last event number
}

// newMux returns the source's routes:
//
//	GET /stream   the event stream
//	GET /stats    {"open": streams open now, "opened": since start}
func (s *source) newMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stream", s.stream)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]int64{"open": s.open.Load(), "opened": s.opened.Load()})
	})
	return mux
}

// stream writes tick events until the client leaves (the request's context
// ends) or the source is closed.
func (s *source) stream(w http.ResponseWriter, r *http.Request) {
	s.open.Add(1)
	s.opened.Add(1)
	defer s.open.Add(-1)
	to := r.Header.Get("X-Upstream-To")
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
			return
		case now := <-tick.C:
			if err := s.send(w, rc, now, to); err != nil {
				return
			}
		}
	}
}

// send writes one tick event and flushes it.
func (s *source) send(w http.ResponseWriter, rc *http.ResponseController, now time.Time, to string) error {
	n := s.next.Add(1)
	payload := map[string]any{"n": n, "at": now.UTC().Format(time.RFC3339Nano)}
	if to != "" {
		payload["userId"] = to
	}
	data, err := json.Marshal(payload) // one line: no newline in JSON output
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w, "id: %d\nevent: tick\ndata: %s\n\n", n, data); err != nil {
		return err
	}
	return rc.Flush()
}

// close ends the open streams, which the server's Shutdown would otherwise
// wait for: the source's counterpart of a hub's Shutdown, to call before the
// server's.
func (s *source) close(context.Context) error {
	close(s.closing)
	return nil
}
