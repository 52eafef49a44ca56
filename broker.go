package ssekify

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Broker carries envelopes between instances. Implementations must be safe
// for concurrent use. NewRedisBroker builds one on Redis Pub/Sub.
type Broker interface {
	// Publish sends payload to every subscriber of channel.
	Publish(ctx context.Context, channel string, payload []byte) error
	// Subscribe calls handler for each message on channel until ctx ends,
	// then returns nil. It returns an error when the subscription fails; the
	// hub then reports it and subscribes again, with backoff. handler is
	// called from one goroutine at a time and must not be retained payload.
	Subscribe(ctx context.Context, channel string, handler func(payload []byte)) error
	// Close releases the broker's resources.
	Close() error
}

// Counter is the optional atomic counter of a Broker, used for sequence
// numbers shared by every instance.
type Counter interface {
	// Incr increments key by one and returns the new value; the key expires
	// ttl after its last increment. Increment and expiry are one atomic step.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
}

// Backoff bounds of the re-subscription loop.
const (
	subscribeBackoffMin = 50 * time.Millisecond
	subscribeBackoffMax = 2 * time.Second
)

// startBroker opens the broker named by the options and starts the one
// subscriber goroutine of the hub.
func (h *Hub) startBroker() error {
	h.broker = h.opts.Redis
	if h.broker == nil && h.opts.RedisURL != "" {
		b, err := newURLBroker(h.opts.RedisURL)
		if err != nil {
			return err
		}
		h.broker, h.ownsBroker = b, true
	}
	if h.broker == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.subscribeLoop(ctx)
	}()
	h.subStop = func() { cancel(); wg.Wait() }
	return nil
}

// newURLBroker builds the broker of Options.RedisURL; redis.go sets it.
var newURLBroker = func(url string) (Broker, error) {
	return nil, fmt.Errorf("ssekify: no broker for RedisURL %q", url)
}

// subscribeLoop keeps the subscription alive until ctx ends: when it fails,
// the failure is reported and logged, and it subscribes again after a
// backoff that doubles up to subscribeBackoffMax.
func (h *Hub) subscribeLoop(ctx context.Context) {
	backoff := subscribeBackoffMin
	for {
		start := time.Now()
		err := h.broker.Subscribe(ctx, h.opts.Channel, h.receive)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = fmt.Errorf("subscription ended")
		}
		h.stats.brokerReconnects.Add(1)
		h.opts.Logger.Warn("ssekify: broker subscription lost; subscribing again",
			slog.String("channel", h.opts.Channel), slog.Any("err", err), slog.Duration("backoff", backoff))
		h.reportErr(&Error{Code: CodeBrokerSubscribe, Level: LevelWarn, Op: "subscribe", Target: h.opts.Channel,
			Err: fmt.Errorf("%w: %w", ErrBroker, err)})
		if time.Since(start) > subscribeBackoffMax {
			backoff = subscribeBackoffMin
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, subscribeBackoffMax)
	}
}
