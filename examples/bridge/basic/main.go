// Command basic bridges an upstream SSE source into a hub: it connects to
// the upstream at start, stays connected (reconnecting when it drops) and
// forwards each event to every browser, or to one user when the payload
// names a userId.
//
//	go -C examples run ./bridge/upstream &
//	go -C examples run ./bridge/basic
//
// PORT sets the port (default 3010); UPSTREAM_URL the upstream stream
// (default http://localhost:8000/stream); UPSTREAM_TO, when set, is sent as
// the X-Upstream-To header, and the upstream then addresses its events to
// that user.
package main

import (
	"context"
	"log"
	"log/slog"
	"os"
	"sync"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/bridge/relay"
	"github.com/ssekify/ssekify/examples/internal/run"
)

func main() {
	upstream := os.Getenv("UPSTREAM_URL")
	if upstream == "" {
		upstream = "http://localhost:8000/stream"
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	hub, err := ssekify.New(&ssekify.Options{Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	rl := &relay.Relay{Hub: hub, URL: upstream, To: os.Getenv("UPSTREAM_TO"), Logger: logger}

	// The relay runs from start to end.
	relayCtx, stopRelay := context.WithCancel(context.Background())
	var relayDone sync.WaitGroup
	relayDone.Add(1)
	go func() {
		defer relayDone.Done()
		if err := rl.Run(relayCtx); err != nil {
			logger.Error("upstream refused the stream", slog.Any("err", err))
		}
	}()

	err = run.Serve("3010", "bridge (basic): curl -N 'http://localhost:%s/sse?userId=alice'", newMux(hub, rl),
		func(ctx context.Context) error {
			// Stop forwarding, then shut the hub down; run.Serve then shuts
			// the server down.
			stopRelay()
			relayDone.Wait()
			return hub.Shutdown(ctx, ssekify.ShutdownOptions{})
		})
	if err != nil {
		stopRelay()
		relayDone.Wait()
		log.Fatal(err)
	}
}
