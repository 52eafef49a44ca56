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
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3008"
	}
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
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           newMux(hub),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("Redis Cluster example: curl -N 'http://localhost:%s/sse?userId=alice'", port)

	select {
	case err := <-served:
		log.Print(err)
		return
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// The hub, then the server; the broker and the client close last
	// (deferred): the hub does not close a broker it was given.
	if err := hub.Shutdown(sctx, ssekify.ShutdownOptions{}); err != nil {
		log.Print(err)
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
}
