package ssekify_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// incrCounter is a go-redis hook that counts the Counter calls
// (RedisBroker.IncrFloor's script) of a client.
type incrCounter struct{ n atomic.Int64 }

func (c *incrCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *incrCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.count(cmd)
		return next(ctx, cmd)
	}
}

func (c *incrCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			c.count(cmd)
		}
		return next(ctx, cmds)
	}
}

func (c *incrCounter) count(cmd redis.Cmder) {
	if a := cmd.Args(); len(a) > 1 && cmd.Name() == "evalsha" && a[1] == ssekify.IncrScriptHash() {
		c.n.Add(1)
	}
}

// jobEvent is an event of seq scope id.
func jobEvent(id string, extra ...string) ssekify.Event {
	d := map[string]any{"requestId": id}
	for i := 0; i+1 < len(extra); i += 2 {
		d[extra[i]] = extra[i+1]
	}
	return ssekify.Event{Data: d}
}

// seqPair starts hubs a (on client ca, with options optsA) and b (on cb,
// with seqOptions), each with a stream of user "u".
func seqPair(t *testing.T, ca, cb redis.UniversalClient, optsA *ssekify.Options) (a, b node, sA, sB *ssetest.Stream) {
	t.Helper()
	a = startNode(t, ssekify.NewRedisBroker(ca), optsA)
	b = startNode(t, ssekify.NewRedisBroker(cb), seqOptions())
	return a, b, connect(t, a.srv, "u", "", nil), connect(t, b.srv, "u", "", nil)
}

// publishJobs publishes n events of seq scope "r" to user "u" from h.
func publishJobs(t *testing.T, h *ssekify.Hub, n int) {
	t.Helper()
	for range n {
		require.NoError(t, h.PublishToUser(context.Background(), "u", jobEvent("r")))
	}
}

// TestPublishSeqInTheScript: a publish with a seq scope takes its number in
// the publish script, one round trip, with no Counter call; publishes of
// both instances and a local send share the one counter, and every stream
// gets the numbers in order.
func TestPublishSeqInTheScript(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			addr := be.start(t)
			var incrs incrCounter
			ca := redisClient(t, addr)
			ca.AddHook(&incrs)
			a, b, sA, sB := seqPair(t, ca, redisClient(t, addr), seqOptions())
			publishJobs(t, a.hub, 3)
			// A delivers its publishes from its subscription: wait for them
			// before the local send, which is delivered at once.
			evs, err := sA.Collect(3, wait)
			require.NoError(t, err)
			_, err = a.hub.SendToUser("u", jobEvent("r")) // local: A's stream only
			require.NoError(t, err)
			publishJobs(t, a.hub, 2)
			publishJobs(t, b.hub, 1)

			more, err := sA.Collect(4, wait)
			require.NoError(t, err)
			require.Equal(t, span(1, 7), seqs(t, append(evs, more...)))
			evs, err = sB.Collect(6, wait)
			require.NoError(t, err)
			require.Equal(t, []int64{1, 2, 3, 5, 6, 7}, seqs(t, evs))
			require.Equal(t, int64(1), incrs.n.Load(), "one Counter call: the local send's")
			require.Equal(t, int64(6), a.hub.Stats().SeqIncrsRedis)
			require.Equal(t, "7", redisClient(t, addr).Get(context.Background(), ssekify.DefaultSeqKeyPrefix+"r").Val())
		})
	}
}

// TestPublishSeqFloor: numbers handed out locally while the Counter was
// down (the scope marked ahead) are a floor for the script too.
func TestPublishSeqFloor(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, srv.Addr)), seqOptions())
	s := connect(t, a.srv, "u", "", nil)
	ssekify.SetSeqAhead(a.hub, "r", 50)
	ctx := context.Background()
	require.NoError(t, a.hub.PublishToUser(ctx, "u", jobEvent("r")))
	require.NoError(t, a.hub.PublishToUser(ctx, "u", jobEvent("r")))
	evs, err := s.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, []int64{50, 51}, seqs(t, evs))
}

// TestPublishSeqBadCounter: a scope whose counter key holds another type
// fails its publishes with ErrBroker and is never published; the events of
// other scopes, in the same batches, arrive numbered and intact.
func TestPublishSeqBadCounter(t *testing.T) {
	srv := redistest.Start(t)
	rc := redisClient(t, srv.Addr)
	ctx := context.Background()
	require.NoError(t, rc.LPush(ctx, ssekify.DefaultSeqKeyPrefix+"bad", "x").Err())
	log := &errorLog{}
	opts := seqOptions()
	opts.OnError = log.hook
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, srv.Addr)), opts)
	s := connect(t, a.srv, "u", "", nil)
	const workers, each = 16, 10
	var wg sync.WaitGroup
	var bad, failed atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				scope := "good"
				if (w+i)%2 == 0 {
					scope = "bad"
				}
				err := a.hub.PublishToUser(ctx, "u", jobEvent(scope))
				switch {
				case scope == "bad" && errors.Is(err, ssekify.ErrBroker):
					bad.Add(1)
				case err != nil:
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, failed.Load(), "no other publish failed")
	require.Equal(t, int64(workers*each/2), bad.Load(), "every publish of the bad scope failed")
	evs, err := s.Collect(workers*each/2, wait)
	require.NoError(t, err)
	got := seqs(t, evs)
	slices.Sort(got)
	require.Equal(t, span(1, workers*each/2), got)
	for _, ev := range evs {
		require.Contains(t, ev.Data, `"requestId":"good"`)
	}
	require.Contains(t, log.codes(), ssekify.CodeBrokerPublish)
	require.Zero(t, a.hub.Stats().InvalidEnvelopes)
}

