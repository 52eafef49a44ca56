package ssekify_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
)

// clusterClient returns a Cluster client of c, closed when the test ends.
func clusterClient(t *testing.T, c *redistest.Cluster) *redis.ClusterClient {
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// clusterStat reads a counter of CLUSTER INFO on the node at addr (0 when
// the node does not print it: it prints message counters once nonzero).
func clusterStat(t *testing.T, addr, field string) int64 {
	t.Helper()
	reply, err := redistest.Do(addr, "", "CLUSTER", "INFO")
	require.NoError(t, err)
	for _, line := range strings.Split(fmt.Sprint(reply), "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	return 0
}

// TestClusterShardedPubSub publishes through a 3-master Cluster: the hubs'
// messages go by sharded Pub/Sub on the shard that owns the channel's
// slot, so the cluster bus carries none of them to the other masters (a
// plain PUBLISH, the control, is carried to both), and a stream on the
// other hub gets every event.
func TestClusterShardedPubSub(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	a := startNode(t, ssekify.NewRedisBroker(clusterClient(t, c)), nil)
	b := startNode(t, ssekify.NewRedisBroker(clusterClient(t, c)), nil)
	waitLinked(t, a.hub, b.hub, wait)
	s := connect(t, b.srv, "u", "", nil)
	ctx := context.Background()
	owner, err := clusterClient(t, c).MasterForKey(ctx, "{"+ssekify.DefaultChannel+"}")
	require.NoError(t, err)
	addr := owner.Options().Addr
	subs, err := owner.PubSubShardNumSub(ctx, "{"+ssekify.DefaultChannel+"}").Result()
	require.NoError(t, err)
	require.Equal(t, int64(2), subs["{"+ssekify.DefaultChannel+"}"], "both hubs subscribe on the owner")

	const sent = "cluster_stats_messages_publish_sent"
	before := clusterStat(t, addr, sent)
	const n = 200
	for i := range n {
		require.NoError(t, a.hub.PublishToUser(ctx, "u", ssekify.Event{Data: fmt.Sprintf("e%d", i)}))
	}
	got, _ := readTexts(t, s, n)
	require.Len(t, got, n)
	require.Equal(t, before, clusterStat(t, addr, sent), "no message went over the cluster bus")

	_, err = redistest.Do(addr, "", "PUBLISH", "control", "x")
	require.NoError(t, err)
	eventually(t, "the control PUBLISH carried to the other masters", func() bool {
		return clusterStat(t, addr, sent) >= before+2
	})
}

// TestClusterSlotMigration moves the channel's slot to another master
// (CLUSTER SETSLOT, MIGRATE) while events are published to a user with a
// stream open on another hub: every publish that succeeded reaches the
// stream exactly once, in order (one that failed during the move at most
// once), and the subscription follows the slot.
func TestClusterSlotMigration(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	a := startNode(t, ssekify.NewRedisBroker(clusterClient(t, c)), nil)
	b := startNode(t, ssekify.NewRedisBroker(clusterClient(t, c)), nil)
	waitLinked(t, a.hub, b.hub, wait)
	s := connect(t, b.srv, "u", "", nil)
	ctx := context.Background()
	cc := clusterClient(t, c)
	tag := "{" + ssekify.DefaultChannel + "}"
	slot, err := cc.ClusterKeySlot(ctx, tag).Result()
	require.NoError(t, err)
	owner, err := cc.MasterForKey(ctx, tag)
	require.NoError(t, err)
	src := owner.Options().Addr
	dst := c.Addrs[0]
	if dst == src {
		dst = c.Addrs[1]
	}

	var mu sync.Mutex
	var ok, failed []int
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := a.hub.PublishToUser(pctx, "u", ssekify.Event{Data: fmt.Sprintf("e%d", i)})
			cancel()
			mu.Lock()
			if err == nil {
				ok = append(ok, i)
			} else {
				failed = append(failed, i)
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	migrateSlot(t, c, slot, src, dst)
	time.Sleep(700 * time.Millisecond)
	close(stop)
	<-done

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, ok)
	t.Logf("slot %d moved %s → %s; %d publishes succeeded, %d failed during the move; B subscribed again %d times",
		slot, src, dst, len(ok), len(failed), b.hub.Stats().BrokerReconnects)
	want := map[int]bool{}
	for _, i := range ok {
		want[i] = true
	}
	maybe := map[int]bool{}
	for _, i := range failed {
		maybe[i] = true
	}
	last := -1
	for len(want) > 0 {
		ev, err := s.Next(10 * time.Second)
		require.NoError(t, err, "%d successful publishes missing", len(want))
		x := text(t, ev)
		require.False(t, strings.HasPrefix(x, "gap:"), "no gap: the logs moved with the slot (%s)", x)
		i, err := strconv.Atoi(strings.TrimPrefix(x, "e"))
		require.NoError(t, err, x)
		require.Greater(t, i, last, "in order, once")
		last = i
		require.True(t, want[i] || maybe[i], "e%d was never published", i)
		delete(want, i)
	}
	_, err = redistest.Do(src, "", "HGET", tag+":m", "pos")
	require.ErrorContains(t, err, "MOVED", "the slot left %s", src)
	_, err = redistest.Do(dst, "", "HGET", tag+":m", "pos")
	require.NoError(t, err, "the slot and the logs are on %s", dst)
	eventually(t, "both hubs subscribed on the new owner", func() bool {
		r, err := redistest.Do(dst, "", "PUBSUB", "SHARDNUMSUB", tag)
		return err == nil && fmt.Sprint(r) == fmt.Sprint([]any{tag, int64(2)})
	})
}

// migrateSlot moves slot from the master at src to the one at dst, keys
// included, as redis-cli --cluster reshard does.
func migrateSlot(t *testing.T, c *redistest.Cluster, slot int64, src, dst string) {
	t.Helper()
	do := func(addr string, args ...string) any {
		t.Helper()
		r, err := redistest.Do(addr, "", args...)
		require.NoError(t, err, "%s %v", addr, args)
		return r
	}
	srcID, dstID := fmt.Sprint(do(src, "CLUSTER", "MYID")), fmt.Sprint(do(dst, "CLUSTER", "MYID"))
	sl := strconv.FormatInt(slot, 10)
	do(dst, "CLUSTER", "SETSLOT", sl, "IMPORTING", srcID)
	do(src, "CLUSTER", "SETSLOT", sl, "MIGRATING", dstID)
	host, port, _ := strings.Cut(dst, ":")
	for range 100 {
		keys, _ := do(src, "CLUSTER", "GETKEYSINSLOT", sl, "100").([]any)
		if len(keys) == 0 {
			break
		}
		args := []string{"MIGRATE", host, port, "", "0", "5000", "KEYS"}
		for _, k := range keys {
			args = append(args, fmt.Sprint(k))
		}
		do(src, args...)
	}
	for _, addr := range c.Addrs {
		do(addr, "CLUSTER", "SETSLOT", sl, "NODE", dstID)
	}
}

// TestClusterFailover kills the master that owns the channel's slot while
// events are published to a user with a stream open on another hub; its
// replica takes over. Every publish that succeeded reaches the stream once,
// in order, unless a gap event (a write the replica never got) told the
// stream of the loss at its place; the subscriptions move to the new master.
func TestClusterFailover(t *testing.T) {
	c := redistest.StartClusterReplicas(t, 3, 1)
	a := startNode(t, ssekify.NewRedisBroker(clusterClient(t, c)), nil)
	b := startNode(t, ssekify.NewRedisBroker(clusterClient(t, c)), nil)
	waitLinked(t, a.hub, b.hub, wait)
	s := connect(t, b.srv, "u", "", nil)
	ctx := context.Background()
	tag := "{" + ssekify.DefaultChannel + "}"
	owner, err := clusterClient(t, c).MasterForKey(ctx, tag)
	require.NoError(t, err)
	src := owner.Options().Addr
	var victim *redistest.Server
	for _, n := range c.Nodes {
		if n.Addr == src {
			victim = n
		}
	}
	require.NotNil(t, victim)
	var replica string
	eventually(t, "the owner's replica in sync", func() bool {
		for _, addr := range c.Addrs {
			r, err := redistest.Do(addr, "", "INFO", "replication")
			if err == nil && strings.Contains(fmt.Sprint(r), "master_port:"+strconv.Itoa(victim.Port)) &&
				strings.Contains(fmt.Sprint(r), "master_link_status:up") {
				replica = addr
				return true
			}
		}
		return false
	})

	var mu sync.Mutex
	var ok []int
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			err := a.hub.PublishToUser(pctx, "u", ssekify.Event{Data: fmt.Sprintf("e%d", i)})
			cancel()
			if err == nil {
				mu.Lock()
				ok = append(ok, i)
				mu.Unlock()
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	time.Sleep(300 * time.Millisecond)
	victim.Kill()
	redistest.WaitFor(t, 30*time.Second, "the replica promoted", func() bool {
		r, err := redistest.Do(replica, "", "INFO", "replication")
		return err == nil && strings.Contains(fmt.Sprint(r), "role:master")
	})
	mu.Lock()
	promotedAt := len(ok)
	mu.Unlock()
	redistest.WaitFor(t, 30*time.Second, "publishes succeed on the new master", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ok) > promotedAt+50
	})
	close(stop)
	<-done

	mu.Lock()
	defer mu.Unlock()
	want := map[int]bool{}
	for _, i := range ok {
		want[i] = true
	}
	last, gapAfter := -1, -1 // gapAfter: the last event received before the latest gap event
	for len(want) > 0 {
		ev, err := s.Next(10 * time.Second)
		if err != nil {
			break
		}
		x := text(t, ev)
		if strings.HasPrefix(x, "gap:") {
			gapAfter = last
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(x, "e"))
		require.NoError(t, err, x)
		require.Greater(t, i, last, "in order, once")
		last = i
		if gapAfter >= 0 {
			for j := range want {
				if j > gapAfter && j < i {
					delete(want, j) // told by the gap event, at its place
				}
			}
		}
		delete(want, i)
	}
	require.Empty(t, want, "successful publishes neither received nor told by a gap event")
	t.Logf("%d publishes succeeded, %d after the promotion; a gap event: %v", len(ok), len(ok)-promotedAt, gapAfter >= 0)
	redistest.WaitFor(t, 15*time.Second, "both hubs subscribed on the new master", func() bool {
		r, err := redistest.Do(replica, "", "PUBSUB", "SHARDNUMSUB", tag)
		return err == nil && fmt.Sprint(r) == fmt.Sprint([]any{tag, int64(2)})
	})
}
