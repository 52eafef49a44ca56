package ssekify_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
)

// splitBatch splits a batch message into its epoch, first position and
// framed envelopes.
func splitBatch(t *testing.T, raw []byte) (epoch, first uint64, framed [][]byte) {
	t.Helper()
	require.Equal(t, byte(ssekify.EnvelopeBatch), raw[0], "a batch message")
	b := raw[1:]
	var k int
	epoch, k = binary.Uvarint(b)
	b = b[k:]
	first, k = binary.Uvarint(b)
	b = b[k:]
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		require.Positive(t, k)
		require.LessOrEqual(t, n, uint64(len(b)-k))
		framed = append(framed, b[:k+int(n)])
		b = b[k+int(n):]
	}
	return epoch, first, framed
}

// markMessage is a mark of epoch, position pos and number seq.
func markMessage(epoch, pos, seq uint64) []byte {
	b := binary.AppendUvarint([]byte{ssekify.EnvelopeMark}, epoch)
	return binary.AppendUvarint(binary.AppendUvarint(b, pos), seq)
}

// unframe returns the envelope of a framed one.
func unframe(t *testing.T, b []byte) []byte {
	t.Helper()
	n, k := binary.Uvarint(b)
	require.Equal(t, uint64(len(b)-k), n)
	return b[k:]
}

// TestPublishBatchAcrossLogs runs one publish script for six events to
// three logs: they take consecutive positions in the order given; each run
// of one log's events goes out as one batch message on that log's channel
// (everyone's: the tenant channel) with the bytes the log holds; a log
// over its bound is trimmed once, at the end.
func TestPublishBatchAcrossLogs(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	b := ssekify.NewRedisBroker(redisClient(t, addr))
	h := startNode(t, nil, nil).hub
	ctx := context.Background()
	ch := ssekify.DefaultChannel
	userLog, roomLog := ssekify.RedisLogKey(ch, "user", "a"), ssekify.RedisLogKey(ch, "room", "x")
	sub := rc.Subscribe(ctx, ch, userLog, roomLog)
	defer sub.Close()
	for range 3 {
		_, err := sub.Receive(ctx)
		require.NoError(t, err)
	}

	targets := [][2]string{{"user", "a"}, {"user", "a"}, {"room", "x"}, {"all", ""}, {"user", "a"}, {"room", "x"}}
	events := make([]ssekify.BatchEvent, len(targets))
	for i, tg := range targets {
		events[i] = ssekify.LoggedEnvelope(h, tg[0], tg[1], fmt.Appendf(nil, `"e%d"`, i))
	}
	got, err := ssekify.PublishBatch(ctx, b, ch, 2, events)
	require.NoError(t, err)
	epoch := got[0][0]
	for i, g := range got {
		require.Equal(t, [2]uint64{epoch, uint64(i + 1)}, g)
	}

	runs := []struct {
		channel string
		first   uint64
		events  []int
	}{{userLog, 1, []int{0, 1}}, {roomLog, 3, []int{2}}, {ch, 4, []int{3}}, {userLog, 5, []int{4}}, {roomLog, 6, []int{5}}}
	var parts [][]byte
	for _, run := range runs {
		msg, err := sub.ReceiveMessage(ctx)
		require.NoError(t, err)
		require.Equal(t, run.channel, msg.Channel)
		msgEpoch, first, framed := splitBatch(t, []byte(msg.Payload))
		require.Equal(t, [2]uint64{epoch, run.first}, [2]uint64{msgEpoch, first})
		require.Len(t, framed, len(run.events))
		for i, p := range framed {
			e := run.events[i]
			require.Equal(t, events[e].Env, p, "the envelope as the publisher gave it")
			f, err := ssekify.DecodeEnvelope(h, unframe(t, p))
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf(`"e%d"`, e), string(f.Data))
			require.True(t, f.Logged)
		}
		parts = append(parts, framed...)
	}

	entries, err := rc.XRange(ctx, userLog, "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, entries, 2, "three events, trimmed back to the bound of 2")
	require.Equal(t, []string{"2-0", "5-0"}, []string{entries[0].ID, entries[1].ID})
	require.Equal(t, map[string]any{fmt.Sprint(epoch): string(parts[4])}, entries[1].Values, "the log holds the bytes published, under the epoch")
	require.Equal(t, "1", rc.Get(ctx, "{"+ssekify.DefaultChannel+"}:t:u:a").Val(), "the newest position trimmed")
	rooms, err := rc.XLen(ctx, ssekify.RedisLogKey(ssekify.DefaultChannel, "room", "x")).Result()
	require.NoError(t, err)
	require.Equal(t, int64(2), rooms, "at its bound: not trimmed")
	ttl, err := rc.PTTL(ctx, userLog).Result()
	require.NoError(t, err)
	require.Positive(t, ttl, "the log expires")
}

