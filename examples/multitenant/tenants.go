package main

import (
	"context"
	"errors"
	"regexp"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify"
)

// validTenant is what a tenant id may look like. Every tenant costs a hub and
// a Redis subscription, so never create one for any string a client sends:
// take tenants from your authentication or a known list. Here a pattern
// stands in for that check.
var validTenant = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// errUnknownTenant is returned for a tenant id that is not accepted.
var errUnknownTenant = errors.New("unknown tenant")

// tenants holds one hub per tenant, created on first use. The hubs share one
// Redis client; each has its own channel, ssekify:bus:tenant:<id>, so an
// event published for one tenant never reaches another's streams, on any
// instance.
type tenants struct {
	broker *ssekify.RedisBroker // shared by every hub; nil: this instance only

	mu     sync.Mutex
	hubs   map[string]*ssekify.Hub
	closed bool
}

// newTenants returns an empty set of tenants on client (nil: no Redis).
func newTenants(client redis.UniversalClient) *tenants {
	ts := &tenants{hubs: make(map[string]*ssekify.Hub)}
	if client != nil {
		// The caller owns client: hubs never close a broker they are
		// given, and the broker leaves the client open.
		ts.broker = ssekify.NewRedisBroker(client)
	}
	return ts
}

// hub returns the tenant's hub, creating it on first use.
func (ts *tenants) hub(id string) (*ssekify.Hub, error) {
	if !validTenant.MatchString(id) {
		return nil, errUnknownTenant
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed {
		return nil, ssekify.ErrClosed
	}
	if h, ok := ts.hubs[id]; ok {
		return h, nil
	}
	opts := &ssekify.Options{Channel: "ssekify:bus:tenant:" + id}
	if ts.broker != nil {
		opts.Redis = ts.broker
	}
	// Sequence counters per tenant too: two tenants may use the same
	// requestId.
	opts.Seq.KeyPrefix = "ssekify:seq:tenant:" + id + ":"
	h, err := ssekify.New(opts)
	if err != nil {
		return nil, err
	}
	ts.hubs[id] = h
	return h, nil
}

// shutdown shuts every tenant's hub down, in parallel, and refuses new
// tenants. Close the Redis client after it.
func (ts *tenants) shutdown(ctx context.Context, opts ssekify.ShutdownOptions) error {
	ts.mu.Lock()
	ts.closed = true
	hubs := make([]*ssekify.Hub, 0, len(ts.hubs))
	for _, h := range ts.hubs {
		hubs = append(hubs, h)
	}
	ts.mu.Unlock()

	errs := make([]error, len(hubs))
	var wg sync.WaitGroup
	for i, h := range hubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = h.Shutdown(ctx, opts)
		}()
	}
	wg.Wait()
	if ts.broker != nil {
		errs = append(errs, ts.broker.Close())
	}
	return errors.Join(errs...)
}
