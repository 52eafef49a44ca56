package ssekify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// node is one instance of a cluster of hubs: a hub behind its own server.
type node struct {
	hub *ssekify.Hub
	srv *httptest.Server
}

// startNode starts a hub on broker b (opts may be nil) behind a loopback
// server. The hub is shut down when the test ends.
func startNode(t testing.TB, b ssekify.Broker, opts *ssekify.Options) node {
	t.Helper()
	var o ssekify.Options
	if opts != nil {
		o = *opts
	}
	o.Redis = b
	h := newHub(t, &o)
	t.Cleanup(func() { shutdownHub(t, h) })
	return node{hub: h, srv: serve(t, h, nil)}
}

// shutdownHub shuts h down at once and checks that it ended cleanly.
func shutdownHub(t testing.TB, h *ssekify.Hub) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := h.Shutdown(ctx, ssekify.ShutdownOptions{Grace: -1, NoAnnounce: true}); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	ssekify.StopSubscription(h) // a no-op after Shutdown: proves it is idempotent
}

// redisClient returns a client of the Redis at addr, closed when the test ends.
func redisClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// backends are the Redis implementations the cross-instance tests run on:
// miniredis, fast and in-process, and a real redis-server.
var backends = []struct {
	name  string
	start func(t testing.TB) (addr string)
}{
	{"miniredis", func(t testing.TB) string { return miniredis.RunT(t).Addr() }},
	{"redis-server", func(t testing.TB) string { return redistest.Start(t).Addr }},
}

// probeUser receives the probes of waitLinked; no test stream has it.
const probeUser = "probe:nobody"

// waitLinked waits at most d until a publish of from reaches to, that is
// until to's subscription is live. It holds a stream of probeUser on to
// meanwhile (to then subscribes to that user's channel), publishes probes
// to that user and watches to's received count.
func waitLinked(t testing.TB, from, to *ssekify.Hub, d time.Duration) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		req := httptest.NewRequest("GET", "/probe", nil).WithContext(ctx)
		_ = to.Register(httptest.NewRecorder(), req, probeUser, nil)
	}()
	defer func() { stop(); <-probed }()
	deadline := time.Now().Add(d)
	for {
		before := to.Stats().Received
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = from.PublishToUser(ctx, probeUser, ssekify.Event{Name: "probe", Data: "probe"})
		cancel()
		for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
			if to.Stats().Received > before {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no publish of %s reached %s within %v", from.InstanceID(), to.InstanceID(), d)
		}
	}
}

// text returns the string an event carries as its JSON data.
func text(t testing.TB, ev ssetest.Event) string {
	t.Helper()
	if ev.Type == ssekify.DefaultGapEvent {
		var g gapEvent
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &g), "data %q", ev.Data)
		return "gap:" + g.Reason
	}
	var s string
	require.NoError(t, json.Unmarshal([]byte(ev.Data), &s), "data %q", ev.Data)
	return s
}

// collectUntil reads s until every stop text was received and returns the
// texts of all the events read, sorted.
func collectUntil(t testing.TB, s *ssetest.Stream, stops ...string) []string {
	t.Helper()
	var got []string
	missing := slices.Clone(stops)
	deadline := time.Now().Add(wait)
	for len(missing) > 0 {
		ev, err := s.Next(time.Until(deadline))
		require.NoError(t, err, "waiting for %v; got %v", missing, got)
		x := text(t, ev)
		got = append(got, x)
		if i := slices.Index(missing, x); i >= 0 {
			missing = slices.Delete(missing, i, i+1)
		}
	}
	slices.Sort(got)
	return got
}

func sorted(s ...string) []string { slices.Sort(s); return s }

// publishAll publishes each step in order, each returning before the next.
func publishAll(t testing.TB, steps ...func(context.Context) error) {
	t.Helper()
	for i, step := range steps {
		require.NoError(t, step(context.Background()), "step %d", i)
	}
}

