package ssekify_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// routeBackend is a Redis deployment for the routing tests: start
// starts it and returns a maker of clients.
type routeBackend struct {
	name  string
	start func(t *testing.T) func() redis.UniversalClient
}

// routeBackends are the deployments the routing tests run on: a single
// redis-server, Sentinel, a 3-master Cluster.
var routeBackends = []routeBackend{
	{"redis-server", func(t *testing.T) func() redis.UniversalClient {
		addr := redistest.Start(t).Addr
		return func() redis.UniversalClient { return redisClient(t, addr) }
	}},
	{"sentinel", func(t *testing.T) func() redis.UniversalClient {
		s := redistest.StartSentinel(t, "mymaster", 1, 3)
		return func() redis.UniversalClient {
			c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Sentinels})
			t.Cleanup(func() { _ = c.Close() })
			return c
		}
	}},
	{"cluster", func(t *testing.T) func() redis.UniversalClient {
		cl := redistest.StartCluster(t, 3)
		return func() redis.UniversalClient {
			c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs})
			t.Cleanup(func() { _ = c.Close() })
			return c
		}
	}},
}

// TestRoutingReachesOnlyHolders: three hubs; A holds streams of user a and
// room r, B of user b, C none. Events to a, b, r and everyone, published
// from C: each instance reads from Redis only the envelopes of the users
// and rooms it holds, and everyone's; every stream gets its own. On a
// single node, behind Sentinel and on a Cluster (sharded channels).
func TestRoutingReachesOnlyHolders(t *testing.T) {
	for _, be := range routeBackends {
		t.Run(be.name, func(t *testing.T) {
			client := be.start(t)
			var nodes []node
			for i := range 3 {
				nodes = append(nodes, startNode(t, ssekify.NewRedisBroker(client()), &ssekify.Options{InstanceID: fmt.Sprintf("n%d", i)}))
			}
			a, b, c := nodes[0], nodes[1], nodes[2]
			for i, n := range nodes {
				waitLinked(t, nodes[(i+1)%3].hub, n.hub, 3*wait)
			}
			routes := make([]int64, 3) // waitLinked's probe stream leaves a route for its grace
			for i, n := range nodes {
				routes[i] = n.hub.Stats().Routes
			}
			sa, sb := connect(t, a.srv, "a", "r", nil), connect(t, b.srv, "b", "", nil)
			require.Equal(t, int64(2), a.hub.Stats().Routes-routes[0], "A: user a and room r")
			require.Equal(t, int64(1), b.hub.Stats().Routes-routes[1], "B: user b")
			require.Zero(t, c.hub.Stats().Routes-routes[2])
			before := make([]int64, 3)
			for i, n := range nodes {
				before[i] = n.hub.Stats().BrokerEnvelopes
			}
			const each = 20
			ctx := context.Background()
			for i := range each {
				require.NoError(t, c.hub.PublishToUser(ctx, "a", ssekify.Event{Data: fmt.Sprintf("a%d", i)}))
				require.NoError(t, c.hub.PublishToUser(ctx, "b", ssekify.Event{Data: fmt.Sprintf("b%d", i)}))
				require.NoError(t, c.hub.PublishToRoom(ctx, "r", ssekify.Event{Data: fmt.Sprintf("r%d", i)}))
				require.NoError(t, c.hub.PublishToUser(ctx, "nobody", ssekify.Event{Data: "x"}))
			}
			require.NoError(t, c.hub.Publish(ctx, ssekify.Event{Data: "end"}))
			var wantA, wantB []string
			for i := range each {
				wantA = append(wantA, fmt.Sprintf("a%d", i), fmt.Sprintf("r%d", i))
				wantB = append(wantB, fmt.Sprintf("b%d", i))
			}
			gotA, _ := readTexts(t, sa, len(wantA)+1)
			require.Equal(t, append(wantA, "end"), gotA, "in order")
			gotB, _ := readTexts(t, sb, len(wantB)+1)
			require.Equal(t, append(wantB, "end"), gotB, "in order")
			// Each instance read its own envelopes and everyone's "end".
			want := []int64{2*each + 1, each + 1, 1}
			for i, n := range nodes {
				require.Equal(t, want[i], n.hub.Stats().BrokerEnvelopes-before[i], "envelopes %s read", n.hub.InstanceID())
			}
		})
	}
}

