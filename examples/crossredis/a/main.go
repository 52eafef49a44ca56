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
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ssekify/ssekify"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3004"
	}
	redisURL := os.Getenv("REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://localhost:6379"
	}
	hub, err := newHub(redisURL)
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
	log.Printf("server A (holds the streams): curl -N 'http://localhost:%s/sse?userId=alice'", port)

	select {
	case err := <-served:
		log.Fatal(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// The hub first (it also closes the Redis connection it opened), then
	// the server, which the open streams would otherwise hold forever.
	if err := hub.Shutdown(sctx, ssekify.ShutdownOptions{}); err != nil {
		log.Print(err)
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
}