func toUser(h *ssekify.Hub, user, x string) func(context.Context) error {
	return func(ctx context.Context) error { return h.PublishToUser(ctx, user, ssekify.Event{Data: x}) }
}

func toRoom(h *ssekify.Hub, room, x string) func(context.Context) error {
	return func(ctx context.Context) error { return h.PublishToRoom(ctx, room, ssekify.Event{Data: x}) }
}

func toAll(h *ssekify.Hub, x string) func(context.Context) error {
	return func(ctx context.Context) error { return h.Publish(ctx, ssekify.Event{Data: x}) }
}

// testCrossInstance proves, on two hubs sharing one Redis, that user, room
// and everyone publishes reach every matching stream on both instances
// exactly once, and that an instance does not deliver its own envelopes a
// second time. Fences published last by the other instance travel through
// Redis after every envelope that could be duplicated.
func testCrossInstance(t *testing.T, newBroker func() ssekify.Broker) {
	var published []ssekify.MessageInfo
	var mu sync.Mutex
	a := startNode(t, newBroker(), &ssekify.Options{OnPublish: func(m ssekify.MessageInfo) {
		if m.Target != probeUser {
			mu.Lock()
			published = append(published, m)
			mu.Unlock()
		}
	}})
	b := startNode(t, newBroker(), nil)
	uA := connect(t, a.srv, "u", "r", nil)
	vA := connect(t, a.srv, "v", "", nil)
	uB := connect(t, b.srv, "u", "", nil)
	waitLinked(t, b.hub, a.hub, wait)
	waitLinked(t, a.hub, b.hub, wait)

	publishAll(t,
		toUser(b.hub, "u", "to-u"), toRoom(b.hub, "r", "to-r"), toAll(b.hub, "to-all"),
		toUser(a.hub, "u", "from-a"),
		toAll(b.hub, "fence-b"), // reaches A after A's own envelopes came back
	)
	require.Equal(t, sorted("to-u", "to-r", "to-all", "from-a", "fence-b"), collectUntil(t, uA, "fence-b"))
	require.Equal(t, sorted("to-all", "fence-b"), collectUntil(t, vA, "fence-b"))

	publishAll(t, toAll(a.hub, "fence-a")) // reaches B after B's own envelopes came back
	require.Equal(t, sorted("to-u", "to-all", "from-a", "fence-b", "fence-a"), collectUntil(t, uB, "fence-a"))

	// OnPublish runs after delivery: the stream may have read an event first.
	eventually(t, "OnPublish called four times", func() bool { mu.Lock(); defer mu.Unlock(); return len(published) >= 4 })
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, published, 4, "A received B's four envelopes, not its own")
	for _, m := range published {
		require.Equal(t, b.hub.InstanceID(), m.Origin)
	}
	require.Equal(t, ssekify.MessageInfo{Kind: "user", Target: "u", ID: published[0].ID, Data: []byte(`"to-u"`),
		Delivered: 1, Origin: b.hub.InstanceID()}, published[0])
	require.Equal(t, "room", published[1].Kind)
	require.Equal(t, "all", published[2].Kind)
	require.Equal(t, 2, published[2].Delivered, "both streams on A")
}

func TestCrossInstanceRedis(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			addr := be.start(t)
			testCrossInstance(t, func() ssekify.Broker { return ssekify.NewRedisBroker(redisClient(t, addr)) })
		})
	}
}

func TestCrossInstanceFakeBroker(t *testing.T) {
	mb := newMemBroker()
	testCrossInstance(t, func() ssekify.Broker { return mb })
}