// TestRouteFlappingStream: a user's stream connects to one of two
// instances at random, reads for a few milliseconds and leaves, again and
// again, with its Last-Event-ID; the instances drop its route as soon as
// they can (a grace of 20ms), so its subscription is set up and torn down
// throughout, while a third instance publishes to it every millisecond.
// Every event arrives exactly once, in order, or a gap event covers it.
func TestRouteFlappingStream(t *testing.T) {
	addr := redistest.Start(t).Addr
	var hubs []node
	for i := range 3 {
		n := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), &ssekify.Options{InstanceID: fmt.Sprintf("f%d", i), RouteGrace: 20 * time.Millisecond})
		hubs = append(hubs, n)
	}
	pub := hubs[2].hub
	const total = 600
	rng := rand.New(rand.NewPCG(1, 2))
	// The first stream starts without a Last-Event-ID, before the first
	// publish: it must get every event from the first on.
	s := connect(t, hubs[rng.IntN(2)].srv, "u", "", nil)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 1; i <= total; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			err := pub.PublishToUser(ctx, "u", ssekify.Event{Data: strconv.Itoa(i)})
			cancel()
			if err != nil {
				t.Errorf("publish %d: %v", i, err)
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	next, lastID, gaps, rounds := 1, "", 0, 0
	// read reads s for d, the first stream until its first event too, and
	// keeps the id of the last event it read (the client's place; a
	// stream that read none keeps the place it came with).
	read := func(s *ssetest.Stream, d time.Duration) {
		end, first := time.Now().Add(d), lastID == ""
		if first {
			end = time.Now().Add(wait)
		}
		for time.Now().Before(end) && next <= total {
			ev, err := s.Next(time.Until(end))
			if err != nil {
				return
			}
			lastID = ev.LastEventID
			if first {
				first, end = false, time.Now().Add(d)
			}
			if ev.Type == ssekify.DefaultGapEvent {
				gaps++
				continue
			}
			got, err := strconv.Atoi(text(t, ev))
			require.NoError(t, err)
			require.Equal(t, next, got, "round %d: event %d next, got %d", rounds, next, got)
			next++
		}
	}
	for deadline := time.Now().Add(time.Minute); next <= total && time.Now().Before(deadline); rounds++ {
		read(s, time.Duration(5+rng.IntN(30))*time.Millisecond)
		s.Close()
		require.NotEmpty(t, lastID, "the stream named its place")
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond) // sometimes past the grace
		s = connect(t, hubs[rng.IntN(2)].srv, "u", "", http.Header{"Last-Event-ID": {lastID}})
	}
	s.Close()
	<-published
	if next <= total {
		s := connect(t, hubs[0].srv, "u", "", http.Header{"Last-Event-ID": {lastID}})
		read(s, wait)
	}
	require.Equal(t, total+1, next, "every event, in order")
	require.Zero(t, gaps, "no gap event: the logs hold every event")
	var commands int64
	for _, n := range hubs[:2] {
		commands += n.hub.Stats().RouteCommands
	}
	t.Logf("%d rounds; %d route commands", rounds, commands)
	require.Greater(t, commands, int64(4), "the route was dropped and made again")
}

// TestRoutesBatched: 500 streams of different users connect to one
// instance at once: their subscriptions share commands, every stream
// gets the event published to its user once all are open, and after they
// leave (and the grace) the instance unsubscribes from every one.
func TestRoutesBatched(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), &ssekify.Options{RouteGrace: 100 * time.Millisecond})
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	const n = 500
	streams := make([]*ssetest.Stream, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			streams[i] = connect(t, a.srv, fmt.Sprintf("user-%d", i), "", nil)
		}()
	}
	wg.Wait()
	st := a.hub.Stats()
	require.Equal(t, int64(n), st.Routes)
	require.Zero(t, st.RoutesPending)
	t.Logf("%d streams: %d route commands", n, st.RouteCommands)
	require.Less(t, st.RouteCommands, int64(n/4), "subscriptions share commands")
	ctx := context.Background()
	for i := range n {
		require.NoError(t, b.hub.PublishToUser(ctx, fmt.Sprintf("user-%d", i), ssekify.Event{Data: fmt.Sprintf("e%d", i)}))
	}
	for i, s := range streams {
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("e%d", i), text(t, ev))
		s.Close()
	}
	eventually(t, "every route dropped", func() bool { return a.hub.Stats().Routes == 0 })
	ch := ssekify.RedisLogKey(ssekify.DefaultChannel, "user", "user-7")
	eventually(t, "Redis unsubscribed them", func() bool {
		m, err := rc.PubSubNumSub(ctx, ch).Result()
		return err == nil && m[ch] == 0
	})
}

// TestJoinRoomRoutes: JoinRoom and Conn.Join return once the instance
// receives the room's events: an event published to the room right after
// reaches the stream, for twenty new rooms in turn.
func TestJoinRoomRoutes(t *testing.T) {
	addr := redistest.Start(t).Addr
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	s := connect(t, a.srv, "u", "", nil)
	ctx := context.Background()
	for i := range 20 {
		room := fmt.Sprintf("late-%d", i)
		n, err := a.hub.JoinRoom("u", room)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		require.NoError(t, b.hub.PublishToRoom(ctx, room, ssekify.Event{Data: room}))
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.Equal(t, room, text(t, ev))
	}
	require.Equal(t, int64(21), a.hub.Stats().Routes, "user u and twenty rooms")
}

