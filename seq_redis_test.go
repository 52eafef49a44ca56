package ssekify_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// TestRedisBrokerFloorCounter: IncrFloor raises a key below its floor in
// the same atomic step as INCR and PEXPIRE; DecrIf takes a value back only
// while the key still holds it, and deletes the key at zero.
func TestRedisBrokerFloorCounter(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			rc := redisClient(t, be.start(t))
			var c ssekify.FloorCounter = ssekify.NewRedisBroker(rc)
			ctx := context.Background()
			incr := func(floor int64) int64 {
				n, err := c.IncrFloor(ctx, "k", floor, time.Minute)
				require.NoError(t, err)
				return n
			}
			require.Equal(t, int64(1), incr(0))
			require.Equal(t, int64(2), incr(-5))
			require.Equal(t, int64(7), incr(7), "raised to the floor")
			require.Equal(t, int64(8), incr(3), "a floor below changes nothing")
			ttl := rc.PTTL(ctx, "k").Val()
			require.True(t, ttl > 50*time.Second && ttl <= time.Minute, "PTTL %v", ttl)
			require.Equal(t, int64(1), func() int64 {
				n, err := c.IncrFloor(ctx, "new", 1, time.Minute)
				require.NoError(t, err)
				return n
			}())

			ok, err := c.DecrIf(ctx, "k", 7)
			require.NoError(t, err)
			require.False(t, ok, "counted since")
			ok, err = c.DecrIf(ctx, "k", 8)
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, "7", rc.Get(ctx, "k").Val())
			ttl = rc.PTTL(ctx, "k").Val()
			require.True(t, ttl > 50*time.Second, "the expiry stays: PTTL %v", ttl)
			ok, err = c.DecrIf(ctx, "new", 1)
			require.NoError(t, err)
			require.True(t, ok)
			require.Zero(t, rc.Exists(ctx, "new").Val(), "deleted at zero")
			ok, err = c.DecrIf(ctx, "missing", 1)
			require.NoError(t, err)
			require.False(t, ok)

			require.NoError(t, rc.Set(ctx, "text", "abc", 0).Err())
			_, err = c.IncrFloor(ctx, "text", 9, time.Minute)
			require.Error(t, err, "INCR of a non-number fails")
			require.Equal(t, "abc", rc.Get(ctx, "text").Val(), "and the script changed nothing")
		})
	}
}

// TestSeqRefusedSendRedis: on Redis, a send that FrameID refuses gives its
// number back (DecrIf), so the scope goes on without a gap: 1, 2, 3 from
// StartAt 1, and the refused final message did not delete the key.
func TestSeqRefusedSendRedis(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			rc := redisClient(t, be.start(t))
			opts := seqOptions()
			opts.FrameID = func(_ ssekify.Event, p []byte) string {
				if strings.Contains(string(p), "refuse") {
					return "bad\x00id"
				}
				return ""
			}
			n := startNode(t, ssekify.NewRedisBroker(rc), opts)
			s := connect(t, n.srv, "u", "", nil)
			ctx := context.Background()
			send := func(extra map[string]any) error {
				d := map[string]any{"requestId": "r"}
				for k, v := range extra {
					d[k] = v
				}
				return n.hub.PublishToUser(ctx, "u", ssekify.Event{Data: d})
			}
			require.NoError(t, send(nil))
			require.ErrorIs(t, send(map[string]any{"x": "refuse"}), ssekify.ErrInvalidEvent)
			require.ErrorIs(t, send(map[string]any{"x": "refuse", "final": true}), ssekify.ErrInvalidEvent)
			require.NoError(t, send(nil))
			evs, err := s.Collect(2, wait)
			require.NoError(t, err)
			require.Equal(t, []int64{1, 2}, seqs(t, evs))
			require.Equal(t, "2", rc.Get(ctx, ssekify.DefaultSeqKeyPrefix+"r").Val())
			require.NoError(t, send(map[string]any{"final": true}))
			evs, err = s.Collect(1, wait)
			require.NoError(t, err)
			require.Equal(t, []int64{3}, seqs(t, evs))
			require.Zero(t, rc.Exists(ctx, ssekify.DefaultSeqKeyPrefix+"r").Val())
		})
	}
}

// TestSeqCallerContextEnded: a Counter call that fails because the
// caller's context ended numbers that message locally but is no outage:
// nothing is reported and the next message is numbered by the Counter.
func TestSeqCallerContextEnded(t *testing.T) {
	var log errorLog
	h := newHub(t, &ssekify.Options{OnError: log.hook})
	c := newFakeCounter()
	ssekify.SetCounter(h, ctxCounter{c})
	s := connect(t, serve(t, h, nil), "u", "", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, h.PublishToUser(ctx, "u", ssekify.Event{Data: map[string]any{"requestId": "r"}}))
	require.NoError(t, h.PublishToUser(context.Background(), "u", ssekify.Event{Data: map[string]any{"requestId": "r"}}))
	evs, err := s.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, []int64{0, 1}, seqs(t, evs))
	require.Empty(t, log.codes())
	st := h.Stats()
	require.EqualValues(t, 1, st.SeqIncrsLocal)
	require.EqualValues(t, 1, st.SeqIncrsRedis)
	require.Equal(t, []int64{2}, c.floors, "the second call lifted the counter above the local number")
}

// ctxCounter is a fakeCounter that fails when its context has ended.
type ctxCounter struct{ *fakeCounter }

func (c ctxCounter) IncrFloor(ctx context.Context, key string, floor int64, ttl time.Duration) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return c.fakeCounter.IncrFloor(ctx, key, floor, ttl)
}