// TestPublishBatchCounterWentBack sets the counter back below what two
// logs hold, then runs one script for three events: the first jumps past
// its log under a new epoch, the second past the other log under the next
// epoch, the third follows; no position is given twice.
func TestPublishBatchCounterWentBack(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	b := ssekify.NewRedisBroker(redisClient(t, addr))
	h := startNode(t, nil, nil).hub
	ctx := context.Background()
	ch := ssekify.DefaultChannel
	ea, eb := ssekify.LoggedEnvelope(h, "user", "a", []byte("1")), ssekify.LoggedEnvelope(h, "user", "b", []byte("2"))
	for range 10 {
		_, err := ssekify.PublishBatch(ctx, b, ch, 100, []ssekify.BatchEvent{ea})
		require.NoError(t, err)
	}
	for range 10 {
		_, err := ssekify.PublishBatch(ctx, b, ch, 100, []ssekify.BatchEvent{eb})
		require.NoError(t, err)
	}
	meta := "{" + ch + "}:m"
	old := rc.HGet(ctx, meta, "epoch").Val()
	require.NoError(t, rc.HSet(ctx, meta, "pos", 0).Err())

	got, err := ssekify.PublishBatch(ctx, b, ch, 100, []ssekify.BatchEvent{ea, eb, ea})
	require.NoError(t, err)
	e1, e2 := got[0][0], got[1][0]
	require.NotEqual(t, old, fmt.Sprint(e1), "a new epoch")
	require.Equal(t, e1+1, e2, "the second jump takes the next epoch")
	require.Equal(t, [][2]uint64{{e1, 11}, {e2, 21}, {e2, 22}}, got)
	m := rc.HGetAll(ctx, meta).Val()
	require.Equal(t, fmt.Sprint(e2), m["epoch"])
	require.Equal(t, "20", m["base"])
	require.Equal(t, "22", m["pos"])
	entries, err := rc.XRevRangeN(ctx, ssekify.RedisLogKey(ch, "user", "a"), "+", "-", 2).Result()
	require.NoError(t, err)
	require.Equal(t, []string{"22-0", "11-0"}, []string{entries[0].ID, entries[1].ID})
}

