package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ssekify/ssekify"

	"github.com/ssekify/ssekify/benchmarks/internal/loopback"
)

// instance is the -role instance process: one hub on the Redis server,
// its streams' HTTP server and its control endpoint.
type instance struct {
	hub   *ssekify.Hub
	bytes *redisBytes
}

// runInstance starts the hub (default options, heartbeats off with
// -no-heartbeats; instance id "i<N>"), serves its streams
// and its control endpoint on 127.0.0.1, announces them, and shuts down
// when its standard input ends.
func runInstance(c config) error {
	in := &instance{bytes: newRedisBytes()}
	client := redis.NewClient(&redis.Options{Addr: c.redisAddr, Dialer: in.bytes.dial})
	defer client.Close()
	hub, err := ssekify.New(&ssekify.Options{
		Redis:      ssekify.NewRedisBroker(client),
		InstanceID: "i" + strconv.Itoa(c.index),
		KeepAlive:  keepAlive(c.noHeartbeats),
		Lean:       c.lean,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return fmt.Errorf("ssekify.New: %w", err)
	}
	in.hub = hub
	defer in.shutdown()

	streams := http.NewServeMux()
	streams.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		_ = hub.Register(w, r, r.URL.Query().Get("user"), nil)
	})
	sseSrv, sseURL, err := loopback.Serve(streams)
	if err != nil {
		return err
	}
	defer sseSrv.Close()
	ctl := http.NewServeMux()
	ctl.HandleFunc("GET "+pathStats, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, in.stats()) })
	ctl.HandleFunc("POST "+pathPublish, in.handlePublish)
	ctlSrv, ctlURL, err := loopback.Serve(ctl)
	if err != nil {
		return err
	}
	defer ctlSrv.Close()
	announce(sseURL, ctlURL)
	waitStdinEOF(c.life)
	return nil
}

// stats is the answer of GET /stats.
func (in *instance) stats() instanceStats {
	t := in.bytes.totals()
	return instanceStats{
		Hub:          in.hub.Stats(),
		RedisRead:    t.read,
		RedisWritten: t.written,
		SubRead:      t.subRead,
		SubWritten:   t.subWritten,
		RedisConns:   t.conns,
		SubConns:     t.subConns,
		CPUNs:        processCPU(),
		Goroutines:   runtime.NumGoroutine(),
		AtNs:         time.Now().UnixNano(),
	}
}

// handlePublish runs a publishReq and answers its publishResult. The
// request's own context is not used: the publish is bounded by itself.
func (in *instance) handlePublish(w http.ResponseWriter, r *http.Request) {
	var req publishReq
	if !readJSON(w, r, &req) {
		return
	}
	if req.Publishers < 1 || req.Publishers > 64 || req.Rate < 0 || len(req.Users) == 0 {
		http.Error(w, "bad publish request", http.StatusBadRequest)
		return
	}
	writeJSON(w, publishAll(context.Background(), in.hub, req))
}

// shutdown closes every stream at once, without announcement, within 5 s.
func (in *instance) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := in.hub.Shutdown(ctx, ssekify.ShutdownOptions{Grace: -1, NoAnnounce: true}); err != nil {
		log.Printf("shutdown: %v", err)
	}
}

// keepAlive is Options.KeepAlive: the default, or -1 (off).
func keepAlive(off bool) time.Duration {
	if off {
		return -1
	}
	return 0
}
