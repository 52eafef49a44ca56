// Command b is server B of the cross-server example: it holds no stream and
// publishes its events to Redis, for server A to deliver.
//
//	REDIS_URL=redis://localhost:6379 go -C examples run ./crossredis/b
//
// PORT sets the port (default 4004); REDIS_URL the Redis server (default
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
	// The hub's shutdown closes the Redis connection it opened.
	err = run.Serve("4004", `server B (publishes only): curl -X POST http://localhost:%s/notify/alice -d '{"msg":"hi"}'`, newMux(hub),
		func(ctx context.Context) error { return hub.Shutdown(ctx, ssekify.ShutdownOptions{}) })
	if err != nil {
		log.Fatal(err)
	}
}
