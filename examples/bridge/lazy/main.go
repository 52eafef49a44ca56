// Command lazy bridges an upstream SSE source into a hub, connected only
// while browsers are: the first stream to open connects to the upstream,
// the last to close disconnects. Open http://localhost:3011/ and click
// Connect.
//
//	go -C examples run ./bridge/upstream &
//	go -C examples run ./bridge/lazy
//
// PORT sets the port (default 3011); UPSTREAM_URL the upstream stream
// (default http://localhost:8000/stream); UPSTREAM_TO, when set, is sent as
// the X-Upstream-To header, and the upstream then addresses its events to
// that user.
package main

import (
	"context"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ssekify/ssekify"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3011"
	}
	upstream := os.Getenv("UPSTREAM_URL")
	if upstream == "" {
		upstream = "http://localhost:8000/stream"
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	l, err := newLazy(upstream, os.Getenv("UPSTREAM_TO"), logger)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           newMux(l),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("bridge (lazy): http://localhost:%s/", port)

	select {
	case err := <-served:
		log.Fatal(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// The hub first (its streams close, and the last one stops the relay),
	// then the relay for good, then the server.
	if err := l.hub.Shutdown(sctx, ssekify.ShutdownOptions{}); err != nil {
		log.Print(err)
	}
	l.close()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
}
