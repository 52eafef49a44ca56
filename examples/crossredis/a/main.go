// Command a is server A of the cross-server example: it holds the browsers'
// streams and delivers what server B publishes through Redis.
//
//	REDIS_URL=redis://localhost:6379 go -C examples run ./crossredis/a
//
// PORT sets the port (default 3004); REDIS_URL the Redis server (default
// redis://localhost:6379). On SIGINT or SIGTERM it shuts the hub down
// first, then the server.
package main

import (
	"context"
	"log"
	"os"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/run"
)

func main() {
	redisURL := os.Getenv("REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://localhost:6379"
	}
	hub, err := newHub(redisURL)
	if err != nil {
		log.Fatal(err)
	}
	// The hub's shutdown also closes the Redis connection it opened.
	err = run.Serve("3004", `server A (holds the streams): curl -N 'http://localhost:%s/sse?userId=alice'`, newMux(hub),
		func(ctx context.Context) error { return hub.Shutdown(ctx, ssekify.ShutdownOptions{}) })
	if err != nil {
		log.Fatal(err)
	}
}