// TestRouteDroppedMemoryLogIsPartial: a client leaves instance A, whose
// route for it is dropped after the grace; events are published to it
// meanwhile, which A does not receive. When the client comes back to A
// with its Last-Event-ID, A's memory log of the user no longer covers
// its position: the events come from the logs on Redis.
func TestRouteDroppedMemoryLogIsPartial(t *testing.T) {
	addr := redistest.Start(t).Addr
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), &ssekify.Options{RouteGrace: 20 * time.Millisecond})
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	ctx := context.Background()
	s := connect(t, a.srv, "u", "", nil)
	require.NoError(t, b.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e0"}))
	_, last := readTexts(t, s, 1)
	s.Close()
	eventually(t, "A dropped the route", func() bool { return a.hub.Stats().Routes == 0 })
	for i := 1; i <= 5; i++ {
		require.NoError(t, b.hub.PublishToUser(ctx, "u", ssekify.Event{Data: fmt.Sprintf("e%d", i)}))
	}
	back := resume(t, a.srv, "u", "", last, texts(1, 5))
	require.NoError(t, b.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "live"}))
	got, _ := readTexts(t, back, 1)
	require.Equal(t, []string{"live"}, got)
}

// TestRegisterMissesNothingPublishedMeanwhile: new users' streams
// register, without a Last-Event-ID, while another instance publishes to
// them every 200µs: each stream gets every event whose publish began after
// the handler called Register (its route was set up meanwhile), in order.
func TestRegisterMissesNothingPublishedMeanwhile(t *testing.T) {
	addr := redistest.Start(t).Addr
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	waitLinked(t, b.hub, a.hub, wait)
	var began sync.Map // user → when the handler called Register
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		began.Store(user, time.Now())
		_ = a.hub.Register(w, r, user, nil)
	}))
	t.Cleanup(func() { a.hub.CloseAll(); srv.Close() })
	for i := range 20 {
		user := fmt.Sprintf("new-%d", i)
		stop := make(chan struct{})
		var starts []time.Time // when each publish began
		published := make(chan struct{})
		go func() {
			defer close(published)
			for n := 0; n < 2000; n++ {
				select {
				case <-stop:
					return
				default:
				}
				starts = append(starts, time.Now())
				if err := b.hub.PublishToUser(context.Background(), user, ssekify.Event{Data: strconv.Itoa(n)}); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
				time.Sleep(200 * time.Microsecond)
			}
		}()
		time.Sleep(time.Duration(i%5) * time.Millisecond)
		s := connect(t, srv, user, "", nil)
		time.Sleep(20 * time.Millisecond)
		close(stop)
		<-published
		at, _ := began.Load(user)
		first := len(starts)
		for n, st := range starts {
			if st.After(at.(time.Time)) {
				first = n
				break
			}
		}
		var got []int
		for {
			ev, err := s.Next(100 * time.Millisecond)
			if err != nil {
				break
			}
			n, err := strconv.Atoi(text(t, ev))
			require.NoError(t, err)
			got = append(got, n)
		}
		s.Close()
		require.NotEmpty(t, got, "%s got nothing", user)
		require.LessOrEqual(t, got[0], first, "%s: the first event published after Register began (%d) is missing; got from %d", user, first, got[0])
		for k := 1; k < len(got); k++ {
			require.Equal(t, got[k-1]+1, got[k], "%s: in order, none missing", user)
		}
		require.Equal(t, len(starts)-1, got[len(got)-1], "%s: up to the last", user)
	}
}

