// Command gorillamux serves the quick-start routes of examples/nethttp with
// gorilla/mux.
//
//	go -C examples run ./gorillamux
//
// PORT sets the port (default 3006). On SIGINT or SIGTERM it shuts the hub
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
	err = run.Serve("3006", "gorilla/mux example: curl -N 'http://localhost:%s/sse?userId=alice'", newRouter(hub),
		func(ctx context.Context) error { return hub.Shutdown(ctx, ssekify.ShutdownOptions{}) })
	if err != nil {
		log.Fatal(err)
	}
}
