// Package run holds the process wiring the example programs share: serve a
// handler on HOST:PORT until SIGINT or SIGTERM, then shut down in the order
// an SSE server needs.
//
// The order matters. An open event stream is a request that never ends on
// its own, and http.Server.Shutdown waits for every open request to end: a
// server shut down while streams are open waits for them forever (or until
// its context gives up). So the hubs go first: Hub.Shutdown announces the
// shutdown to the streams, waits its grace period, then closes them; only
// then is the server shut down, and it has only ordinary requests left to
// wait for. [Serve] takes that first step as a function, because what it
// shuts down (one hub, one per tenant, a relay feeding a hub, ...) is each
// example's own business; whatever must wait until the server is down (a
// client the handlers use, jobs the handlers start) comes after Serve
// returns.
package run

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// ShutdownTimeout bounds the whole shutdown: the shutdown function given to
// [Serve] (a hub's grace period included) and the server's Shutdown after
// it.
const ShutdownTimeout = 15 * time.Second

// Serve serves handler on HOST:PORT (defaultPort when PORT is unset) until
// SIGINT or SIGTERM. Once listening is under way it logs banner, a format
// whose one %s verb is the port.
//
// On the signal it calls shutdown, which must end the open streams (shut
// the hubs down: announcement, grace period, streams closed), and only then
// shuts the HTTP server down, both within [ShutdownTimeout]. A nil shutdown
// is for a program without streams of its own to end. Errors of either step
// are logged, not returned: the program was asked to stop, and it has.
//
// Serve returns nil after the shutdown, or the server's error when it could
// not serve at all (the port in use, say).
func Serve(defaultPort, banner string, handler http.Handler, shutdown func(context.Context) error) error {
	port := os.Getenv("PORT")
	if port == "" {
		port = defaultPort
	}
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf(banner, port)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	// The streams first: srv.Shutdown would wait for them forever.
	if shutdown != nil {
		if err := shutdown(sctx); err != nil {
			log.Print(err)
		}
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
	return nil
}
