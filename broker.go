package ssekify

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Broker carries envelopes between the instances of a cluster of hubs. A
// Hub given one (Options.Redis) publishes what its Publish* methods send and
// subscribes to what the other instances publish, on Options.Channel.
// NewRedisBroker builds one on Redis Pub/Sub; another transport (NATS, a
// message bus, an in-process fake for tests) only needs these three methods.
//
// Implementations must be safe for concurrent use. Delivery is at most once,
// as with Redis Pub/Sub: an instance that is not subscribed when a message is
// published (starting, or reconnecting after an outage) does not get it;
// Last-Event-ID replay and the gap event cover what a client missed.
type Broker interface {
	// Publish sends payload to every subscriber of channel, this instance
	// included (the hub drops its own envelopes). It returns once the
	// transport accepted the message, or with an error.
	Publish(ctx context.Context, channel string, payload []byte) error
	// Subscribe calls handler for each message on channel until ctx ends,
	// then returns nil. It returns an error when the subscription fails or
	// the connection breaks; the hub then reports the error and subscribes
	// again, with backoff, so an implementation need not reconnect by
	// itself. handler is called from one goroutine at a time and must not
	// retain payload.
	Subscribe(ctx context.Context, channel string, handler func(payload []byte)) error
	// Close releases the broker's resources. A hub closes only the broker it
	// built itself from Options.RedisURL.
	Close() error
}

// Counter is an optional interface of a Broker: an atomic counter shared by
// every instance, which gives a scope's messages (one requestId) a single
// strictly increasing seq whichever instance sends them. The hub passes full
// keys (Options.Seq.KeyPrefix + scope key) and Options.Seq.RedisTTL, and
// bounds every call to two seconds. Without a Counter the hub counts in
// memory, per instance, and reports SEQ_KV_FALLBACK once.
//
// When a call fails the hub numbers locally, goes on from the last number
// the Counter gave, and does not call the Counter again for a few seconds;
// SEQ_KV_FALLBACK is reported once per outage. What holds meanwhile: each
// instance hands out every number of a scope at most once, across outages
// too, if its Counter is a FloorCounter (RedisBroker is), which lets the
// first call after the outage lift the shared counter above the numbers the
// instance handed out locally. Instances that number one scope during the
// same outage count apart and may hand out the same numbers; after it, the
// shared counter resumes above the numbers of each instance once that
// instance has numbered a message of the scope with it. A Counter that is
// not a FloorCounter can not be lifted: the instance then numbers such a
// scope locally until its final message, and a refused send leaves a gap.
type Counter interface {
	// Incr increments key by one and returns the new value; the key expires
	// ttl after its last increment (ttl <= 0: never). Increment and expiry
	// are one atomic step.
	Incr(ctx context.Context, key string, ttl time.Duration) (int64, error)
	// Reset deletes key, so that its next Incr returns 1 again. The hub
	// calls it when a final message ends a scope.
	Reset(ctx context.Context, key string) error
}

// FloorCounter is a Counter that can also raise a key to a floor and give
// a value back. The hub uses IncrFloor instead of Incr when its broker's
// Counter is one, and DecrIf to give back the number of a send that was
// refused after its number was taken (a FrameID result that is invalid).
type FloorCounter interface {
	Counter
	// IncrFloor is Incr, except that when the incremented value is below
	// floor, key is set to floor, which is returned; increment, raise and
	// expiry are one atomic step. floor <= 0 is no floor.
	IncrFloor(ctx context.Context, key string, floor int64, ttl time.Duration) (int64, error)
	// DecrIf decrements key by one when it holds value, that is when
	// nothing was counted on it since the call that returned value
	// (deleting it at zero), and reports whether it did; compare and
	// decrement are one atomic step.
	DecrIf(ctx context.Context, key string, value int64) (bool, error)
}

// Backoff bounds of the re-subscription loop.
const (
	subscribeBackoffMin = 50 * time.Millisecond
	subscribeBackoffMax = 2 * time.Second
)

// readySubscriber is a Broker that tells when a subscription is active, so
// the hub can log that it came back and restart its backoff.
// Its handler and ready may fail, which ends the subscription with their
// error (the hub subscribes again).
type readySubscriber interface {
	subscribeReady(ctx context.Context, channel string, handler func([]byte) error, ready func() error) error
}

// routedSubscriber is a Broker that subscribes to the channels of the
// users and rooms a hub holds streams for (route.go): RedisBroker.
type routedSubscriber interface {
	subscribeRouted(ctx context.Context, channel string, rt *router, handler func([]byte) error, ready func() error) error
}

