package ssekify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRedisHealthCheck is how long a Redis subscription may stay silent
// before the broker pings Redis; see WithRedisHealthCheck.
const DefaultRedisHealthCheck = 3 * time.Second

// RedisBroker is a Broker and FloorCounter on Redis, through go-redis v9,
// that keeps logs: Publish* append each event to its target's log, a
// Redis Stream, and publish it, in one Lua script (log_redis.go and the
// README's "Across instances"); every instance delivers the events of its
// channel in position order, reads what its subscription missed from the
// logs, and replays them to a client that reconnects to it from any
// instance. Lua scripts also serve global sequence numbers (INCR with a
// floor and PEXPIRE, a compare-and-decrement). It works with any
// redis.UniversalClient: a single node (redis.NewClient), Sentinel
// (redis.NewFailoverClient) or Cluster (redis.NewClusterClient), Redis 5.0
// or newer. go-redis keeps one dedicated connection for each subscription
// and a pool for the scripts.
//
// When Redis goes away, Publish and Incr return errors and Subscribe returns
// one, so the hub reports the outage and subscribes again with backoff until
// Redis is back, then recovers from the logs what its streams missed. A
// silent subscription is pinged (WithRedisHealthCheck), so a half-open
// connection is noticed too.
//
// Ordering: the script runs atomically and publishes from inside, so
// every instance receives a channel's events in the order of their
// positions, the publisher's own included, and delivers them in that
// order. Events of several publishers of one scope (a requestId) share
// one global seq, but the position order may differ from the seq order
// when two instances publish at the same moment; a client that needs the
// seq order sorts by seq, which has no duplicate in any case.
//
// Used through the Broker interface only (Publish, Subscribe), it is plain
// Pub/Sub: messages published while an instance is not subscribed are
// lost, as always with Redis Pub/Sub.
type RedisBroker struct {
	client redis.UniversalClient
	owned  bool          // Close closes client
	health time.Duration // silence before a PING on a subscription

	closeOnce sync.Once
	life      context.Context // ends on Close, and with it the subscriptions
	close     context.CancelFunc

	pub pubBatcher // concurrent publishes (redis_batch.go)
	// sharded: the client is a Cluster client, so the hub's channel is a
	// shard channel (SPUBLISH, SSUBSCRIBE) in the slot of its logs.
	sharded bool

	versionMu    sync.Mutex // checkVersion (log_redis.go)
	versionKnown atomic.Bool
	tooOld       error // set before versionKnown
}

// RedisOption configures a RedisBroker.
type RedisOption func(*RedisBroker)

// WithRedisHealthCheck sets how long a subscription may receive nothing
// before the broker sends PING on it; when the answer does not come within
// the same time, the connection is taken as dead and Subscribe returns an
// error (the hub subscribes again). Default DefaultRedisHealthCheck (3s).
func WithRedisHealthCheck(d time.Duration) RedisOption {
	return func(b *RedisBroker) {
		if d > 0 {
			b.health = d
		}
	}
}

// NewRedisBroker returns a broker on client. The caller owns client: it
// stays open when the broker closes, so one client can serve several hubs
// (one channel per tenant, "ssekify:bus:tenant:<id>") and the application.
// Close the client after every hub using it has shut down.
//
// Single node:
//
//	client := redis.NewClient(&redis.Options{Addr: "localhost:6379"})
//
// Sentinel (the hub follows failovers: it subscribes again to the new master):
//
//	client := redis.NewFailoverClient(&redis.FailoverOptions{
//		MasterName:    "mymaster",
//		SentinelAddrs: []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"},
//		Password:      os.Getenv("REDIS_PASSWORD"),
//	})
//
// Cluster (the hub's messages go by sharded Pub/Sub, Redis 7.0 or newer:
// SPUBLISH on the shard channel "{"+Channel+"}", in the slot of the
// channel's logs, so they stay on the shard that owns it; each seq key
// lives in one slot):
//
//	client := redis.NewClusterClient(&redis.ClusterOptions{
//		Addrs: []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"},
//	})
//
// Then:
//
//	hub, err := ssekify.New(&ssekify.Options{Redis: ssekify.NewRedisBroker(client)})
func NewRedisBroker(client redis.UniversalClient, opts ...RedisOption) *RedisBroker {
	b := &RedisBroker{client: client, health: DefaultRedisHealthCheck}
	_, b.sharded = client.(*redis.ClusterClient)
	b.life, b.close = context.WithCancel(context.Background())
	for _, o := range opts {
		o(b)
	}
	return b
}