// TestPublishSeqEnvelopeLengths: the number the script writes grows the
// envelope; its length prefix follows, also where it takes one byte more
// (envelopes of about 128 B and 16 KiB).
func TestPublishSeqEnvelopeLengths(t *testing.T) {
	srv := redistest.Start(t)
	opts := seqOptions()
	opts.AutoFields = ssekify.AutoFields{Timestamp: ssekify.TimestampOff}
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, srv.Addr)), opts)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, srv.Addr)), opts)
	s := connect(t, b.srv, "u", "", nil)
	var pads []int
	for n := 0; n < 160; n++ {
		pads = append(pads, n)
	}
	for n := 16250; n < 16400; n++ {
		pads = append(pads, n)
	}
	got := collectAsync(s, len(pads), wait)
	ctx := context.Background()
	for _, n := range pads {
		require.NoError(t, a.hub.PublishToUser(ctx, "u", jobEvent("r", "pad", strings.Repeat("x", n))))
	}
	evs := <-got
	require.Len(t, evs, len(pads))
	for i, ev := range evs {
		var v struct {
			RequestID string `json:"requestId"`
			Pad       string `json:"pad"`
			Seq       int64  `json:"seq"`
		}
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &v), "event %d", i)
		require.Equal(t, "r", v.RequestID)
		require.Len(t, v.Pad, pads[i])
		require.Equal(t, int64(i+1), v.Seq)
	}
	require.Zero(t, b.hub.Stats().InvalidEnvelopes)
}

// TestPublishSeqPublishOnly: a hub that delivers its own publishes
// (PublishOnly) gives its streams the number the script took, the same
// bytes as another instance's streams get.
func TestPublishSeqPublishOnly(t *testing.T) {
	srv := redistest.Start(t)
	opts := seqOptions()
	opts.PublishOnly = true
	p, _, sP, sB := seqPair(t, redisClient(t, srv.Addr), redisClient(t, srv.Addr), opts)
	publishJobs(t, p.hub, 3)
	evP, err := sP.Collect(3, wait)
	require.NoError(t, err)
	evB, err := sB.Collect(3, wait)
	require.NoError(t, err)
	require.Equal(t, span(1, 3), seqs(t, evP))
	for i := range evP {
		require.Equal(t, evB[i].Data, evP[i].Data)
	}
}

// TestPublishSeqCluster: on a 3-master Cluster the counters are not in the
// tenant's slot, so a publish with a scope calls the Counter first; both
// instances still share one sequence.
func TestPublishSeqCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	var incrs incrCounter
	ca := clusterClient(t, c)
	ca.AddHook(&incrs)
	a, b, _, s := seqPair(t, ca, clusterClient(t, c), seqOptions())
	for range 5 {
		publishJobs(t, a.hub, 1)
		publishJobs(t, b.hub, 1)
	}
	evs, err := s.Collect(10, wait)
	require.NoError(t, err)
	require.Equal(t, span(1, 10), seqs(t, evs))
	require.Equal(t, int64(5), incrs.n.Load(), "A's five publishes called the Counter")
}

// TestPublishSeqMultilinePayload: the script writes the number before the
// closing brace of a payload with line breaks and trailing white space,
// and the event arrives as the same lines with the member added.
func TestPublishSeqMultilinePayload(t *testing.T) {
	srv := redistest.Start(t)
	opts := seqOptions()
	opts.AutoFields = ssekify.AutoFields{Timestamp: ssekify.TimestampOff}
	a, _, _, s := seqPair(t, redisClient(t, srv.Addr), redisClient(t, srv.Addr), opts)
	payload := json.RawMessage("{\n  \"requestId\": \"m\"\n}\n  ")
	for range 2 {
		require.NoError(t, a.hub.PublishToUser(context.Background(), "u", ssekify.Event{Data: payload}))
	}
	evs, err := s.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2}, seqs(t, evs))
	require.Equal(t, "{\n  \"requestId\": \"m\"\n,\"seq\":2}\n  ", evs[1].Data)
}

// TestPublishSeqBurstAtDefaults: at the default options, 64 publishers
// send a burst of 2,000 events of one scope; a healthy stream on another
// instance gets every one, once, and since the script numbers them in the
// order of the log, the seqs arrive in order, from StartAt (0) on.
func TestPublishSeqBurstAtDefaults(t *testing.T) {
	srv := redistest.Start(t)
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, srv.Addr)), nil)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, srv.Addr)), nil)
	s := connect(t, b.srv, "u", "", nil)
	const workers, each = 64, 2000 / 64
	got := collectAsync(s, workers*each, wait)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if a.hub.PublishToUser(context.Background(), "u", jobEvent("burst")) != nil {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, failed.Load())
	evs := <-got
	require.Equal(t, span(0, workers*each), seqs(t, evs))
	require.Zero(t, b.hub.Stats().DroppedOldest)
}
