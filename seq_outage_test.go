package ssekify_test

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// countingCounter is a RedisBroker's counter that counts its calls.
type countingCounter struct {
	*ssekify.RedisBroker
	calls atomic.Int64
}

func (c *countingCounter) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	c.calls.Add(1)
	return c.RedisBroker.Incr(ctx, key, ttl)
}

func (c *countingCounter) IncrFloor(ctx context.Context, key string, floor int64, ttl time.Duration) (int64, error) {
	c.calls.Add(1)
	return c.RedisBroker.IncrFloor(ctx, key, floor, ttl)
}

func (c *countingCounter) DecrIf(ctx context.Context, key string, value int64) (bool, error) {
	c.calls.Add(1)
	return c.RedisBroker.DecrIf(ctx, key, value)
}

func (c *countingCounter) Reset(ctx context.Context, key string) error {
	c.calls.Add(1)
	return c.RedisBroker.Reset(ctx, key)
}

// outageClient returns a client of addr that gives up at once, as a client
// configured for an outage would, and honours the deadline of the context.
func outageClient(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// outageHub returns a hub numbering with c, its stream of user "u", the
// errors it reports and its log.
func outageHub(t *testing.T, c ssekify.Counter) (*ssekify.Hub, *ssetest.Stream, *errorLog, *syncBuffer) {
	log, logs := &errorLog{}, &syncBuffer{}
	h := newHub(t, &ssekify.Options{
		OnError:       log.hook,
		Logger:        slog.New(slog.NewTextHandler(logs, nil)),
		AutoFields:    ssekify.AutoFields{Timestamp: ssekify.TimestampOff},
		MaxQueueItems: 1000,
	})
	ssekify.SetCounter(h, c)
	return h, connect(t, serve(t, h, nil), "u", "", nil), log, logs
}

// sendJob sends n messages of scope "job" to user "u".
func sendJob(t *testing.T, h *ssekify.Hub, n int) {
	t.Helper()
	for range n {
		_, err := h.SendToUser("u", ssekify.Event{Data: map[string]any{"requestId": "job"}})
		require.NoError(t, err)
	}
}

// TestSeqOutageNoDuplicate: after an outage of the Counter the scope goes
// on above the numbers the local fallback handed out, 0 1 2 3 4 5, not
// 0 1 2 3 2 3: the first call after the outage lifts the Redis counter,
// which kept its value, to the next local number.
func TestSeqOutageNoDuplicate(t *testing.T) {
	m := miniredis.RunT(t)
	h, s, _, _ := outageHub(t, ssekify.NewRedisBroker(outageClient(t, m.Addr())))
	clock := newTestClock().hub(h)
	sendJob(t, h, 2)
	m.Close()
	sendJob(t, h, 2)
	require.NoError(t, m.Restart())
	clock.Advance(ssekify.SeqRetryAfter)
	sendJob(t, h, 2)
	evs, err := s.Collect(6, wait)
	require.NoError(t, err)
	require.Equal(t, span(0, 6), seqs(t, evs))
	v, err := m.Get(ssekify.DefaultSeqKeyPrefix + "job")
	require.NoError(t, err)
	require.Equal(t, "6", v, "the counter resumed above the local numbers")
	st := h.Stats()
	require.EqualValues(t, 4, st.SeqIncrsRedis)
	require.EqualValues(t, 2, st.SeqIncrsLocal)
}

// TestSeqOutageStaysLocal: once a Counter call failed, scoped sends do not
// call the Counter again for the retry interval, and the outage is
// reported once; a failed retry reports nothing new; the first retry that
// works ends the outage (logged), and the Counter numbers again.
func TestSeqOutageStaysLocal(t *testing.T) {
	m := miniredis.RunT(t)
	c := &countingCounter{RedisBroker: ssekify.NewRedisBroker(outageClient(t, m.Addr()))}
	h, s, log, logs := outageHub(t, c)
	clock := newTestClock().hub(h)
	sendJob(t, h, 2)
	require.EqualValues(t, 2, c.calls.Load())
	m.Close()
	sendJob(t, h, 20)
	require.EqualValues(t, 3, c.calls.Load(), "one failed call, then the local counter alone")
	require.Equal(t, []string{ssekify.CodeSeqKVFallback}, log.codes(), "reported once per outage")
	require.ErrorIs(t, log.errs[0], ssekify.ErrBroker)

	clock.Advance(ssekify.SeqRetryAfter)
	sendJob(t, h, 5)
	require.EqualValues(t, 4, c.calls.Load(), "one retry after the interval")
	require.Len(t, log.codes(), 1, "the same outage")

	require.NoError(t, m.Restart())
	sendJob(t, h, 3)
	require.EqualValues(t, 4, c.calls.Load(), "not before the interval")
	clock.Advance(ssekify.SeqRetryAfter)
	sendJob(t, h, 3)
	require.EqualValues(t, 7, c.calls.Load(), "the Counter numbers again")
	require.Contains(t, logs.String(), "seq counter answers again")
	evs, err := s.Collect(33, wait)
	require.NoError(t, err)
	require.Equal(t, span(0, 33), seqs(t, evs))
	st := h.Stats()
	require.EqualValues(t, 5, st.SeqIncrsRedis)
	require.EqualValues(t, 28, st.SeqIncrsLocal)

	// A new outage is reported again.
	m.Close()
	sendJob(t, h, 2)
	require.Equal(t, []string{ssekify.CodeSeqKVFallback, ssekify.CodeSeqKVFallback}, log.codes())
}

// redisPID returns the process id of the redis-server srv.
func redisPID(t *testing.T, srv *redistest.Server) int {
	reply, err := srv.Do("INFO", "server")
	require.NoError(t, err)
	info, _ := reply.(string)
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			require.NoError(t, err)
			return pid
		}
	}
	t.Fatalf("no process_id in INFO server: %q", info)
	return 0
}

