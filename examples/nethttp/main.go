// Command nethttp is the ssekify demo: a net/http server with a page at
// http://localhost:3000/ that shows events as they arrive, and Prometheus
// metrics at /metrics.
//
//	go -C examples run ./nethttp
//
// PORT sets the port (default 3000). On SIGINT or SIGTERM it shuts down in
// the order every ssekify server should: the hub first (announce, grace
// period, close the streams), then the HTTP server, which the open streams
// would otherwise hold forever.
package main

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ssekify/ssekify"
	ssekifyprom "github.com/ssekify/ssekify/prometheus"
)

// shutdownTimeout bounds the whole shutdown: the hub's grace period and the
// server's wait for its other requests.
const shutdownTimeout = 15 * time.Second

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	logger.Info("ssekify demo: http://localhost:" + port + "/")
	if err := run(ctx, ln, ssekify.ShutdownOptions{}, logger); err != nil {
		log.Fatal(err)
	}
}

// run serves the demo on ln until ctx ends, then shuts the hub down with
// shut and the server after it.
func run(ctx context.Context, ln net.Listener, shut ssekify.ShutdownOptions, logger *slog.Logger) error {
	// With REDIS_URL set (redis://user:pass@host:6379/0), instances on
	// several ports form one cluster: Publish* reach every instance.
	hub, err := ssekify.New(&ssekify.Options{Logger: logger, RedisURL: os.Getenv("REDIS_URL")})
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		ssekifyprom.NewCollector(hub),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := newMux(hub)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served: // the server failed on its own
		_ = hub.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: -1})
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// The hub first: it tells the clients, waits the grace period and ends
	// every stream. Only then can the server's Shutdown finish.
	if err := hub.Shutdown(sctx, shut); err != nil {
		logger.Error("hub shutdown", slog.Any("err", err))
	}
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
