// Command echo serves the quick-start routes of examples/nethttp with echo.
//
//	go -C examples run ./echo
//
// PORT sets the port (default 3003). On SIGINT or SIGTERM it shuts the hub
// down first (announce, grace period, close the streams), then the server.
package main

import (
	"context"
	"log"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/run"
)

func main() {
	hub, err := ssekify.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	// *echo.Echo is an http.Handler: run.Serve serves it with an http.Server
	// of its own (in place of e.Start) and shuts that down after the hub.
	err = run.Serve("3003", "echo example: curl -N 'http://localhost:%s/sse?userId=alice'", newRouter(hub),
		func(ctx context.Context) error { return hub.Shutdown(ctx, ssekify.ShutdownOptions{}) })
	if err != nil {
		log.Fatal(err)
	}
}