// NewRedisBrokerURL returns a broker on a new single-node client configured
// by url, which the broker owns: Close closes it. Forms:
//
//	redis://localhost:6379            plain TCP, database 0
//	redis://:password@host:6379/2     password (requirepass), database 2
//	redis://user:password@host:6379/0 ACL user
//	rediss://user:password@host:6380  TLS
//
// Query parameters set further go-redis options (dial_timeout=3s,
// pool_size=20, ...; see redis.ParseURL); the client honours the deadlines
// of contexts (ContextTimeoutEnabled). It does not connect: a Redis that
// is down at start is reported by the hub and retried. For Sentinel or
// Cluster build the client yourself (redis.ParseFailoverURL and
// redis.ParseClusterURL read URLs too) and use NewRedisBroker.
// Options.RedisURL calls it, and the hub closes that broker on Shutdown.
func NewRedisBrokerURL(url string, opts ...RedisOption) (*RedisBroker, error) {
	o, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: it is not quoted.
		return nil, fmt.Errorf("%w: RedisURL: %w", ErrBroker, err)
	}
	// The hub bounds each call with a context (two seconds, or the
	// caller's): the client honours its deadline.
	o.ContextTimeoutEnabled = true
	b := NewRedisBroker(redis.NewClient(o), opts...)
	b.owned = true
	return b, nil
}

// Client returns the go-redis client the broker uses.
func (b *RedisBroker) Client() redis.UniversalClient { return b.client }

// Publish sends payload on channel with PUBLISH. The caller's ctx bounds
// it, on top of the client's own timeouts and retries.
//
// On a Cluster the PUBLISH is routed as if the channel were a key: to the
// master owning the channel's hash slot, the node on which go-redis
// subscribes to the channel. Every publish of a channel then goes through
// one node, so every subscriber sees them in that node's order; a PUBLISH
// sent to a random node (go-redis's default for a command without keys)
// would be forwarded over the cluster bus and could overtake, or be
// overtaken by, a later one sent elsewhere. On a single node or behind
// Sentinel the routing changes nothing.
func (b *RedisBroker) Publish(ctx context.Context, channel string, payload []byte) error {
	if b.isClosed() {
		return redis.ErrClosed
	}
	cmd := redis.NewIntCmd(ctx, "publish", channel, payload)
	cmd.SetFirstKeyPos(1)
	_ = b.client.Process(ctx, cmd)
	return cmd.Err()
}

// Subscribe subscribes to channel on a dedicated connection and calls
// handler for each message until ctx ends (it then returns nil) or the
// connection fails (it returns the error). It returns redis.ErrClosed after
// Close.
func (b *RedisBroker) Subscribe(ctx context.Context, channel string, handler func(payload []byte)) error {
	return b.subscribe(ctx, channel, false, func(p []byte) error { handler(p); return nil }, nil, nil)
}

// subscribeReady subscribes to what the publish script of channel
// publishes (publishTo): on a Cluster the shard channel. It calls ready,
// if not nil, once Redis has confirmed the subscription; an error of ready
// or handler ends it.
func (b *RedisBroker) subscribeReady(ctx context.Context, channel string, handler func([]byte) error, ready func() error) error {
	if b.sharded {
		channel = shardChannel(channel)
	}
	return b.subscribe(ctx, channel, b.sharded, handler, ready, nil)
}

// errShardMoved ends a subscription to a shard channel whose slot moved to
// another node (Redis unsubscribed it): the hub subscribes again, there.
var errShardMoved = errors.New("the shard channel's slot moved (sunsubscribe)")

