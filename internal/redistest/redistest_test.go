package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// quietLogger drops go-redis's log lines about the connection refusals the
// tests cause on purpose.
type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

func TestMain(m *testing.M) {
	redis.SetLogger(quietLogger{})
	goleak.VerifyTestMain(m)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// requireRefused asserts that nothing listens on addr any more.
func requireRefused(t *testing.T, addr string) {
	t.Helper()
	_, err := Do(addr, "", "PING")
	require.Error(t, err)
	require.True(t, errors.Is(err, syscall.ECONNREFUSED), "want connection refused, got %v", err)
}

// TestFreePort is not parallel: other tests' outgoing connections could take
// a port between FreePort and the Listen below.
func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 20; i++ {
		p := FreePort(t)
		require.False(t, seen[p], "port %d returned twice", p)
		seen[p] = true
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		require.NoError(t, err)
		require.NoError(t, l.Close())
	}
}

func TestStartKillRestart(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := Start(t)
	require.NotZero(t, s.Port)
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", s.Port), s.Addr)
	require.Equal(t, fmt.Sprintf("redis://127.0.0.1:%d/0", s.Port), s.URL())
	require.DirExists(t, s.Dir)
	require.FileExists(t, s.Dir+"/redis.log")
	require.True(t, s.Running())

	reply, err := s.Do("PING")
	require.NoError(t, err)
	require.Equal(t, "PONG", reply)

	// The server runs without persistence and bound to loopback only.
	reply, err = s.Do("CONFIG", "GET", "save")
	require.NoError(t, err)
	require.Equal(t, []any{"save", ""}, reply)
	reply, err = s.Do("CONFIG", "GET", "bind")
	require.NoError(t, err)
	require.Equal(t, []any{"bind", "127.0.0.1"}, reply)

	opt, err := redis.ParseURL(s.URL())
	require.NoError(t, err)
	c := redis.NewClient(opt)
	defer c.Close()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	require.Equal(t, "v", c.Get(ctx, "k").Val())

	s.Kill()
	require.False(t, s.Running())
	requireRefused(t, s.Addr)
	require.Error(t, c.Ping(ctx).Err())
	s.Kill() // killing a dead server is a no-op

	port := s.Port
	s.Restart(t)
	require.Equal(t, port, s.Port)
	require.True(t, s.Running())
	require.Eventually(t, func() bool { return c.Ping(ctx).Err() == nil }, 5*time.Second, 20*time.Millisecond)
	// Nothing was persisted across the restart.
	require.ErrorIs(t, c.Get(ctx, "k").Err(), redis.Nil)
}

func TestStopAndRestartWhileRunning(t *testing.T) {
	t.Parallel()
	s := Start(t)
	s.Restart(t) // restarting a running server stops it first
	reply, err := s.Do("PING")
	require.NoError(t, err)
	require.Equal(t, "PONG", reply)

	s.Stop()
	require.False(t, s.Running())
	requireRefused(t, s.Addr)
	s.Stop() // stopping twice is a no-op
	s.Restart(t)
	reply, err = s.Do("PING")
	require.NoError(t, err)
	require.Equal(t, "PONG", reply)
}

func TestPassword(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := Start(t, WithPassword("s3cret"))
	require.Equal(t, "s3cret", s.Password)
	require.Equal(t, fmt.Sprintf("redis://:s3cret@127.0.0.1:%d/0", s.Port), s.URL())

	_, err := Do(s.Addr, "", "PING")
	var re ReplyError
	require.ErrorAs(t, err, &re)
	require.Contains(t, err.Error(), "NOAUTH")
	_, err = Do(s.Addr, "wrong", "PING")
	require.ErrorContains(t, err, "AUTH")

	reply, err := s.Do("PING")
	require.NoError(t, err)
	require.Equal(t, "PONG", reply)

	opt, err := redis.ParseURL(s.URL())
	require.NoError(t, err)
	c := redis.NewClient(opt)
	defer c.Close()
	require.NoError(t, c.Ping(ctx).Err())

	anon := redis.NewClient(&redis.Options{Addr: s.Addr})
	defer anon.Close()
	require.ErrorContains(t, anon.Ping(ctx).Err(), "NOAUTH")

	// The password survives a restart.
	s.Kill()
	s.Restart(t)
	_, err = Do(s.Addr, "", "PING")
	require.ErrorContains(t, err, "NOAUTH")
	require.Eventually(t, func() bool { return c.Ping(ctx).Err() == nil }, 5*time.Second, 20*time.Millisecond)
}

func TestWithArgs(t *testing.T) {
	t.Parallel()
	s := Start(t, WithArgs("--maxmemory", "12345678", "--maxmemory-policy", "allkeys-lru"))
	reply, err := s.Do("CONFIG", "GET", "maxmemory")
	require.NoError(t, err)
	require.Equal(t, []any{"maxmemory", "12345678"}, reply)
	reply, err = s.Do("CONFIG", "GET", "maxmemory-policy")
	require.NoError(t, err)
	require.Equal(t, []any{"maxmemory-policy", "allkeys-lru"}, reply)
}

func TestReplicaOf(t *testing.T) {
	t.Parallel()
	m := Start(t)
	r := Start(t, WithReplicaOf(m.Addr))
	_, err := m.Do("SET", "k", "v")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, err := r.Do("GET", "k")
		return err == nil && v == "v"
	}, 10*time.Second, 50*time.Millisecond)
	reply, err := r.Do("ROLE")
	require.NoError(t, err)
	require.Equal(t, "slave", reply.([]any)[0])
}

