package ssekify_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// TestLuaHelpers checks the scripts' uvarint writer against
// encoding/binary's, and their entry ids against strconv's, on both
// backends: at every uvarint length boundary, and around 10^14, where the
// ids stop being a Lua number's own conversion, up to the largest
// position a script handles (2^53).
func TestLuaHelpers(t *testing.T) {
	uv := redis.NewScript(ssekify.LuaUvarint + `return uv(tonumber(ARGV[1]))`)
	id := redis.NewScript(ssekify.LuaEntryID + `return entryID(tonumber(ARGV[1]))`)
	var values []uint64
	for bits := 0; bits <= 53; bits++ {
		v := uint64(1) << bits
		values = append(values, v-1, v)
		if bits < 53 {
			values = append(values, v+1) // 2^53+1 is no Lua number
		}
	}
	values = append(values, 1e14-1, 1e14, 1e14+1, 123456789012345)
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			rc := redisClient(t, be.start(t))
			ctx := context.Background()
			for _, v := range values {
				arg := strconv.FormatUint(v, 10)
				got, err := uv.Run(ctx, rc, nil, arg).Text()
				require.NoError(t, err, v)
				require.Equal(t, string(binary.AppendUvarint(nil, v)), got, "uv(%d)", v)
				got, err = id.Run(ctx, rc, nil, arg).Text()
				require.NoError(t, err, v)
				require.Equal(t, arg+"-0", got, "entryID(%d)", v)
			}
		})
	}
}

// readTexts reads n events from s and returns their texts in order.
func readTexts(t testing.TB, s *ssetest.Stream, n int) ([]string, ssetest.Event) {
	t.Helper()
	var got []string
	var last ssetest.Event
	for len(got) < n {
		ev, err := s.Next(wait)
		require.NoError(t, err, "after %v", got)
		got, last = append(got, text(t, ev)), ev
	}
	return got, last
}

// resume opens a stream of user (in rooms) on srv that sends last's id as
// Last-Event-ID, requires the texts of its first events to be want, and
// returns it.
func resume(t testing.TB, srv *httptest.Server, user, rooms string, last ssetest.Event, want []string) *ssetest.Stream {
	t.Helper()
	back := connect(t, srv, user, rooms, http.Header{"Last-Event-ID": {last.LastEventID}})
	got, _ := readTexts(t, back, len(want))
	require.Equal(t, want, got)
	return back
}

// texts returns "e<from>" ... "e<to>".
func texts(from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, fmt.Sprintf("e%d", i))
	}
	return s
}

// publishMixed publishes "e<i>" from h to user u, room r or everyone, in
// turn by i.
func publishMixed(t testing.TB, h *ssekify.Hub, i int) {
	t.Helper()
	ctx, ev := context.Background(), ssekify.Event{Data: fmt.Sprintf("e%d", i)}
	var err error
	switch i % 3 {
	case 0:
		err = h.PublishToUser(ctx, "u", ev)
	case 1:
		err = h.PublishToRoom(ctx, "r", ev)
	default:
		err = h.Publish(ctx, ev)
	}
	require.NoError(t, err)
}

// TestFollowRecoversWhatACutSubscriptionMissed cuts the subscription
// connections (CLIENT KILL TYPE pubsub) and publishes at once: what B's
// stream's user and room and everyone got while B subscribed again, B
// reads from the logs; the stream gets every event once, in order, and no
// gap event.
func TestFollowRecoversWhatACutSubscriptionMissed(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	s := connect(t, b.srv, "u", "r", nil)
	waitLinked(t, a.hub, b.hub, wait)
	publish := func(i int) { publishMixed(t, a.hub, i) }
	publish(1)
	got, _ := readTexts(t, s, 1)
	require.Equal(t, texts(1, 1), got)
	require.NoError(t, rc.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err())
	for i := 2; i <= 31; i++ {
		publish(i)
	}
	got, _ = readTexts(t, s, 30)
	require.Equal(t, texts(2, 31), got)
	st := b.hub.Stats()
	require.Positive(t, st.BrokerReconnects)
	require.Positive(t, st.LogRecoveries)
	require.Positive(t, st.RecoveredEvents)
	require.Zero(t, st.GapEvents)
}

