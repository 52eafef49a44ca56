// Command upstream is a tiny SSE source for the bridge examples: it sends a
// "tick" event every interval to each open stream at /stream, with the
// X-Upstream-To header's value as the payload's userId.
//
//	go -C examples run ./bridge/upstream
//
// PORT sets the port (default 8000); INTERVAL the time between events
// (default 1s).
package main

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}
	s := &source{interval: time.Second}
	if v := os.Getenv("INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			log.Fatalf("INTERVAL %q: want a positive duration", v)
		}
		s.interval = d
	}
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           s.newMux(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	base := baseContext(srv)
	srv.BaseContext = func(net.Listener) context.Context { return base }
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("upstream SSE source: curl -N http://localhost:%s/stream", port)

	select {
	case err := <-served:
		log.Fatal(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
}
