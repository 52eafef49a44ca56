package ssekify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// capture is a streaming ResponseWriter that keeps what it is given.
type capture struct {
	hdr http.Header
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) Header() http.Header { return c.hdr }
func (c *capture) WriteHeader(int)     {}
func (c *capture) Flush()              {}
func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *capture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// FuzzID: no Last-Event-ID panics the hub, and none makes a stream read a
// log it does not own. Alice's stream reads her log, her room's and
// everyone's; whatever id she sends, she never gets Bob's events nor those
// of a room she is not in.
func FuzzID(f *testing.F) {
	h, err := ssekify.New(&ssekify.Options{KeepAlive: -1, Retry: -1,
		AutoFields: ssekify.AutoFields{Timestamp: ssekify.TimestampOff}})
	if err != nil {
		f.Fatal(err)
	}
	defer h.CloseAll()
	// Bob and a room Alice is not in must have logs: give them streams.
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	for _, who := range []struct{ user, room string }{{"bob", "secret"}, {"alice", "mine"}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := httptest.NewRequest("GET", "/sse", nil).WithContext(ctx)
			_ = h.Register(&capture{hdr: http.Header{}}, r, who.user, &ssekify.RegisterOptions{Rooms: []string{who.room}})
		}()
	}
	deadline := time.Now().Add(wait)
	for h.Stats().Connections < 2 {
		if time.Now().After(deadline) {
			f.Fatal("streams not registered")
		}
		time.Sleep(time.Millisecond)
	}
	send := func(kind, target, data string, id string) error {
		return sendTo(h, kind, target, ssekify.Event{ID: id, Data: json.RawMessage(`"` + data + `"`)})
	}
	epoch := ssekify.Epoch(h)
	for i := range 5 {
		for _, err := range []error{
			send("user", "bob", "bob-private", ""),
			send("room", "secret", "secret-room", ""),
			send("user", "alice", "alice", ""),
			send("room", "mine", "alice-room", ""),
			send("all", "", "everyone", ""),
			send("user", "bob", "bob-custom", "custom-"+string(rune('a'+i))),
		} {
			if err != nil {
				f.Fatal(err)
			}
		}
		f.Add(string(ssekify.AppendToken(nil, epoch, uint64(i*6))))
	}
	f.Add("custom-a")
	f.Add("v1.0.0")
	f.Add(string(ssekify.AppendToken(nil, epoch+1, 3)))
	f.Add(string(ssekify.AppendToken(nil, epoch, 1<<40)))
	f.Add(strings.Repeat("v1.", 400))
	f.Add("\x00\r\n")
	stop()
	wg.Wait()

	f.Fuzz(func(t *testing.T, lastID string) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r := httptest.NewRequest("GET", "/sse", nil).WithContext(ctx)
		r.Header["Last-Event-Id"] = []string{lastID}
		w := &capture{hdr: http.Header{}}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = h.Register(w, r, "alice", &ssekify.RegisterOptions{Rooms: []string{"mine"}})
		}()
		// A fence after registration: once it is written, the replay is too.
		deadline := time.Now().Add(wait)
		for !strings.Contains(w.String(), "fence") {
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("no fence for %q: %q", lastID, w.String())
			}
			if h.UserConnections("alice") == 1 {
				if err := send("user", "alice", "fence", ""); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		<-done
		evs, _ := ssetest.Parse([]byte(w.String()))
		for _, ev := range evs {
			if strings.Contains(ev.Data, "bob") || strings.Contains(ev.Data, "secret") {
				t.Fatalf("Last-Event-ID %q read a foreign log: %q", lastID, ev.Data)
			}
		}
	})
}