// TestRedisRetentionTellsTheGap keeps 5 events per log on Redis: a client
// that comes back on another instance after 20 events to its user gets the
// gap event (reason "retention") and then the 5 the log still holds.
func TestRedisRetentionTellsTheGap(t *testing.T) {
	addr := redistest.Start(t).Addr
	opts := &ssekify.Options{RecentBufferSize: 5}
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), opts)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), opts)
	s := connect(t, a.srv, "u", "", nil)
	waitLinked(t, b.hub, a.hub, wait)
	ctx := context.Background()
	require.NoError(t, a.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e0"}))
	_, last := readTexts(t, s, 1)
	s.Close()
	for i := 1; i <= 20; i++ {
		require.NoError(t, a.hub.PublishToUser(ctx, "u", ssekify.Event{Data: fmt.Sprintf("e%d", i)}))
	}
	back := resume(t, b.srv, "u", "", last, append([]string{"gap:retention"}, texts(16, 20)...))
	require.NoError(t, b.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "live"}))
	got, _ := readTexts(t, back, 1)
	require.Equal(t, []string{"live"}, got)
}

// TestRedisLogKeys checks what one publish leaves in Redis: the log of its
// target under the channel's hash tag, with the position as the entry id
// and an expiry, the channel's counter and epoch, and the clock.
func TestRedisLogKeys(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	h := startNode(t, ssekify.NewRedisBroker(rc), &ssekify.Options{Channel: "tenant-1"}).hub
	ctx := context.Background()
	require.NoError(t, h.PublishToUser(ctx, "alice", ssekify.Event{Data: "hi"}))
	require.NoError(t, h.PublishToRoom(ctx, "lobby", ssekify.Event{Data: "hi"}))
	key := ssekify.RedisLogKey("tenant-1", "user", "alice")
	require.Equal(t, "{tenant-1}:u:alice", key)
	entries, err := rc.XRange(ctx, key, "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, entries, 1)
	require.Equal(t, "1-0", entries[0].ID)
	room, err := rc.XRange(ctx, "{tenant-1}:r:lobby", "-", "+").Result()
	require.NoError(t, err)
	require.Equal(t, "2-0", room[0].ID)
	ttl, err := rc.PTTL(ctx, key).Result()
	require.NoError(t, err)
	require.InDelta(t, ssekify.DefaultRecentTTL.Seconds(), ttl.Seconds(), 5)
	meta, err := rc.HGetAll(ctx, "{tenant-1}:m").Result()
	require.NoError(t, err)
	require.Equal(t, "2", meta["pos"])
	require.NotEmpty(t, meta["epoch"])
	clock, err := rc.XRange(ctx, "{tenant-1}:c", "-", "+").Result()
	require.NoError(t, err)
	require.Len(t, clock, 1, "one clock entry per second")
	require.Equal(t, "1-0", clock[0].ID)
}

// TestRedisTooOld runs a hub against a server that says it is Redis 4.0:
// publishing and subscribing fail with an error that says why, and the
// hub keeps serving local sends.
func TestRedisTooOld(t *testing.T) {
	addr := fakeRedis(t, "4.0.14")
	var log errorLog
	n := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), &ssekify.Options{OnError: log.hook})
	h := n.hub
	err := h.PublishToUser(context.Background(), "u", ssekify.Event{Data: "x"})
	require.ErrorIs(t, err, ssekify.ErrRedisTooOld)
	require.ErrorIs(t, err, ssekify.ErrBroker)
	require.Contains(t, err.Error(), "Redis 4.0.14")
	s := connect(t, n.srv, "u", "", nil)
	_, err = h.SendToUser("u", ssekify.Event{Data: "local"})
	require.NoError(t, err)
	got, _ := readTexts(t, s, 1)
	require.Equal(t, []string{"local"}, got)
	eventually(t, "the subscription's failure reported", func() bool {
		log.mu.Lock()
		defer log.mu.Unlock()
		for _, e := range log.errs {
			if e != nil && e.Code == ssekify.CodeBrokerSubscribe && errors.Is(e, ssekify.ErrRedisTooOld) {
				return true
			}
		}
		return false
	})
}

