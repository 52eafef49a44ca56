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

// timeouts bound how long a client can hold a connection without doing its
// part. None of them applies to the stream (GET /sse), which is meant to
// stay open for hours: the hub gives each of its writes a deadline
// (Options.WriteTimeout) and notices a client that went away.
type timeouts struct {
	// header bounds reading a request's line and headers
	// (http.Server.ReadHeaderTimeout), on a new connection as on a
	// keep-alive one.
	header time.Duration
	// idle bounds a keep-alive connection waiting for its next request
	// (http.Server.IdleTimeout).
	idle time.Duration
	// body bounds reading the body of a request to any route but the
	// stream, from the moment its handler starts (a read deadline).
	body time.Duration
	// request bounds the whole of such a request, its answer included (a
	// write deadline and the request context's deadline, which also bounds
	// a publish to the broker). It is longer than body, so that a body cut
	// by its deadline can still be answered 408.
	request time.Duration
}

// defaultTimeouts are the demo's.
var defaultTimeouts = timeouts{
	header:  10 * time.Second,
	idle:    time.Minute,
	body:    10 * time.Second,
	request: 15 * time.Second,
}

// newServer returns the demo's server for hub: the routes of newMux and
// /metrics, bounded by t.
//
// ReadTimeout and WriteTimeout are not set: they are deadlines the server
// puts on every request, the stream included, which must outlive any of
// them. The stream survives them only by details — net/http lifts the read
// deadline once a request's body is read, and the hub replaces the write
// deadline with its own on each write — and a WriteTimeout does end it
// whenever the hub can not reach the connection's deadline (behind a
// ResponseWriter wrapper without Unwrap). withDeadlines gives deadlines per
// route instead, to every route but the stream.
func newServer(hub *ssekify.Hub, t timeouts) *http.Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		ssekifyprom.NewCollector(hub),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	mux := newMux(hub)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &http.Server{
		Handler:           withDeadlines(mux, t),
		ReadHeaderTimeout: t.header,
		IdleTimeout:       t.idle,
	}
}

// withDeadlines serves mux, giving every request routed elsewhere than to
// the stream a read deadline for its body (t.body) and a write deadline and
// context deadline for the whole (t.request). The stream gets no deadline
// from here: the hub manages its write deadline itself.
func withDeadlines(mux *http.ServeMux, t timeouts) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == streamRoute {
			mux.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rc := http.NewResponseController(w)
		// The errors are ErrNotSupported, from a ResponseWriter without
		// deadlines: the request context's deadline still holds.
		if r.Body != http.NoBody {
			// A request without a body has nothing to read; a read deadline
			// would only cut its context short, when net/http's background
			// read (which watches for the client going away) hits it.
			_ = rc.SetReadDeadline(start.Add(t.body))
		}
		_ = rc.SetWriteDeadline(start.Add(t.request))
		ctx, cancel := context.WithDeadline(r.Context(), start.Add(t.request))
		defer cancel()
		mux.ServeHTTP(w, r.WithContext(ctx))
	})
}

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
	srv := newServer(hub, defaultTimeouts)
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