// startBroker opens the broker named by the options, hands its counter to
// the seq allocator and starts the one subscriber goroutine of the hub.
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
	if lb, ok := h.broker.(logBroker); ok {
		h.lb = lb
		h.follows = !h.opts.PublishOnly
	}
	if _, ok := h.broker.(routedSubscriber); ok && h.follows {
		h.rt = newRouter(h)
	}
	if c, ok := h.broker.(Counter); ok {
		h.seq.setCounter(c)
	} else {
		h.seq.brokerWithoutCounter()
	}
	if h.opts.PublishOnly {
		return nil
	}
	if h.lb != nil {
		h.firstHead()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.subscribeLoop(ctx)
	}()
	h.subStop = func() {
		cancel()
		wg.Wait()
		if h.rt != nil {
			h.rt.senders.Wait()
		}
	}
	return nil
}

// firstHeadWait bounds New's first read of the log's head.
const firstHeadWait = time.Second

// firstHead reads where the log stands before New returns, so that the
// streams that register before the subscription is active start from a
// known position: the subscription's first sync then recovers what was
// published in between. When Redis does not answer in firstHeadWait, the
// hub starts without (the first sync tells the streams registered before
// it, by the gap event, that events may be missing).
func (h *Hub) firstHead() {
	ctx, cancel := context.WithTimeout(context.Background(), firstHeadWait)
	defer cancel()
	epoch, pos, _, err := h.lb.logHead(ctx, h.opts.Channel, randomEpoch(), h.now().UnixMilli())
	if err != nil {
		h.opts.Logger.Warn("ssekify: could not read the head of the log on Redis; starting without",
			slog.String("channel", h.opts.Channel), slog.Any("err", err))
		h.reportErr(&Error{Code: CodeBrokerSubscribe, Level: LevelWarn, Op: "subscribe", Target: h.opts.Channel,
			Err: fmt.Errorf("%w: read the head of the log: %w", ErrBroker, err)})
		return
	}
	h.setHead(epoch, pos, false)
}

// newURLBroker builds the broker of Options.RedisURL (replaceable in tests).
var newURLBroker = func(url string) (Broker, error) {
	b, err := NewRedisBrokerURL(url)
	if err != nil {
		return nil, err // not a nil *RedisBroker in a non-nil Broker
	}
	return b, nil
}

// subscribeLoop keeps the subscription alive until ctx ends: when it fails,
// the failure is counted, logged and reported (BROKER_SUBSCRIBE), and it
// subscribes again after a backoff that doubles up to subscribeBackoffMax.
// When the subscription is active again, that is logged too. One
// subscription runs at a time, on this goroutine: nothing piles up across
// reconnects.
func (h *Hub) subscribeLoop(ctx context.Context) {
	backoff := subscribeBackoffMin
	failures := 0 // failed attempts since the subscription was last active
	ready := func() error {
		if h.lb != nil {
			// The log says what was missed while the subscription was down.
			if err := h.syncLog(ctx); err != nil {
				return err
			}
		}
		backoff = subscribeBackoffMin
		if failures > 0 {
			h.opts.Logger.Info("ssekify: broker subscription restored",
				slog.String("channel", h.opts.Channel), slog.Int("failedAttempts", failures))
			failures = 0
			if h.lb == nil {
				h.brokerGap()
			}
		}
		return nil
	}
	for {
		start := time.Now()
		err := h.subscribeOnce(ctx, ready)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = fmt.Errorf("subscription ended")
		}
		failures++
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

// brokerGap tells every local stream, in its stream, that events published
// on other instances while the subscription was down may be missing: the
// gap event with reason "broker", queued after what each stream has.
func (h *Hub) brokerGap() {
	if h.opts.NoGapEvent {
		return
	}
	gap := &message{gap: &loss{reason: reasonBroker}} // shared, never changed
	var fx effects
	h.mu.Lock()
	for _, c := range h.all {
		h.enqueue(c, gap, &fx)
	}
	h.mu.Unlock()
	h.settle(&fx)
}

// subscribeOnce runs one subscription of the hub's channel.
func (h *Hub) subscribeOnce(ctx context.Context, ready func() error) error {
	receive := func(raw []byte) error { return h.receive(ctx, raw) }
	if rs, ok := h.broker.(routedSubscriber); ok && h.rt != nil {
		return rs.subscribeRouted(ctx, h.opts.Channel, h.rt, receive, ready)
	}
	if rs, ok := h.broker.(readySubscriber); ok {
		return rs.subscribeReady(ctx, h.opts.Channel, receive, ready)
	}
	return h.broker.Subscribe(ctx, h.opts.Channel, func(raw []byte) { _ = receive(raw) })
}
