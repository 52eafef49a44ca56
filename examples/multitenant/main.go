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
	"log"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/run"
)

func main() {
	var client redis.UniversalClient
	if addrs := os.Getenv("REDIS_ADDRS"); addrs != "" {
		client = redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs:      strings.Split(addrs, ","),
			MasterName: os.Getenv("REDIS_SENTINEL_MASTER"),
			Password:   os.Getenv("REDIS_PASSWORD"),
		})
	}
	ts := newTenants(client)
	// Every tenant's hub first, then the server, then the shared client.
	err := run.Serve("3007", "multi-tenant example: curl -N 'http://localhost:%s/acme/sse?userId=alice&rooms=lobby'", newMux(ts),
		func(ctx context.Context) error { return ts.shutdown(ctx, ssekify.ShutdownOptions{}) })
	if err != nil {
		log.Fatal(err)
	}
	if client != nil {
		_ = client.Close()
	}
}
