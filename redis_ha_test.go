package ssekify_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
)

// failoverWait bounds a Sentinel failover and the hubs' recovery from it.
const failoverWait = 30 * time.Second

// TestRedisSentinelFailover runs two hubs on go-redis failover clients
// against one master, one replica and three sentinels, kills the master,
// and proves that after the failover B's publishes reach the streams on A
// again, with nothing restarted: the replica had the log, so nothing is
// missing and no gap event is due.
func TestRedisSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t, "mymaster", 1, 3)
	client := func() redis.UniversalClient {
		c := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:    s.MasterName,
			SentinelAddrs: s.Sentinels,
			MaxRetries:    -1, // fail fast while the master is down; the hub retries
			DialerRetries: 1,
		})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	var log errorLog
	a := startNode(t, ssekify.NewRedisBroker(client()), &ssekify.Options{OnError: log.hook})
	b := startNode(t, ssekify.NewRedisBroker(client()), nil)
	sA := connect(t, a.srv, "u", "", nil)
	waitLinked(t, b.hub, a.hub, wait)
	publishAll(t, toUser(b.hub, "u", "before"))
	require.Equal(t, []string{"before"}, collectUntil(t, sA, "before"))

	old := s.Master.Addr
	s.KillMaster()
	require.NotEqual(t, old, s.WaitFailover(t, failoverWait))
	waitLinked(t, b.hub, a.hub, failoverWait)
	publishAll(t, toUser(b.hub, "u", "after"), toAll(a.hub, "fence-a"), toAll(b.hub, "fence-b"))
	require.Equal(t, sorted("after", "fence-a", "fence-b"), collectUntil(t, sA, "fence-a", "fence-b"))
	require.Zero(t, a.hub.Stats().GapEvents)
	require.Positive(t, a.hub.Stats().BrokerReconnects, "A noticed the lost master and subscribed again")
	require.Contains(t, log.codes(), ssekify.CodeBrokerSubscribe)
}

// TestRedisCluster runs three hubs on go-redis cluster clients against a
// three-master Redis Cluster: publishes reach the other instances (whatever
// node each hub subscribed on), and the global seq works through the
// counter key's node.
func TestRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	client := func() redis.UniversalClient {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
		t.Cleanup(func() { _ = cc.Close() })
		return cc
	}
	t.Run("publish", func(t *testing.T) {
		testCrossInstance(t, func() ssekify.Broker { return ssekify.NewRedisBroker(client()) })
	})
	t.Run("global seq", func(t *testing.T) {
		testGlobalSeq(t, client, 200)
		// The counter lives on the cluster node owning its slot.
		require.Equal(t, "800", client().Get(context.Background(), ssekify.DefaultSeqKeyPrefix+"job-1").Val())
	})
	t.Run("tenants", func(t *testing.T) {
		shared := client()
		o := func(id string) *ssekify.Options { return &ssekify.Options{Channel: "ssekify:bus:tenant:" + id} }
		a1, a2 := startNode(t, ssekify.NewRedisBroker(shared), o("a")), startNode(t, ssekify.NewRedisBroker(shared), o("a"))
		b1, b2 := startNode(t, ssekify.NewRedisBroker(shared), o("b")), startNode(t, ssekify.NewRedisBroker(shared), o("b"))
		sA, sB := connect(t, a1.srv, "u", "", nil), connect(t, b1.srv, "u", "", nil)
		waitLinked(t, a2.hub, a1.hub, wait)
		waitLinked(t, b2.hub, b1.hub, wait)
		publishAll(t, toUser(a2.hub, "u", "a-user"), toAll(b2.hub, "b-fence"), toAll(a2.hub, "a-fence"))
		require.Equal(t, sorted("a-user", "a-fence"), collectUntil(t, sA, "a-fence"))
		require.Equal(t, []string{"b-fence"}, collectUntil(t, sB, "b-fence"))
	})
}
