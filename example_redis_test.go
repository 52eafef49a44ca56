package ssekify_test

import (
	"log"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify"
)

// ExampleNewRedisBroker shares events across instances through a Redis
// Cluster (7.0 or newer): the channel's logs and its shard channel live in
// one slot, and the hub's messages stay on the shard that owns it. A
// single-node client (redis.NewClient) or a Sentinel client
// (redis.NewFailoverClient) is used the same way.
func ExampleNewRedisBroker() {
	client := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: []string{"127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"},
	})
	defer client.Close() // the caller owns the client; the broker leaves it open
	hub, err := ssekify.New(&ssekify.Options{
		Redis:   ssekify.NewRedisBroker(client),
		Channel: "ssekify:bus:tenant:acme", // one channel, one slot, per tenant
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = hub // hub.Register in the SSE handler, hub.Publish* from business code
}