// reloadSlots makes a Cluster client read the slots' owners again (go-redis
// does it in the background, before the hub subscribes again after its
// backoff): a shard subscription that failed or was ended by Redis (the
// slot moved, a master failed over) is then made on the owner of now. go-redis routes a
// subscription by its cached map, which only its commands' MOVED replies
// renew, and a hub that only subscribes sends none.
func (b *RedisBroker) reloadSlots() {
	if cc, ok := b.client.(*redis.ClusterClient); ok {
		ctx, cancel := context.WithTimeout(b.life, 2*time.Second)
		defer cancel()
		cc.ReloadState(ctx)
	}
}

// subscribeRouted subscribes to the tenant channel of channel, to the
// instance's mark channel and to every route of rt (route.go), in one
// session: ready is called once Redis confirmed them all; the session's
// sender then subscribes to the routes asked for meanwhile and
// unsubscribes from idle ones, on the same connection, and each
// confirmation is handed to rt.
func (b *RedisBroker) subscribeRouted(ctx context.Context, channel string, rt *router, handler func([]byte) error, ready func() error) error {
	if b.sharded {
		channel = shardChannel(channel)
	}
	return b.subscribe(ctx, channel, b.sharded, handler, ready, rt)
}

// subscription is one session of subscribe: its connection and what it
// waits for.
type subscription struct {
	b       *RedisBroker
	ps      *redis.PubSub
	channel string // the tenant channel
	mark    string // the instance's mark channel (with rt)
	sharded bool
	kind    string // "subscribe" or "ssubscribe"
	rt      *router
	rs      *routeSession
	initial map[string]bool // channels of the first SUBSCRIBE not yet confirmed
	first   []string        // the routes of the first SUBSCRIBE
	ready   bool
	// heard: Redis confirmed every channel of the first SUBSCRIBE (set
	// before ready runs; read by the routed session's timer).
	heard atomic.Bool
}