func TestDoReplies(t *testing.T) {
	t.Parallel()
	s := Start(t)
	for _, tc := range []struct {
		args []string
		want any
	}{
		{[]string{"SET", "k", "a\r\nb"}, "OK"},
		{[]string{"GET", "k"}, "a\r\nb"},
		{[]string{"GET", "missing"}, nil},
		{[]string{"INCR", "n"}, int64(1)},
		{[]string{"RPUSH", "l", "x", "y"}, int64(2)},
		{[]string{"LRANGE", "l", "0", "-1"}, []any{"x", "y"}},
		{[]string{"LRANGE", "missing", "0", "-1"}, []any{}},
	} {
		got, err := s.Do(tc.args...)
		require.NoError(t, err, "%v", tc.args)
		require.Equal(t, tc.want, got, "%v", tc.args)
	}
	_, err := s.Do("NOSUCHCOMMAND")
	var re ReplyError
	require.ErrorAs(t, err, &re)
	require.Contains(t, string(re), "ERR")
}

// fakeTB records how Require reported a missing binary.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }

func TestRequire(t *testing.T) {
	path := Require(t, "redis-server")
	require.FileExists(t, path)

	const missing = "redistest-no-such-binary"
	t.Setenv("CI", "")
	local := &fakeTB{TB: t}
	require.Empty(t, Require(local, missing))
	require.True(t, local.skipped, "a missing binary outside CI skips")
	require.False(t, local.failed)

	t.Setenv("CI", "true")
	ci := &fakeTB{TB: t}
	require.Empty(t, Require(ci, missing))
	require.True(t, ci.failed, "a missing binary in CI fails")
	require.False(t, ci.skipped)
}

func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	s := StartSentinel(t, "mymaster", 1, 3)
	require.Len(t, s.Replicas, 1)
	require.Len(t, s.Sentinels, 3)
	require.Equal(t, 2, s.Quorum)
	oldMaster, replica := s.Master, s.Replicas[0]

	got, err := s.MasterAddr()
	require.NoError(t, err)
	require.Equal(t, oldMaster.Addr, got)
	require.Same(t, replica, s.Server(replica.Addr))

	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:    s.MasterName,
		SentinelAddrs: s.Sentinels,
		DialTimeout:   time.Second,
		ReadTimeout:   time.Second,
		MaxRetries:    -1,
	})
	defer c.Close()
	require.NoError(t, c.Set(ctx, "before", "1", 0).Err())
	require.Eventually(t, func() bool {
		v, err := replica.Do("GET", "before")
		return err == nil && v == "1"
	}, 5*time.Second, 20*time.Millisecond)

	start := time.Now()
	s.KillMaster()
	requireRefused(t, oldMaster.Addr)
	newAddr := s.WaitFailover(t, 30*time.Second)
	t.Logf("failover took %v", time.Since(start))

	require.Equal(t, replica.Addr, newAddr)
	require.Same(t, replica, s.Master)
	require.Equal(t, []*Server{oldMaster}, s.Replicas)
	reply, err := replica.Do("ROLE")
	require.NoError(t, err)
	require.Equal(t, "master", reply.([]any)[0])
	for _, addr := range s.Sentinels {
		got, err := s.masterAddrFrom(addr)
		require.NoError(t, err)
		require.Equal(t, newAddr, got, "sentinel %s", addr)
	}
	got, err = s.MasterAddr()
	require.NoError(t, err)
	require.Equal(t, newAddr, got)

	// The promoted replica kept the data and accepts writes through the
	// sentinel-aware client.
	require.Eventually(t, func() bool {
		return c.Set(ctx, "after", "2", 0).Err() == nil
	}, 10*time.Second, 100*time.Millisecond)
	v, err := replica.Do("GET", "before")
	require.NoError(t, err)
	require.Equal(t, "1", v)
	v, err = replica.Do("GET", "after")
	require.NoError(t, err)
	require.Equal(t, "2", v)
}

func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	cl := StartCluster(t, 3)
	require.Len(t, cl.Addrs, 3)
	for _, addr := range cl.Addrs {
		info, err := clusterInfo(addr)
		require.NoError(t, err)
		require.Equal(t, "ok", info["cluster_state"])
		require.Equal(t, "16384", info["cluster_slots_assigned"])
	}

	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs})
	defer c.Close()
	slotsUsed := map[int64]bool{}
	for i := 0; i < 30; i++ {
		key := fmt.Sprintf("key-%d", i)
		require.NoError(t, c.Set(ctx, key, i, 0).Err())
		slot, err := c.ClusterKeySlot(ctx, key).Result()
		require.NoError(t, err)
		slotsUsed[slot] = true
	}
	for i := 0; i < 30; i++ {
		v, err := c.Get(ctx, fmt.Sprintf("key-%d", i)).Int()
		require.NoError(t, err)
		require.Equal(t, i, v)
	}
	require.Greater(t, len(slotsUsed), 1)
	// The keys spread over every node.
	for _, n := range cl.Nodes {
		size, err := n.Do("DBSIZE")
		require.NoError(t, err)
		require.Positive(t, size.(int64), "node %s holds no keys", n.Addr)
	}
}

func TestClusterTwoNodes(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	cl := StartCluster(t, 2)
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs})
	defer c.Close()
	for i := 0; i < 20; i++ {
		require.NoError(t, c.Set(ctx, fmt.Sprintf("k%d", i), "v", 0).Err())
	}
	for _, n := range cl.Nodes {
		size, err := n.Do("DBSIZE")
		require.NoError(t, err)
		require.Positive(t, size.(int64), "node %s holds no keys", n.Addr)
	}
}