// TestSeqOutageRedisServer drives a real redis-server that keeps its data
// (appendfsync always). Frozen (SIGSTOP: connections open, no answer), it
// costs the first scoped send the call timeout and the next ones nothing:
// n sends finish well under n timeouts, with one Counter call. Thawed, the
// Counter numbers again after the retry interval. Killed and restarted, it
// resumes above every number handed out meanwhile: no seq twice in the
// scope.
func TestSeqOutageRedisServer(t *testing.T) {
	srv := redistest.Start(t, redistest.WithArgs("--appendonly", "yes", "--appendfsync", "always"))
	c := &countingCounter{RedisBroker: ssekify.NewRedisBroker(outageClient(t, srv.Addr))}
	h, s, log, _ := outageHub(t, c)
	const callTimeout, retryAfter = 2 * time.Second, 300 * time.Millisecond
	ssekify.SetSeqTimeouts(h, callTimeout, retryAfter)
	total := 0
	send := func(n int) { sendJob(t, h, n); total += n }
	send(2)

	pid := redisPID(t, srv)
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	const n = 8
	calls, start := c.calls.Load(), time.Now()
	send(n)
	elapsed := time.Since(start)
	require.Less(t, elapsed, n*callTimeout/2, "%d sends against a frozen Redis", n)
	require.LessOrEqual(t, c.calls.Load()-calls, int64(2), "at most the first call and one retry")
	require.Equal(t, []string{ssekify.CodeSeqKVFallback}, log.codes())

	require.NoError(t, syscall.Kill(pid, syscall.SIGCONT))
	redis0 := h.Stats().SeqIncrsRedis
	deadline := time.Now().Add(wait)
	for h.Stats().SeqIncrsRedis == redis0 {
		require.True(t, time.Now().Before(deadline), "the Counter did not number again")
		time.Sleep(retryAfter / 3)
		send(1)
	}

	srv.Kill()
	send(3)
	srv.Restart(t)
	redis0 = h.Stats().SeqIncrsRedis
	deadline = time.Now().Add(wait)
	for h.Stats().SeqIncrsRedis == redis0 {
		require.True(t, time.Now().Before(deadline), "the restarted Redis did not number")
		time.Sleep(retryAfter / 3)
		send(1)
	}
	send(2)
	evs, err := s.Collect(total, wait)
	require.NoError(t, err)
	got := seqs(t, evs)
	require.Equal(t, span(0, 10), got[:10], "numbered in order until the freeze")
	for i := 1; i < len(got); i++ {
		// The INCRs that timed out against the frozen server ran when it
		// was thawed: a gap, never a duplicate.
		require.Less(t, got[i-1], got[i], "no seq twice in the scope: %v", got)
	}
	require.Equal(t, []string{ssekify.CodeSeqKVFallback, ssekify.CodeSeqKVFallback}, log.codes(), "one report per outage")
}
