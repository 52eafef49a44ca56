// Command a is server A of the HTTP-callback example: it holds the browsers'
// streams and exposes POST /fanout, which server B calls when its work is
// done. No Redis is needed.
//
//	go -C examples run ./crosscallback/a
//
// PORT sets the port (default 3005); FANOUT_TOKEN, when set, is the bearer
// token /fanout demands. On SIGINT or SIGTERM it shuts the hub down first,
// then the server.
package main

import (
	"context"
	"log"
	"os"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/run"
)

func main() {
	hub, err := ssekify.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	err = run.Serve("3005", "server A (holds the streams): curl -N 'http://localhost:%s/sse?userId=alice'",
		newMux(hub, os.Getenv("FANOUT_TOKEN")),
		func(ctx context.Context) error { return hub.Shutdown(ctx, ssekify.ShutdownOptions{}) })
	if err != nil {
		log.Fatal(err)
	}
}