// TestOutageMemoryLogIsPartial: a client leaves instance A (its route
// stays for the grace); A's subscription is cut and events are published
// to the client's user meanwhile. A's recovery reads only the logs of the
// streams it holds, so its memory log of the user lacks them: when the
// client comes back to A with its Last-Event-ID, they come from Redis.
func TestOutageMemoryLogIsPartial(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	w := connect(t, a.srv, "w", "", nil) // keeps A recovering something
	ctx := context.Background()
	s := connect(t, a.srv, "u", "", nil)
	require.NoError(t, b.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e0"}))
	_, last := readTexts(t, s, 1)
	s.Close()
	eventually(t, "A counts the stream out", func() bool { return a.hub.UserConnections("u") == 0 })
	reconnects := a.hub.Stats().BrokerReconnects
	require.NoError(t, rc.Do(ctx, "CLIENT", "KILL", "TYPE", "pubsub").Err())
	for i := 1; i <= 5; i++ {
		require.NoError(t, b.hub.PublishToUser(ctx, "u", ssekify.Event{Data: fmt.Sprintf("e%d", i)}))
	}
	require.NoError(t, b.hub.PublishToUser(ctx, "w", ssekify.Event{Data: "w"}))
	got, _ := readTexts(t, w, 1)
	require.Equal(t, []string{"w"}, got)
	require.Greater(t, a.hub.Stats().BrokerReconnects, reconnects)
	resume(t, a.srv, "u", "", last, texts(1, 5))
}

// TestRouteUnconfirmedRenewsTheSession: A's connections to Redis stop
// carrying data while a stream of a new user registers on A: its route is
// never confirmed, so after routeWait A ends the subscription and
// registers the stream; once Redis is reachable again, A's new
// subscription recovers what was published to the user meanwhile, and the
// stream gets it, in order.
func TestRouteUnconfirmedRenewsTheSession(t *testing.T) {
	addr := redistest.Start(t).Addr
	p := startProxy(t, addr)
	var logs syncBuffer
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, p.addr())), &ssekify.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	}()
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	waitLinked(t, b.hub, a.hub, wait)
	reconnects := a.hub.Stats().BrokerReconnects
	p.blackhole.Store(true)
	opened := make(chan *ssetest.Stream, 1)
	start := time.Now()
	go func() { opened <- connect(t, a.srv, "late", "", nil) }()
	ctx := context.Background()
	time.Sleep(100 * time.Millisecond) // Register has begun
	for i := 1; i <= 5; i++ {
		require.NoError(t, b.hub.PublishToUser(ctx, "late", ssekify.Event{Data: fmt.Sprintf("e%d", i)}))
	}
	s := <-opened
	took := time.Since(start)
	require.GreaterOrEqual(t, took, 2*time.Second, "Register waited for the route")
	require.Less(t, took, 4*time.Second, "and no longer than routeWait, whatever the session's sender still waits for")
	p.blackhole.Store(false)
	// A connection A opened while the data was dropped may take the
	// client's timeouts to fail: the first event may take a while.
	first, err := s.Next(3 * wait)
	require.NoError(t, err)
	got, _ := readTexts(t, s, 4)
	require.Equal(t, texts(1, 5), append([]string{text(t, first)}, got...))
	require.Greater(t, a.hub.Stats().BrokerReconnects, reconnects, "the subscription was made again")
	t.Logf("Register returned after %v", took.Round(time.Millisecond))
}

// TestLeanStreamsRouted: lean streams (the hub takes the connection over
// after the headers) on an instance with a Redis broker get their routes
// like any other: a user's, a room's and everyone's events published on
// another instance arrive in order, and a reconnect to the other instance
// with the last id gets what was published meanwhile.
func TestLeanStreamsRouted(t *testing.T) {
	addr := redistest.Start(t).Addr
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), &ssekify.Options{Lean: true})
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	s := connect(t, a.srv, "u", "r", nil)
	eventually(t, "the stream is lean", func() bool { return a.hub.Stats().LeanStreams == 1 })
	require.Equal(t, int64(2), a.hub.Stats().Routes, "user u and room r")
	for i := 1; i <= 9; i++ {
		publishMixed(t, b.hub, i)
	}
	got, last := readTexts(t, s, 9)
	require.Equal(t, texts(1, 9), got)
	s.Close()
	for i := 10; i <= 12; i++ {
		publishMixed(t, b.hub, i)
	}
	resume(t, b.srv, "u", "r", last, texts(10, 12))
}

// TestQuietInstanceStaysFresh: an instance whose users get no events still
// learns where the log stands (a mark a second), so the position a new
// stream of a known user starts from, which its token carries, is the
// log's head, not where the instance last heard an event.
func TestQuietInstanceStaysFresh(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	held := connect(t, a.srv, "q", "", nil) // keeps q's route confirmed on A
	defer held.Close()
	ctx := context.Background()
	for i := range 50 {
		require.NoError(t, b.hub.PublishToUser(ctx, fmt.Sprintf("other-%d", i), ssekify.Event{Data: "x"}))
	}
	head, err := rc.HGet(ctx, "{"+ssekify.DefaultChannel+"}:m", "pos").Uint64()
	require.NoError(t, err)
	eventually(t, "a new stream of q starts at the log's head", func() bool {
		s := connect(t, a.srv, "q", "", nil)
		defer s.Close()
		var id string
		for end := time.Now().Add(time.Second); id == "" && time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			id = s.LastEventID() // the opening's id line, without an event
		}
		parts := strings.Split(id, ".")
		if len(parts) != 5 {
			return false
		}
		rpos, err := strconv.ParseUint(parts[4], 36, 64)
		return err == nil && rpos >= head
	})
}
