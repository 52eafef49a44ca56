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
	"errors"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/bridge/relay"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3010"
	}
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
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           newMux(hub, rl),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

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

	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("bridge (basic): curl -N 'http://localhost:%s/sse?userId=alice'", port)

	select {
	case err := <-served:
		stopRelay()
		relayDone.Wait()
		log.Fatal(err)
	case <-ctx.Done():
	}
	// Stop forwarding, then shut the hub down, then the server.
	stopRelay()
	relayDone.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hub.Shutdown(sctx, ssekify.ShutdownOptions{}); err != nil {
		log.Print(err)
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
}