// TestCrossInstanceSameFrame proves that the other instance writes the very
// frame the publisher built: same id, event name and data.
func TestCrossInstanceSameFrame(t *testing.T) {
	addr := miniredis.RunT(t).Addr()
	opts := &ssekify.Options{AutoFields: ssekify.AutoFields{Timestamp: ssekify.TimestampOff}}
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), opts)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), opts)
	sa, sb := connect(t, a.srv, "u", "", nil), connect(t, b.srv, "u", "", nil)
	waitLinked(t, b.hub, a.hub, wait)

	data := json.RawMessage("{\"text\":\"line 1\\nline 2\",\n \"html\":\"<b>&amp;</b>\"}")
	require.NoError(t, b.hub.PublishToUser(context.Background(), "u", ssekify.Event{Name: "note", Data: data}))
	local, err := sb.Next(wait)
	require.NoError(t, err)
	remote, err := sa.Next(wait)
	require.NoError(t, err)
	// Each instance writes its own position token (its own logs and
	// epoch); a caller's id travels as it is.
	require.Equal(t, ssetest.Event{Type: "note", Data: "{\"text\":\"line 1\\nline 2\",\n \"html\":\"<b>&amp;</b>\"}",
		LastEventID: local.LastEventID}, local)
	require.Equal(t, local.Type+local.Data, remote.Type+remote.Data)
	for _, id := range []string{local.LastEventID, remote.LastEventID} {
		require.True(t, ssekify.IsPositionToken(id), id)
	}
	require.NotEqual(t, local.LastEventID, remote.LastEventID)
	require.NoError(t, b.hub.PublishToUser(context.Background(), "u", ssekify.Event{ID: "own-7", Data: data}))
	local, err = sb.Next(wait)
	require.NoError(t, err)
	remote, err = sa.Next(wait)
	require.NoError(t, err)
	require.Equal(t, local, remote)
	require.Equal(t, "own-7", remote.LastEventID)
}

func TestPublishWithoutBrokerIsLocal(t *testing.T) {
	h := newHub(t, nil)
	s := connect(t, serve(t, h, nil), "u", "", nil)
	require.NoError(t, h.PublishToUser(context.Background(), "u", ssekify.Event{Data: "x"}))
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, "x", text(t, ev))
	require.Zero(t, h.Stats().Published)
	require.ErrorIs(t, h.PublishToUser(context.Background(), "", ssekify.Event{Data: "x"}), ssekify.ErrEmptyTarget)
	require.ErrorIs(t, h.PublishToRoom(context.Background(), "", ssekify.Event{Data: "x"}), ssekify.ErrEmptyTarget)
}

func TestPublishBrokerErrorAfterLocalDelivery(t *testing.T) {
	mb := newMemBroker()
	mb.failPublish = errors.New("connection refused")
	var log errorLog
	n := startNode(t, mb, &ssekify.Options{OnError: log.hook, Seq: ssekify.SeqOptions{Disabled: true}})
	s := connect(t, n.srv, "u", "", nil)

	err := n.hub.PublishToUser(context.Background(), "u", ssekify.Event{Data: "x"})
	require.ErrorIs(t, err, ssekify.ErrBroker)
	require.ErrorIs(t, err, mb.failPublish)
	ev, err := s.Next(wait)
	require.NoError(t, err, "delivered locally before the broker failed")
	require.Equal(t, "x", text(t, ev))
	require.Equal(t, []string{ssekify.CodeBrokerPublish}, log.codes())
	st := n.hub.Stats()
	require.Equal(t, int64(1), st.PublishErrors)
	require.Zero(t, st.Published)
}

// TestSubscribeFailuresAreRetried proves that a failing subscription is
// reported, counted and retried until it works.
func TestSubscribeFailuresAreRetried(t *testing.T) {
	mb := newMemBroker()
	b := startNode(t, mb, nil)
	eventually(t, "B subscribed", func() bool { return mb.subscribers("") == 1 })
	mb.mu.Lock()
	mb.failSubscribe = 3
	mb.mu.Unlock()
	var log errorLog
	a := startNode(t, mb, &ssekify.Options{OnError: log.hook, Seq: ssekify.SeqOptions{Disabled: true}})
	waitLinked(t, b.hub, a.hub, wait)
	require.Equal(t, []string{ssekify.CodeBrokerSubscribe, ssekify.CodeBrokerSubscribe, ssekify.CodeBrokerSubscribe}, log.codes())
	for _, e := range log.errs {
		require.ErrorIs(t, e, ssekify.ErrBroker)
		require.Equal(t, ssekify.LevelWarn, e.Level)
	}
	require.Equal(t, int64(3), a.hub.Stats().BrokerReconnects)
}

