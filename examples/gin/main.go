// Command gin serves the quick-start routes of examples/nethttp with gin.
//
//	go -C examples run ./gin
//
// PORT sets the port (default 3002). On SIGINT or SIGTERM it shuts the hub
// down first (announce, grace period, close the streams), then the server.
package main

import (
	"context"
	"log"
	"os"

	"github.com/gin-gonic/gin"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/run"
)

func main() {
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode)
	}
	hub, err := ssekify.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	// gin's Engine is an http.Handler: serve it with an http.Server (here
	// run.Serve's), not r.Run, so that it can be shut down after the hub.
	err = run.Serve("3002", "gin example: curl -N 'http://localhost:%s/sse?userId=alice'", newRouter(hub),
		func(ctx context.Context) error { return hub.Shutdown(ctx, ssekify.ShutdownOptions{}) })
	if err != nil {
		log.Fatal(err)
	}
}