// fakeRedis serves a RESP2 server that answers INFO with version and
// every other command with an error, until the test ends.
func fakeRedis(t *testing.T, version string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
			go serveFakeRedis(c, version)
		}
	}()
	return ln.Addr().String()
}

// serveFakeRedis answers the commands of one connection.
func serveFakeRedis(c net.Conn, version string) {
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		reply := "-ERR unknown command\r\n"
		switch strings.ToUpper(args[0]) {
		case "INFO":
			body := "# Server\r\nredis_version:" + version + "\r\n"
			reply = fmt.Sprintf("$%d\r\n%s\r\n", len(body), body)
		case "PING":
			reply = "+PONG\r\n"
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte(reply)); err != nil {
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	var n int
	if _, err := fmt.Sscanf(line, "*%d\r\n", &n); err != nil || n < 1 || n > 64 {
		return nil, fmt.Errorf("bad command %q", line)
	}
	args := make([]string, n)
	for i := range args {
		var size int
		if line, err = r.ReadString('\n'); err != nil {
			return nil, err
		}
		if _, err := fmt.Sscanf(line, "$%d\r\n", &size); err != nil || size < 0 || size > 1<<20 {
			return nil, fmt.Errorf("bad bulk %q", line)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:size])
	}
	return args, nil
}

