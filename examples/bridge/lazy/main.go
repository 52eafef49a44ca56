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
	"log"
	"log/slog"
	"os"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/run"
)

func main() {
	upstream := os.Getenv("UPSTREAM_URL")
	if upstream == "" {
		upstream = "http://localhost:8000/stream"
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	l, err := newLazy(upstream, os.Getenv("UPSTREAM_TO"), logger)
	if err != nil {
		log.Fatal(err)
	}
	err = run.Serve("3011", "bridge (lazy): http://localhost:%s/", newMux(l), func(ctx context.Context) error {
		// The hub first (its streams close, and the last one stops the
		// relay), then the relay for good; run.Serve then shuts the server
		// down.
		err := l.hub.Shutdown(ctx, ssekify.ShutdownOptions{})
		l.close()
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}