// TestBrokerWithoutCounter proves the memory fallback of the seq with a
// broker that has no Counter: reported once, and seq still numbered.
func TestBrokerWithoutCounter(t *testing.T) {
	var log errorLog
	n := startNode(t, newMemBroker(), &ssekify.Options{OnError: log.hook})
	s := connect(t, n.srv, "u", "", nil)
	for i := 0; i < 3; i++ {
		require.NoError(t, n.hub.PublishToUser(context.Background(), "u", ssekify.Event{Data: map[string]any{"requestId": "r"}}))
	}
	evs, err := s.Collect(3, wait)
	require.NoError(t, err)
	require.Equal(t, []int64{0, 1, 2}, seqs(t, evs))
	require.Equal(t, []string{ssekify.CodeSeqKVFallback}, log.codes())
	require.Equal(t, ssekify.LevelWarn, log.errs[0].Level)
	require.NotZero(t, n.hub.Stats().LastSeqKvFallbackAt)
	require.Zero(t, n.hub.Stats().SeqIncrsRedis)
}

// seqs returns the seq field of each event's JSON object.
func seqs(t testing.TB, evs []ssetest.Event) []int64 {
	t.Helper()
	out := make([]int64, len(evs))
	for i, ev := range evs {
		var v struct{ Seq *int64 }
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &v), "data %q", ev.Data)
		require.NotNil(t, v.Seq, "no seq in %q", ev.Data)
		out[i] = *v.Seq
	}
	return out
}

// memBroker is an in-process Broker without Counter: every subscriber of a
// channel gets what anyone publishes on it, its publisher included.
type memBroker struct {
	failPublish error // Publish returns it when set

	mu            sync.Mutex
	failSubscribe int // how many Subscribe calls fail before they work
	subs          map[string]map[chan []byte]bool
}

func newMemBroker() *memBroker { return &memBroker{subs: map[string]map[chan []byte]bool{}} }

func (b *memBroker) Publish(ctx context.Context, channel string, payload []byte) error {
	if b.failPublish != nil {
		return b.failPublish
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs[channel] {
		select {
		case ch <- slices.Clone(payload):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (b *memBroker) Subscribe(ctx context.Context, channel string, handler func([]byte)) error {
	ch := make(chan []byte, 1024)
	b.mu.Lock()
	if b.failSubscribe > 0 {
		b.failSubscribe--
		b.mu.Unlock()
		return fmt.Errorf("subscribe refused")
	}
	if b.subs[channel] == nil {
		b.subs[channel] = map[chan []byte]bool{}
	}
	b.subs[channel][ch] = true
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.subs[channel], ch)
		b.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-ch:
			handler(p)
		}
	}
}

func (b *memBroker) Close() error { return nil }

// subscribers returns how many subscriptions channel has ("": the default).
func (b *memBroker) subscribers(channel string) int {
	if channel == "" {
		channel = ssekify.DefaultChannel
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs[channel])
}

// seqOptions are hub options for the global seq tests: queues large enough
// that no event is dropped, and a StartAt to honour.
func seqOptions() *ssekify.Options {
	return &ssekify.Options{MaxQueueItems: 10000, MaxQueueBytes: 16 << 20, Seq: ssekify.SeqOptions{StartAt: 1}}
}

// collectAsync reads n events from s on its own goroutine, so that the
// stream is drained while the test publishes.
func collectAsync(s *ssetest.Stream, n int, timeout time.Duration) <-chan []ssetest.Event {
	out := make(chan []ssetest.Event, 1)
	go func() {
		evs, _ := s.Collect(n, timeout)
		out <- evs
	}()
	return out
}

// span returns first, first+1, ..., first+n-1.
func span(first int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = first + int64(i)
	}
	return out
}