// TestMalformedLogEntryIsTold writes garbage into a user's log on Redis at
// the next position: a client that replays past it gets the gap event in
// its place, the error is reported, and the events after it arrive.
func TestMalformedLogEntryIsTold(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	var log errorLog
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), &ssekify.Options{OnError: log.hook})
	s := connect(t, a.srv, "u", "", nil)
	waitLinked(t, b.hub, a.hub, wait)
	ctx := context.Background()
	require.NoError(t, a.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e0"}))
	_, last := readTexts(t, s, 1)
	s.Close()
	pos, err := rc.HIncrBy(ctx, "{"+ssekify.DefaultChannel+"}:m", "pos", 1).Result()
	require.NoError(t, err)
	require.NoError(t, rc.XAdd(ctx, &redis.XAddArgs{Stream: ssekify.RedisLogKey(ssekify.DefaultChannel, "user", "u"),
		ID: fmt.Sprintf("%d-0", pos), Values: []string{"e", "\x02garbage"}}).Err())
	require.NoError(t, a.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e1"}))
	resume(t, b.srv, "u", "", last, []string{"gap:retention", "e1"})
	require.Contains(t, log.codes(), ssekify.CodeInvalidEnvelope)
}

// TestLogWentBack sets the channel's counter back, as a failover that lost
// writes or a restore from an older copy would. A publish to another log
// then takes a position the instances delivered already: they give the log
// a new epoch above every position they saw, and the streams get the gap
// event (reason "reset"). A publish to a log that holds the position
// already can not take it: the script starts a new epoch past that log,
// and the event is delivered after the gap event.
func TestLogWentBack(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	s := connect(t, b.srv, "u", "", nil)
	waitLinked(t, a.hub, b.hub, wait)
	ctx := context.Background()
	meta := "{" + ssekify.DefaultChannel + "}:m"
	back := func() string {
		pos, err := rc.HGet(ctx, meta, "pos").Int64()
		require.NoError(t, err)
		require.NoError(t, rc.HSet(ctx, meta, "pos", pos-2).Err())
		return rc.HGet(ctx, meta, "epoch").Val()
	}
	for i := 1; i <= 3; i++ {
		require.NoError(t, a.hub.PublishToUser(ctx, "u", ssekify.Event{Data: fmt.Sprintf("e%d", i)}))
	}
	got, _ := readTexts(t, s, 3)
	require.Equal(t, texts(1, 3), got)

	epoch := back()
	require.NoError(t, a.hub.PublishToUser(ctx, "v", ssekify.Event{Data: "to v"})) // a position seen already
	got, _ = readTexts(t, s, 1)
	require.Equal(t, []string{"gap:reset"}, got)
	eventually(t, "a new epoch", func() bool { return rc.HGet(ctx, meta, "epoch").Val() != epoch })
	require.NoError(t, a.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e4"}))
	got, _ = readTexts(t, s, 1)
	require.Equal(t, []string{"e4"}, got)

	epoch = back()
	require.NoError(t, a.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e5"})) // u's log holds the position
	require.NotEqual(t, epoch, rc.HGet(ctx, meta, "epoch").Val(), "the script started a new epoch")
	got, _ = readTexts(t, s, 2)
	require.Equal(t, []string{"gap:reset", "e5"}, got)
	require.NoError(t, a.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e6"}))
	got, _ = readTexts(t, s, 1)
	require.Equal(t, []string{"e6"}, got)
	require.Equal(t, int64(2), b.hub.Stats().LogResets)
}

// TestRedisDownAtStart starts a hub while Redis is down: a stream that
// registers then has no known place in the log, so once the hub reads the
// log's head it is told, by the gap event (reason "broker"), that events
// may be missing; then events flow.
func TestRedisDownAtStart(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = client.Close() })
	a := startNode(t, ssekify.NewRedisBroker(client), nil)
	s := connect(t, a.srv, "u", "", nil)
	srv.Restart(t)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, srv.Addr)), nil)
	waitLinked(t, b.hub, a.hub, 3*wait)
	require.NoError(t, b.hub.PublishToUser(context.Background(), "u", ssekify.Event{Data: "after"}))
	got, _ := readTexts(t, s, 2)
	require.Equal(t, []string{"gap:broker", "after"}, got)
}

// TestRedisTrimInBatches keeps 128 events per log, trimmed two at a time
// (a 64th): the log never holds fewer than 128 nor more than 130, and the
// trim key names the newest position trimmed.
func TestRedisTrimInBatches(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	h := startNode(t, ssekify.NewRedisBroker(rc), &ssekify.Options{RecentBufferSize: 128}).hub
	ctx := context.Background()
	key := ssekify.RedisLogKey(ssekify.DefaultChannel, "user", "u")
	for i := 1; i <= 300; i++ {
		require.NoError(t, h.PublishToUser(ctx, "u", ssekify.Event{Data: i}))
		n := rc.XLen(ctx, key).Val()
		require.True(t, n == int64(min(i, 128)) || (n > 128 && n < 130), "after %d: %d entries", i, n)
	}
	first, err := rc.XRange(ctx, key, "-", "+").Result()
	require.NoError(t, err)
	trimmed, err := rc.Get(ctx, "{"+ssekify.DefaultChannel+"}:t:u:u").Int64()
	require.NoError(t, err)
	require.Equal(t, fmt.Sprintf("%d-0", trimmed+1), first[0].ID, "the trim key names the position before the oldest held")
}

