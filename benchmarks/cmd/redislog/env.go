package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssekify/ssekify"

	"github.com/ssekify/ssekify/benchmarks/internal/loopback"
	"github.com/ssekify/ssekify/benchmarks/internal/redisproc"
	"github.com/ssekify/ssekify/benchmarks/internal/sseclient"
	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// env is what every scenario runs on: the Redis server, two hubs on it
// (each with its own go-redis client and broker), an HTTP server per hub on
// 127.0.0.1, and an HTTP client for streams.
type env struct {
	cfg            config
	redis          *redisproc.Server
	admin          *redis.Client // INFO and DBSIZE, never used by a hub
	clientA        *redis.Client
	clientB        *redis.Client
	hubA, hubB     *ssekify.Hub
	srvA, srvB     *http.Server
	baseA, baseB   string // http://127.0.0.1:port
	hc             *http.Client
	eventName      string
	warmupDuration time.Duration
}

// setup starts everything env holds and checks that an event published on
// A reaches a stream on B through Redis (at most 10 s). On error, what was
// started is stopped.
func setup(ctx context.Context, c config) (_ *env, err error) {
	e := &env{cfg: c, hc: sseclient.NewHTTPClient(), eventName: "bench"}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.redis, err = redisproc.Start(ctx, c.redisServer, "redislog"); err != nil {
		return nil, err
	}
	log.Printf("redis-server on %s (pid %d)", e.redis.Addr, e.redis.PID())
	newClient := func() *redis.Client {
		return redis.NewClient(&redis.Options{Addr: e.redis.Addr})
	}
	e.admin, e.clientA, e.clientB = newClient(), newClient(), newClient()
	if e.hubA, err = ssekify.New(&ssekify.Options{Redis: ssekify.NewRedisBroker(e.clientA)}); err != nil {
		return nil, fmt.Errorf("hub A: %w", err)
	}
	if e.hubB, err = ssekify.New(&ssekify.Options{Redis: ssekify.NewRedisBroker(e.clientB)}); err != nil {
		return nil, fmt.Errorf("hub B: %w", err)
	}
	if e.srvA, e.baseA, err = serve(e.hubA); err != nil {
		return nil, err
	}
	if e.srvB, e.baseB, err = serve(e.hubB); err != nil {
		return nil, err
	}
	start := time.Now()
	if err = e.warmup(ctx); err != nil {
		return nil, err
	}
	e.warmupDuration = time.Since(start)
	return e, nil
}

// serve starts an HTTP server for hub on a free port of 127.0.0.1:
// GET /sse?user=<id>[&room=<room>] registers a stream of that user (in
// that room).
func serve(hub *ssekify.Hub) (*http.Server, string, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		var opts *ssekify.RegisterOptions
		if room := r.URL.Query().Get("room"); room != "" {
			opts = &ssekify.RegisterOptions{Rooms: []string{room}}
		}
		_ = hub.Register(w, r, r.URL.Query().Get("user"), opts)
	})
	return loopback.Serve(mux)
}

// warmup opens a stream on B and publishes on A every 50 ms until it gets
// an event: then B's subscription is live.
func (e *env) warmup(ctx context.Context) error {
	s, err := sseclient.Open(ctx, e.hc, e.baseB+"/sse?user=warmup", "", 15*time.Second)
	if err != nil {
		return fmt.Errorf("warm-up stream on B: %w", err)
	}
	defer s.Close()
	if err := s.WaitOpen(5 * time.Second); err != nil {
		return fmt.Errorf("warm-up stream on B: %w", err)
	}
	for i := 0; i < 200; i++ {
		if err := e.publishUser(ctx, "warmup", 0); err != nil && i > 100 {
			return fmt.Errorf("warm-up publish: %w", err)
		}
		if _, ok := s.Next(50 * time.Millisecond); ok {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return errors.New("an event published on A did not reach a stream on B within 10 s")
}

// payload returns an event whose data is wire's payload: the time now and
// seq, padded to the configured size.
func (e *env) payload(seq int64) ssekify.Event {
	return ssekify.Event{Name: e.eventName, Data: json.RawMessage(wire.AppendPayload(nil, time.Now().UnixNano(), seq, e.cfg.size))}
}

// publishUser publishes one event numbered seq to user from A, within 2 s.
func (e *env) publishUser(ctx context.Context, user string, seq int64) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return e.hubA.PublishToUser(ctx, user, e.payload(seq))
}

// close shuts both hubs down, then the HTTP servers, the clients and the
// Redis server, each bounded.
func (e *env) close() {
	for _, h := range []*ssekify.Hub{e.hubA, e.hubB} {
		if h != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = h.Shutdown(ctx, ssekify.ShutdownOptions{Grace: -1, NoAnnounce: true})
			cancel()
		}
	}
	for _, s := range []*http.Server{e.srvA, e.srvB} {
		if s != nil {
			_ = s.Close()
		}
	}
	for _, c := range []*redis.Client{e.clientA, e.clientB, e.admin} {
		if c != nil {
			_ = c.Close()
		}
	}
	e.redis.Stop()
}

// waitReceived waits until B's Stats().Received is at least from+want, or
// it did not move for 200 ms (a broker that counts differently, or lost
// envelopes), or limit passed. It reports whether the count was reached.
func (e *env) waitReceived(ctx context.Context, from, want int64, limit time.Duration) bool {
	last, moved := e.hubB.Stats().Received, time.Now()
	return waitFor(ctx, limit, func() bool {
		n := e.hubB.Stats().Received
		if n-from >= want {
			return true
		}
		if n != last {
			last, moved = n, time.Now()
		}
		return time.Since(moved) > 200*time.Millisecond
	}) && e.hubB.Stats().Received-from >= want
}

// waitFor polls cond every 2 ms until it holds or d passed; it reports
// whether it held.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}
