package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssekify/ssekify"

	"github.com/ssekify/ssekify/benchmarks/internal/loopback"
)

// ssekifyPair is two ssekify hubs, each with its own go-redis client and
// ssekify.NewRedisBroker and default options otherwise. Hub B serves
// GET /sse?user=<id> as a user stream.
type ssekifyPair struct {
	clientA, clientB *redis.Client
	hubA, hubB       *ssekify.Hub
	srv              *http.Server
	base             string
}

// newSsekifyPair starts the two hubs on the Redis server at addr and B's
// HTTP server. On error, what was started is closed.
func newSsekifyPair(addr string) (_ *ssekifyPair, err error) {
	p := &ssekifyPair{
		clientA: redis.NewClient(&redis.Options{Addr: addr}),
		clientB: redis.NewClient(&redis.Options{Addr: addr}),
	}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.hubA, err = ssekify.New(&ssekify.Options{Redis: ssekify.NewRedisBroker(p.clientA)}); err != nil {
		return nil, fmt.Errorf("ssekify hub A: %w", err)
	}
	if p.hubB, err = ssekify.New(&ssekify.Options{Redis: ssekify.NewRedisBroker(p.clientB)}); err != nil {
		return nil, fmt.Errorf("ssekify hub B: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		_ = p.hubB.Register(w, r, r.URL.Query().Get("user"), nil)
	})
	if p.srv, p.base, err = loopback.Serve(mux); err != nil {
		return nil, err
	}
	return p, nil
}

// publish calls hub A's PublishToUser with payload as the event's data.
func (p *ssekifyPair) publish(ctx context.Context, user string, payload []byte) error {
	return p.hubA.PublishToUser(ctx, user, ssekify.Event{Data: json.RawMessage(payload)})
}

// streamURL is user's stream on hub B.
func (p *ssekifyPair) streamURL(user string) string {
	return p.base + "/sse?user=" + url.QueryEscape(user)
}

// close shuts both hubs down (5 s each, streams closed at once), then B's
// HTTP server and the Redis clients.
func (p *ssekifyPair) close() {
	for _, h := range []*ssekify.Hub{p.hubA, p.hubB} {
		if h != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = h.Shutdown(ctx, ssekify.ShutdownOptions{Grace: -1, NoAnnounce: true})
			cancel()
		}
	}
	if p.srv != nil {
		_ = p.srv.Close()
	}
	for _, c := range []*redis.Client{p.clientA, p.clientB} {
		_ = c.Close()
	}
}
