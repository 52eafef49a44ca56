// Command multitenant serves one hub per tenant under /{tenant}/..., each hub
// on its own Redis channel (ssekify:bus:tenant:<id>), all of them sharing
// one Redis client.
//
//	REDIS_ADDRS=localhost:6379 go -C examples run ./multitenant
//
// PORT sets the port (default 3007). REDIS_ADDRS lists Redis addresses,
// comma-separated, for redis.NewUniversalClient: one address is a single
// server, several a Cluster, and with REDIS_SENTINEL_MASTER set they are
// Sentinels. REDIS_PASSWORD is the password. Without REDIS_ADDRS the
// tenants live on this instance only.
package main

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3007"
	}
	var client redis.UniversalClient
	if addrs := os.Getenv("REDIS_ADDRS"); addrs != "" {
		client = redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs:      strings.Split(addrs, ","),
			MasterName: os.Getenv("REDIS_SENTINEL_MASTER"),
			Password:   os.Getenv("REDIS_PASSWORD"),
		})
	}
	ts := newTenants(client)
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           newMux(ts),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("multi-tenant example: curl -N 'http://localhost:%s/acme/sse?userId=alice&rooms=lobby'", port)

	select {
	case err := <-served:
		log.Fatal(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Every tenant's hub first, then the server, then the shared client.
	if err := ts.shutdown(sctx, ssekify.ShutdownOptions{}); err != nil {
		log.Print(err)
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
	if client != nil {
		_ = client.Close()
	}
}