// testGlobalSeq publishes 2n events of one requestId from hubs A and B
// taking turns, each publish returning before the next, and reads them on
// a third hub C, where every event arrives through Redis in PUBLISH order:
// C must see the seqs strictly increasing, with no gap and no duplicate. A
// gets its own events locally at once and B's through Redis, so A sees each
// seq exactly once, in whatever order. Then A and B publish n more each at
// the same time: all 2n seqs still come out distinct.
func testGlobalSeq(t *testing.T, newClient func() redis.UniversalClient, n int) {
	a := startNode(t, ssekify.NewRedisBroker(newClient()), seqOptions())
	b := startNode(t, ssekify.NewRedisBroker(newClient()), seqOptions())
	c := startNode(t, ssekify.NewRedisBroker(newClient()), seqOptions())
	sA, sC := connect(t, a.srv, "u", "", nil), connect(t, c.srv, "u", "", nil)
	for _, pair := range [][2]*ssekify.Hub{{a.hub, c.hub}, {b.hub, c.hub}, {b.hub, a.hub}} {
		waitLinked(t, pair[0], pair[1], wait)
	}
	ctx := context.Background()
	gotA, gotC := collectAsync(sA, 2*n, 4*wait), collectAsync(sC, 2*n, 4*wait)
	for i := 0; i < 2*n; i++ {
		h := []*ssekify.Hub{a.hub, b.hub}[i%2]
		require.NoError(t, h.PublishToUser(ctx, "u", ssekify.Event{Data: map[string]any{"requestId": "job-1", "i": i}}))
	}
	evsC, evsA := <-gotC, <-gotA
	require.Len(t, evsC, 2*n, "C received every event")
	require.Equal(t, span(1, 2*n), seqs(t, evsC), "C: strictly increasing from StartAt, no gap, no duplicate")
	require.Len(t, evsA, 2*n, "A received every event")
	seqA := seqs(t, evsA)
	slices.Sort(seqA)
	require.Equal(t, span(1, 2*n), seqA, "A: each seq exactly once")
	require.Equal(t, int64(2*n), a.hub.Stats().SeqIncrsRedis+b.hub.Stats().SeqIncrsRedis)

	gotA, gotC = collectAsync(sA, 2*n, 4*wait), collectAsync(sC, 2*n, 4*wait)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for _, h := range []*ssekify.Hub{a.hub, b.hub} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				errs <- h.PublishToUser(ctx, "u", ssekify.Event{Data: map[string]any{"requestId": "job-1"}})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for name, got := range map[string]<-chan []ssetest.Event{"A": gotA, "C": gotC} {
		evs := <-got
		require.Len(t, evs, 2*n, "%s received every event", name)
		seq := seqs(t, evs)
		slices.Sort(seq)
		require.Equal(t, span(int64(2*n+1), 2*n), seq, "%s: each seq exactly once", name)
	}
	require.Zero(t, a.hub.Stats().DroppedOldest+c.hub.Stats().DroppedOldest)
}

func TestGlobalSeqRedis(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			addr := be.start(t)
			n := 1000
			if be.name == "miniredis" {
				n = 200 // its Lua interpreter is slow under -race; the real server gets the full run
			}
			testGlobalSeq(t, func() redis.UniversalClient { return redisClient(t, addr) }, n)
			// The counter lives in Redis under the default prefix, with its expiry.
			rc := redisClient(t, addr)
			require.Equal(t, strconv.Itoa(4*n), rc.Get(context.Background(), ssekify.DefaultSeqKeyPrefix+"job-1").Val())
			ttl := rc.PTTL(context.Background(), ssekify.DefaultSeqKeyPrefix+"job-1").Val()
			require.True(t, ttl > ssekify.DefaultSeqRedisTTL-time.Minute && ttl <= ssekify.DefaultSeqRedisTTL, "PTTL %v", ttl)
		})
	}
}

