package extest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Upstream is a stand-in upstream SSE source for the bridge tests: it sends
// what Emit is given to every open stream, and counts its streams.
type Upstream struct {
	// URL is the stream's address.
	URL string

	open   atomic.Int64
	mu     sync.Mutex
	subs   map[chan string]bool
	header http.Header // the last stream request's headers
}

// StartUpstream serves an Upstream until the test ends.
func StartUpstream(t testing.TB) *Upstream {
	t.Helper()
	u := &Upstream{subs: make(map[chan string]bool)}
	srv := httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	u.URL = srv.URL + "/stream"
	return u
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	ch := make(chan string, 16)
	u.mu.Lock()
	u.subs[ch] = true
	u.header = r.Header.Clone()
	u.mu.Unlock()
	u.open.Add(1)
	defer func() {
		u.mu.Lock()
		delete(u.subs, ch)
		u.mu.Unlock()
		u.open.Add(-1)
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case frame := <-ch:
			if _, err := fmt.Fprint(w, frame); err != nil || rc.Flush() != nil {
				return
			}
		}
	}
}

// Emit sends an event of type typ with data (one line) to every open stream.
func (u *Upstream) Emit(typ, data string) {
	frame := "data: " + data + "\n\n"
	if typ != "" {
		frame = "event: " + typ + "\n" + frame
	}
	u.Raw(frame)
}

// Raw sends frame, as it is, to every open stream.
func (u *Upstream) Raw(frame string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for ch := range u.subs {
		ch <- frame
	}
}

// Open returns how many streams are open.
func (u *Upstream) Open() int64 { return u.open.Load() }

// Header returns a header of the last stream request.
func (u *Upstream) Header(name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return strings.Join(u.header.Values(name), ",")
}