// TestConcurrentPublishesShareRoundTrips runs 64 publishers at once on one
// hub, after Redis forgot the script (SCRIPT FLUSH): their scripts go out
// in pipelines of several, and a stream on another instance gets every
// event once, each publisher's in its order.
func TestConcurrentPublishesShareRoundTrips(t *testing.T) {
	addr := redistest.Start(t).Addr
	rc := redisClient(t, addr)
	pub := ssekify.NewRedisBroker(redisClient(t, addr))
	a := startNode(t, pub, nil)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	s := connect(t, b.srv, "u", "", nil)
	waitLinked(t, a.hub, b.hub, wait)
	require.NoError(t, rc.ScriptFlush(context.Background()).Err())
	const publishers, each = 64, 20
	errs := make(chan error, publishers)
	for p := range publishers {
		go func() {
			for i := range each {
				if err := a.hub.PublishToUser(context.Background(), "u", ssekify.Event{Data: fmt.Sprintf("%d.%d", p, i)}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range publishers {
		require.NoError(t, <-errs)
	}
	next := make([]int, publishers)
	for range publishers * each {
		ev, err := s.Next(wait)
		require.NoError(t, err)
		var p, i int
		_, err = fmt.Sscanf(text(t, ev), "%d.%d", &p, &i)
		require.NoError(t, err, ev.Data)
		require.Equal(t, next[p], i, "publisher %d out of order", p)
		next[p]++
	}
	pipelines, scripts := ssekify.PublishPipelines(pub)
	require.Positive(t, pipelines)
	require.Greater(t, scripts, 2*pipelines, "several scripts per round trip")
	t.Logf("%d publishes: %d pipelines of %.1f scripts on average", publishers*each, pipelines, float64(scripts)/float64(pipelines))
}

// TestSameInstanceReplayFromMemory reconnects a client to the instance it
// left: its memory logs hold everything it missed, Publish* events of
// other instances included, so Redis is not read. With memory logs too
// small to hold them, the logs on Redis give the Publish* events, exactly;
// the memory logs then still tell that they dropped events after the
// client's position (which could have been SendTo* events, kept nowhere
// else): the gap event after the replay.
func TestSameInstanceReplayFromMemory(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    *ssekify.Options
		fetches int64
		then    []string
	}{
		{"memory holds it", nil, 0, []string{"live"}},
		{"memory too small", &ssekify.Options{RecentMaxBytes: 1}, 1, []string{"gap:retention", "live"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := redistest.Start(t).Addr
			a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), tc.opts)
			b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
			s := connect(t, a.srv, "u", "r", nil)
			waitLinked(t, b.hub, a.hub, wait)
			ctx := context.Background()
			require.NoError(t, b.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e0"}))
			_, last := readTexts(t, s, 1)
			s.Close()
			for i := 1; i <= 30; i++ {
				publishMixed(t, b.hub, i)
			}
			eventually(t, "A received them", func() bool { return a.hub.Stats().Received >= 31 })
			fetches := a.hub.Stats().LogFetches // waitLinked's probe stream may have read them
			back := resume(t, a.srv, "u", "r", last, texts(1, 30))
			require.NoError(t, b.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "live"}))
			got, _ := readTexts(t, back, len(tc.then))
			require.Equal(t, tc.then, got)
			require.Equal(t, tc.fetches, a.hub.Stats().LogFetches-fetches)
		})
	}
}

// TestPublishOnlyHubStreams serves a stream on a hub that publishes
// through the logs without subscribing (PublishOnly): its own publishes
// reach its streams at once, and a reconnect to it replays them from its
// memory logs, without waiting for a log it does not follow.
func TestPublishOnlyHubStreams(t *testing.T) {
	addr := redistest.Start(t).Addr
	n := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), &ssekify.Options{PublishOnly: true})
	s := connect(t, n.srv, "u", "", nil)
	ctx := context.Background()
	require.NoError(t, n.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e1"}))
	_, last := readTexts(t, s, 1)
	s.Close()
	require.NoError(t, n.hub.PublishToUser(ctx, "u", ssekify.Event{Data: "e2"}))
	start := time.Now()
	resume(t, n.srv, "u", "", last, []string{"e2"})
	require.Less(t, time.Since(start), time.Second)
	require.Equal(t, int64(2), n.hub.Stats().Published)
}
