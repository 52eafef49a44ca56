// Command redissentinel runs a hub whose instances meet on a Redis master
// watched by Sentinel.
//
//	REDIS_SENTINELS=10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379 REDIS_SENTINEL_MASTER=mymaster go -C examples run ./redissentinel
//
// PORT sets the port (default 3009); REDIS_SENTINELS the sentinels;
// REDIS_SENTINEL_MASTER the master name (default mymaster); REDIS_PASSWORD
// the master's password. Start several instances: an event published on any
// of them reaches the streams on all of them, across a failover too.
package main

import (
	"context"
	"log"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/routes"
	"github.com/ssekify/ssekify/examples/internal/run"
)

func main() {
	opts, err := failoverOptions(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	client := redis.NewFailoverClient(opts)
	defer client.Close()
	broker := ssekify.NewRedisBroker(client)
	defer broker.Close()
	hub, err := ssekify.New(&ssekify.Options{Redis: broker})
	if err != nil {
		log.Fatal(err)
	}
	// The hub, then the server; the broker and the client close last
	// (deferred): the hub does not close a broker it was given.
	err = run.Serve("3009", "Redis Sentinel example: curl -N 'http://localhost:%s/sse?userId=alice'", routes.Publish(hub),
		func(ctx context.Context) error { return hub.Shutdown(ctx, ssekify.ShutdownOptions{}) })
	if err != nil {
		log.Print(err) // not log.Fatal: the deferred Close calls run
	}
}