// TestMalformedBatchMessage hands a hub batch messages that are not what
// a publish script writes: each is reported as an invalid envelope, what
// is valid in them is delivered, and the stream goes on.
func TestMalformedBatchMessage(t *testing.T) {
	n := startNode(t, nil, nil)
	s := connect(t, n.srv, "u", "", nil)
	other := startNode(t, nil, &ssekify.Options{InstanceID: "other"}).hub
	logged := ssekify.LoggedEnvelope(other, "user", "u", []byte(`"one"`)).Env
	plain, err := ssekify.EncodeEnvelope(other, "user", "u", "", "", []byte(`"plain"`))
	require.NoError(t, err)
	batch := func(head []byte, parts ...[]byte) []byte {
		b := append([]byte{ssekify.EnvelopeBatch}, head...)
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	framedPlain := append(binary.AppendUvarint(nil, uint64(len(plain))), plain...)
	for i, raw := range [][]byte{
		batch([]byte{1, 1}, logged, []byte{0x7f, 1, 2}), // a length past the end
		batch([]byte{1, 2}, framedPlain, logged),        // an envelope without the flag
		batch([]byte{0, 3}, logged),                     // epoch 0
		batch([]byte{0x80}),                             // truncated header
		logged[1:],                                      // a logged envelope outside a batch
		markMessage(0, 5, 1),                            // a mark without an epoch
		markMessage(1, 5, 1)[:3],                        // a truncated mark
		append(markMessage(1, 5, 1), 0),                 // a mark with a byte more
	} {
		ssekify.ReceiveEnvelope(n.hub, raw)
		require.Equal(t, int64(i+1), n.hub.Stats().InvalidEnvelopes, "message %d", i)
	}
	for range 2 {
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.Equal(t, "one", text(t, ev))
	}
}

// FuzzBatchMessage hands a hub arbitrary batch messages: it never panics,
// and every framed envelope is either delivered or counted invalid, as is
// a malformed header or length, which ends the message.
func FuzzBatchMessage(f *testing.F) {
	h := newHub(f, &ssekify.Options{InstanceID: "self"})
	other := newHub(f, &ssekify.Options{InstanceID: "other"})
	env := ssekify.LoggedEnvelope(other, "user", "u", []byte(`"x"`)).Env
	plain, err := ssekify.EncodeEnvelope(other, "all", "", "", "", []byte(`1`))
	require.NoError(f, err)
	f.Add([]byte{1, 1})
	f.Add(append([]byte{7, 1}, env...))
	f.Add(append(append([]byte{7, 1}, env...), env...))
	f.Add(append(append([]byte{7, 1}, byte(len(plain))), plain...))
	f.Add([]byte{0, 1, 3, 2, 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		before := h.Stats()
		ssekify.ReceiveEnvelope(h, append([]byte{ssekify.EnvelopeBatch}, body...))
		after := h.Stats()
		handled := after.Received - before.Received + after.InvalidEnvelopes - before.InvalidEnvelopes
		want := int64(0)
		b := body
		epoch, k := binary.Uvarint(b)
		if k > 0 {
			b = b[k:]
		}
		pos, k2 := binary.Uvarint(b)
		if k <= 0 || k2 <= 0 || epoch == 0 || pos == 0 || uvLen(epoch) != k || uvLen(pos) != k2 {
			want = 1 // the header
		} else {
			for b = b[k2:]; len(b) > 0; {
				n, k := binary.Uvarint(b)
				want++
				if k <= 0 || uvLen(n) != k || n > uint64(len(b)-k) {
					break
				}
				b = b[k+int(n):]
			}
		}
		if handled != want {
			t.Fatalf("%x: %d envelopes handled, want %d", body, handled, want)
		}
	})
}

// uvLen is the length of the shortest uvarint of v.
func uvLen(v uint64) int { return len(binary.AppendUvarint(nil, v)) }

// TestPublishBatchBounds: a batch takes at most MaxPublishBatch events and
// MaxPublishBatchBytes of envelopes, and always one, however large.
func TestPublishBatchBounds(t *testing.T) {
	many := make([]int, 3*ssekify.MaxPublishBatch)
	for i := range many {
		many[i] = 100
	}
	require.Equal(t, ssekify.MaxPublishBatch, ssekify.BatchLen(many))
	require.Equal(t, 5, ssekify.BatchLen(many[:5]))
	half := ssekify.MaxPublishBatchBytes / 2
	require.Equal(t, 2, ssekify.BatchLen([]int{half, half, 1}), "up to the byte bound")
	require.Equal(t, 1, ssekify.BatchLen([]int{2 * ssekify.MaxPublishBatchBytes, 1}), "one oversized event alone")
	require.Zero(t, ssekify.BatchLen(nil))
}

// TestClusterNeedsRedis7: sharded Pub/Sub needs Redis 7.0, so a broker on
// a Cluster refuses Redis 6.2 (ErrRedisTooOld), which a single node takes.
func TestClusterNeedsRedis7(t *testing.T) {
	addr := fakeRedis(t, "6.2.14")
	ctx := context.Background()
	sharded := startNode(t, ssekify.ShardedBroker(ssekify.NewRedisBroker(redisClient(t, addr))), nil)
	err := sharded.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "x"})
	require.ErrorIs(t, err, ssekify.ErrRedisTooOld)
	require.Contains(t, err.Error(), "Redis 6.2.14")
	single := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	err = single.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "x"})
	require.Error(t, err, "the fake server answers nothing but INFO")
	require.NotErrorIs(t, err, ssekify.ErrRedisTooOld, "6.2 is enough on a single node")
}

