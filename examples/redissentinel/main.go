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
		port = "3009"
	}
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
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           newMux(hub),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("Redis Sentinel example: curl -N 'http://localhost:%s/sse?userId=alice'", port)

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