// subscribe is Subscribe (SSUBSCRIBE when sharded) that calls ready, if
// not nil, once Redis has confirmed the subscription, and with rt the
// routes too (subscribeRouted). Messages that come before are dropped:
// ready reads the logs for them.
func (b *RedisBroker) subscribe(ctx context.Context, channel string, sharded bool, handler func([]byte) error, ready func() error, rt *router) error {
	if b.isClosed() {
		return redis.ErrClosed
	}
	if ctx.Err() != nil {
		return nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stopClose := context.AfterFunc(b.life, func() { cancel(nil) })
	defer stopClose()
	ps := b.client.Subscribe(ctx) // no channel yet: no I/O
	defer ps.Close()
	// go-redis does not interrupt a blocked read when ctx ends; closing the
	// PubSub does, when ctx ends or the broker closes.
	stopRead := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stopRead()
	s := &subscription{b: b, ps: ps, channel: channel, sharded: sharded, kind: "subscribe", rt: rt,
		initial: map[string]bool{channel: true}}
	if sharded {
		s.kind = "ssubscribe"
	}
	if rt != nil {
		s.mark = rt.markChannel()
		s.rs, s.first = rt.begin(cancel)
		defer rt.end(s.rs)
		for _, ch := range append(s.first, s.mark) {
			s.initial[ch] = true
		}
	}
	err := s.run(ctx, handler, ready)
	switch cause := context.Cause(ctx); {
	case b.isClosed():
		return redis.ErrClosed
	case ctx.Err() != nil && !errors.Is(cause, context.Canceled):
		err = cause // the session ended itself (route.go)
	case ctx.Err() != nil:
		return nil
	}
	if sharded {
		b.reloadSlots()
	}
	return err
}

// run subscribes and reads the session's messages until it fails.
func (s *subscription) run(ctx context.Context, handler func([]byte) error, ready func() error) error {
	cmds := s.commands()
	if s.rt != nil {
		// A connection that lost the SUBSCRIBE (its data dropped) would
		// wait for the health check's PING, twice its period: a routed
		// session not confirmed within routeWait (and 200ms more per
		// thousand channels, for a large one) is made again at once.
		limit := routeWait + time.Duration(len(s.first)/routeChunk)*routeWait/10
		deaf := time.AfterFunc(limit, func() {
			if !s.heard.Load() {
				s.rs.cancel(fmt.Errorf("%w: the subscription (%v)", errRoutesUnconfirmed, limit))
			}
		})
		defer deaf.Stop()
	}
	chans := append([]string{s.channel}, s.first...)
	if s.mark != "" {
		chans = append(chans, s.mark)
	}
	for len(chans) > 0 {
		n := min(len(chans), routeChunk)
		if err := cmds.subscribe(ctx, chans[:n]...); err != nil {
			return fmt.Errorf("%s %s: %w", s.kind, s.channel, err)
		}
		chans = chans[n:]
	}
	if s.rt != nil {
		sctx, stop := context.WithCancel(ctx)
		s.rt.senders.Add(1)
		go func() {
			defer s.rt.senders.Done()
			s.rt.send(sctx, s.rs, cmds)
		}()
		defer func() {
			// The reading ended: the streams waiting for routes may go on
			// (nothing moves the follower any more), and the next session
			// may start, whatever the sender is still waiting for (a call
			// to a Redis that went silent lasts the client's timeouts); the
			// hub waits for the senders when it stops.
			s.rt.end(s.rs)
			stop()
		}()
	}
	pinged := false // a PING is out since the last message
	for {
		msg, err := s.ps.ReceiveTimeout(ctx, s.b.health)
		switch {
		case err == nil:
		case isTimeout(err) && !pinged:
			// A quiet channel: make sure the connection is still alive.
			if err := s.ps.Ping(ctx); err != nil {
				return fmt.Errorf("health check: %w", err)
			}
			pinged = true
			continue
		case isTimeout(err):
			return fmt.Errorf("no answer to PING within %v: %w", s.b.health, err)
		default:
			return err
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Message:
			if !s.ready {
				continue // published before the sync, which reads it
			}
			if err := handler([]byte(m.Payload)); err != nil {
				return err
			}
		case *redis.Subscription:
			if err := s.confirmation(m, ready); err != nil {
				return err
			}
		}
	}
}

// commands sends SUBSCRIBE and UNSUBSCRIBE (their sharded forms) on the
// session's connection.
func (s *subscription) commands() routeCommands {
	if s.sharded {
		return routeCommands{subscribe: s.ps.SSubscribe, unsubscribe: s.ps.SUnsubscribe}
	}
	return routeCommands{subscribe: s.ps.Subscribe, unsubscribe: s.ps.Unsubscribe}
}

// confirmation handles Redis's answer to a SUBSCRIBE or UNSUBSCRIBE. The
// session is ready once every channel of its first SUBSCRIBE is
// confirmed. A confirmation of the tenant channel after that means
// go-redis made the connection again under the session (it does so after
// a failed write, and subscribes again to everything): messages were lost
// in between, so the session ends and the next one recovers them.
func (s *subscription) confirmation(m *redis.Subscription, ready func() error) error {
	switch m.Kind {
	case s.kind:
		switch {
		case !s.ready:
			delete(s.initial, m.Channel)
			if len(s.initial) > 0 {
				return nil
			}
			s.heard.Store(true)
			if ready != nil {
				if err := ready(); err != nil {
					return err
				}
			}
			s.ready = true
			if s.rt != nil {
				s.rt.readied(s.first)
			}
		case m.Channel == s.channel || m.Channel == s.mark:
			return fmt.Errorf("%s: the connection was made again under the subscription", s.channel)
		case s.rt != nil:
			s.rt.subscribed(s.rs, m.Channel)
		}
	case "sunsubscribe":
		if s.rt == nil || !s.rt.ourUnsubscribe(s.rs, m.Channel) {
			return fmt.Errorf("%s: %w", m.Channel, errShardMoved)
		}
	}
	return nil
}

// incrScript increments KEYS[1]; when the result is below ARGV[2] it sets
// the key to ARGV[2] instead; when ARGV[1] > 0 it sets the key's expiry to
// ARGV[1] milliseconds. A script runs atomically; unlike MULTI/EXEC it stops
// at a failing INCR (a key holding something else), leaving the key as it was.
var incrScript = redis.NewScript(luaCounted + `
local n, err = counted(KEYS[1], ARGV[2], tonumber(ARGV[1]))
if not n then return redis.error_reply(err) end
return n
`)

// luaCounted is the Lua function counted(key, floor, ttl), the counter
// step of incrScript and of the publish script's numbered: it increments
// key; when the result is below floor (a decimal string) it sets the key
// to floor instead; when ttl > 0 it sets the key's expiry to ttl
// milliseconds. It returns the value, or nil and the error of an INCR
// refused (a key that holds something else), leaving the key as it was.
const luaCounted = `
local function counted(key, floor, ttl)
  local n = redis.pcall('INCR', key)
  if type(n) == 'table' then return nil, n.err end
  if n < tonumber(floor) then
    redis.call('SET', key, floor)
    n = tonumber(floor)
  end
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  return n
end
`

// decrIfScript decrements KEYS[1] when it holds ARGV[1], deleting it when
// that was 1, and returns 1; otherwise it returns 0 and changes nothing.
var decrIfScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[1] == '1' then
  redis.call('DEL', KEYS[1])
else
  redis.call('DECR', KEYS[1])
end
return 1
`)

// Incr increments key and sets its expiry to ttl (none when ttl <= 0) in
// one atomic step, a Lua script (EVALSHA, loaded again by EVAL after a
// Redis restart), so a key never exists without its expiry. One key means
// one hash slot: it works on a Cluster too.
func (b *RedisBroker) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	return b.IncrFloor(ctx, key, 0, ttl)
}

// IncrFloor is Incr that sets key to floor when the incremented value is
// below it, in the same script: INCR, then SET to the floor if below, then
// PEXPIRE. The hub passes as floor the next number it handed out locally
// while Redis was unreachable, so that the counter resumes above them.
//
// ctx bounds the call (the hub gives it two seconds) only when the client
// honours deadlines (go-redis: Options.ContextTimeoutEnabled); otherwise
// the client's ReadTimeout and retries bound it.
func (b *RedisBroker) IncrFloor(ctx context.Context, key string, floor int64, ttl time.Duration) (int64, error) {
	if b.isClosed() {
		return 0, redis.ErrClosed
	}
	return incrScript.Run(ctx, b.client, []string{key}, expiryMs(ttl), max(floor, 0)).Int64()
}

// expiryMs is the expiry ttl in the milliseconds a counter script takes: 0
// for none (ttl <= 0), at least 1 otherwise.
func expiryMs(ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	return max(ttl.Milliseconds(), 1)
}

// DecrIf decrements key when it holds value (deleting it at zero) and
// reports whether it did, in one script: a compare-and-decrement, so a
// value counted by another instance since is never taken back.
func (b *RedisBroker) DecrIf(ctx context.Context, key string, value int64) (bool, error) {
	if b.isClosed() {
		return false, redis.ErrClosed
	}
	n, err := decrIfScript.Run(ctx, b.client, []string{key}, value).Int64()
	return n == 1, err
}

// Reset deletes key, so the next Incr starts again at one.
func (b *RedisBroker) Reset(ctx context.Context, key string) error {
	if b.isClosed() {
		return redis.ErrClosed
	}
	return b.client.Del(ctx, key).Err()
}

// Close ends the broker's subscriptions and makes its methods return
// redis.ErrClosed. It closes the client only when the broker built it
// (NewRedisBrokerURL); a client passed to NewRedisBroker stays open for its
// owner to close. Close is idempotent.
func (b *RedisBroker) Close() error {
	var err error
	b.closeOnce.Do(func() {
		b.close()
		if b.owned {
			err = b.client.Close()
		}
	})
	return err
}

func (b *RedisBroker) isClosed() bool { return b.life.Err() != nil }

// isTimeout reports a read that timed out (the connection is still usable).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