// TestGlobalSeqFinalAndLocal proves, on a real redis-server, that local
// sends and publishes share the one global counter, that a final message
// published by one instance ends the scope for every instance, and that the
// key prefix and TTL options apply.
func TestGlobalSeqFinalAndLocal(t *testing.T) {
	addr := redistest.Start(t).Addr
	opts := seqOptions()
	opts.Seq.KeyPrefix, opts.Seq.RedisTTL = "app:seq:", time.Minute
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), opts)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), opts)
	sA := connect(t, a.srv, "u", "", nil)
	waitLinked(t, b.hub, a.hub, wait)
	ctx := context.Background()
	ev := func(extra ...any) ssekify.Event {
		d := map[string]any{"requestId": "r"}
		for i := 0; i+1 < len(extra); i += 2 {
			d[extra[i].(string)] = extra[i+1]
		}
		return ssekify.Event{Data: d}
	}
	_, err := a.hub.SendToUser("u", ev())
	require.NoError(t, err)
	require.NoError(t, b.hub.PublishToUser(ctx, "u", ev()))
	require.NoError(t, b.hub.PublishToUser(ctx, "u", ev("phase", "done")))
	rc := redisClient(t, addr)
	require.Zero(t, rc.Exists(ctx, "app:seq:r").Val(), "the final message removed the counter")
	require.NoError(t, a.hub.PublishToUser(ctx, "u", ev()))
	ttl := rc.PTTL(ctx, "app:seq:r").Val()
	require.True(t, ttl > 0 && ttl <= time.Minute, "PTTL %v", ttl)
	evs, err := sA.Collect(4, wait)
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2, 3, 1}, seqs(t, evs))
}

// TestTenantsShareOneClient runs two tenants, two instances each, on one
// shared Redis client: each tenant's channel carries only its own events.
func TestTenantsShareOneClient(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			client := redisClient(t, be.start(t))
			var mu sync.Mutex
			origins := map[string][]string{} // per receiving hub, the origins of what it received
			tenant := func(id string) (node, node) {
				o := &ssekify.Options{Channel: "ssekify:bus:tenant:" + id}
				o.OnPublish = func(m ssekify.MessageInfo) {
					mu.Lock()
					defer mu.Unlock()
					origins[id] = append(origins[id], m.Origin)
				}
				return startNode(t, ssekify.NewRedisBroker(client), o), startNode(t, ssekify.NewRedisBroker(client), o)
			}
			a1, a2 := tenant("a")
			b1, b2 := tenant("b")
			sA, sB := connect(t, a1.srv, "u", "r", nil), connect(t, b1.srv, "u", "r", nil)
			waitLinked(t, a2.hub, a1.hub, wait)
			waitLinked(t, b2.hub, b1.hub, wait)

			publishAll(t, toUser(a2.hub, "u", "a-user"), toRoom(a2.hub, "r", "a-room"), toAll(a2.hub, "a-all"),
				toAll(b2.hub, "b-fence"), toAll(a2.hub, "a-fence"))
			require.Equal(t, sorted("a-user", "a-room", "a-all", "a-fence"), collectUntil(t, sA, "a-fence"))
			require.Equal(t, []string{"b-fence"}, collectUntil(t, sB, "b-fence"))
			mu.Lock()
			for id, hubs := range map[string][2]*ssekify.Hub{"a": {a1.hub, a2.hub}, "b": {b1.hub, b2.hub}} {
				for _, o := range origins[id] {
					require.Contains(t, []string{hubs[0].InstanceID(), hubs[1].InstanceID()}, o, "tenant %s got another tenant's envelope", id)
				}
			}
			mu.Unlock()
			require.Zero(t, b1.hub.Stats().InvalidEnvelopes+a1.hub.Stats().InvalidEnvelopes)
		})
	}
}