// TestMalformedBatchRecoversAtOnce: an event reaches the log but its
// message on the channel is malformed (a length past its end). The hub
// reports it and reads the log at once: the stream gets the event without
// waiting for another publish to show the skip.
func TestMalformedBatchRecoversAtOnce(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	var log errorLog
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), &ssekify.Options{OnError: log.hook})
	s := connect(t, a.srv, "u", "", nil)
	ctx := context.Background()
	require.NoError(t, a.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e0"}))
	got, _ := readTexts(t, s, 1)
	require.Equal(t, []string{"e0"}, got)

	// The event as a publish script would write it, then a broken message.
	meta := "{" + ssekify.DefaultChannel + "}:m"
	epoch := rc.HGet(ctx, meta, "epoch").Val()
	pos, err := rc.HIncrBy(ctx, meta, "pos", 1).Result()
	require.NoError(t, err)
	ev := ssekify.LoggedEnvelope(a.hub, "user", "u", []byte(`"e1"`))
	require.NoError(t, rc.XAdd(ctx, &redis.XAddArgs{Stream: ev.Log, ID: fmt.Sprintf("%d-0", pos), Values: []string{epoch, string(ev.Env)}}).Err())
	e, err := strconv.ParseUint(epoch, 10, 64)
	require.NoError(t, err)
	raw := binary.AppendUvarint(append([]byte{ssekify.EnvelopeBatch}, binary.AppendUvarint(nil, e)...), uint64(pos))
	raw = append(raw, 0x7f, 1, 2)
	require.NoError(t, rc.Publish(ctx, ssekify.DefaultChannel, raw).Err())

	got, _ = readTexts(t, s, 1)
	require.Equal(t, []string{"e1"}, got, "recovered from the log, with no other publish")
	require.Contains(t, log.codes(), ssekify.CodeInvalidEnvelope)
	require.Positive(t, a.hub.Stats().LogRecoveries)
}

// TestPublishReplySegments reads the positions of a publish script's reply
// (segments, then seq values) and refuses malformed replies.
func TestPublishReplySegments(t *testing.T) {
	got, err := ssekify.PublishPositions([]any{int64(1), int64(0), "7", int64(10)}, 3, 0)
	require.NoError(t, err)
	require.Equal(t, [][2]uint64{{7, 10}, {7, 11}, {7, 12}}, got)
	// A jump at the third event, and a seq value at the end.
	got, err = ssekify.PublishPositions([]any{int64(2), int64(0), "7", int64(10), int64(2), "8", int64(40), int64(3)}, 4, 1)
	require.NoError(t, err)
	require.Equal(t, [][2]uint64{{7, 10}, {7, 11}, {8, 40}, {8, 41}}, got)
	for _, bad := range [][]any{
		nil,
		{int64(1)},
		{int64(1), int64(0), "7"},
		{int64(-1)},
		{int64(2), int64(1), "7", int64(10), int64(0), "7", int64(20)}, // out of order
		{int64(1), int64(3), "7", int64(10)},                           // beyond the events
		{int64(1), "x", "7", int64(10)},
		{int64(1), int64(0), "epoch", int64(10)},
		{"1", int64(0), "7", int64(10)},
	} {
		_, err := ssekify.PublishPositions(bad, 3, 0)
		require.ErrorIs(t, err, ssekify.ErrBroker, "reply %v", bad)
	}
}
