// Command rediscluster runs a hub whose instances meet on a Redis Cluster.
//
//	REDIS_CLUSTER_NODES=10.0.0.1:6379,10.0.0.2:6379,10.0.0.3:6379 go -C examples run ./rediscluster
//
// PORT sets the port (default 3008); REDIS_CLUSTER_NODES the nodes;
// REDIS_PASSWORD their password. Start several instances on one Cluster: an
// event published on any of them reaches the streams on all of them.
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
	opts, err := clusterOptions(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	client := redis.NewClusterClient(opts)
	defer client.Close()
	broker := ssekify.NewRedisBroker(client)
	defer broker.Close()
	hub, err := ssekify.New(&ssekify.Options{Redis: broker})
	if err != nil {
		log.Fatal(err)
	}
	// The hub, then the server; the broker and the client close last
	// (deferred): the hub does not close a broker it was given.
	err = run.Serve("3008", "Redis Cluster example: curl -N 'http://localhost:%s/sse?userId=alice'", routes.Publish(hub),
		func(ctx context.Context) error { return hub.Shutdown(ctx, ssekify.ShutdownOptions{}) })
	if err != nil {
		log.Print(err) // not log.Fatal: the deferred Close calls run
	}
}
