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
	"github.com/ssekify/ssekify/internal/ssetest"
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

// clusterHubs starts two hubs on the Cluster c and a stream of user u on
// the second: the first publishes, the second delivers.
func clusterHubs(t *testing.T, c *redistest.Cluster) (a, b node, s *ssetest.Stream) {
	a = startNode(t, ssekify.NewRedisBroker(clusterClient(t, c)), nil)
	b = startNode(t, ssekify.NewRedisBroker(clusterClient(t, c)), nil)
	waitLinked(t, a.hub, b.hub, wait)
	return a, b, connect(t, b.srv, "u", "", nil)
}

// shardSubscribers is PUBSUB SHARDNUMSUB of channel on the node at addr.
func shardSubscribers(addr, channel string) int64 {
	r, err := redistest.Do(addr, "", "PUBSUB", "SHARDNUMSUB", channel)
	if list, ok := r.([]any); err == nil && ok && len(list) == 2 {
		n, _ := list[1].(int64)
		return n
	}
	return -1
}

// publishing publishes "e<i>" to user u from a hub every 2 ms, i from 0, in
// the background, and records which publishes succeeded and which failed.
type publishing struct {
	mu         sync.Mutex
	ok, failed []int
	stop, done chan struct{}
}

// startPublishing starts at most max publishes from h, each bounded by
// timeout.
func startPublishing(h *ssekify.Hub, max int, timeout time.Duration) *publishing {
	p := &publishing{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; i < max; i++ {
			select {
			case <-p.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := h.PublishToUser(ctx, "u", ssekify.Event{Data: fmt.Sprintf("e%d", i)})
			cancel()
			p.mu.Lock()
			if err == nil {
				p.ok = append(p.ok, i)
			} else {
				p.failed = append(p.failed, i)
			}
			p.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return p
}

// succeeded is how many publishes succeeded so far.
func (p *publishing) succeeded() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ok)
}

// end stops the publishes and returns which succeeded and which failed.
func (p *publishing) end() (ok, failed []int) {
	close(p.stop)
	<-p.done
	return p.ok, p.failed
}

// checkArrivals reads s until every publish in ok arrived: each event
// once, in order, and each one that was published (those in failed may
// arrive or not). With gaps, a gap event may stand for the events that
// did not arrive between the one before it and the one after it (told at
// the place of the loss); without, a gap event fails the test. It
// reports whether a gap event came.
func checkArrivals(t *testing.T, s *ssetest.Stream, ok, failed []int, gaps bool) bool {
	t.Helper()
	want, maybe := map[int]bool{}, map[int]bool{}
	for _, i := range ok {
		want[i] = true
	}
	for _, i := range failed {
		maybe[i] = true
	}
	last, gapAfter := -1, -1 // gapAfter: the last event received before the latest gap event
	for len(want) > 0 {
		ev, err := s.Next(10 * time.Second)
		if err != nil {
			break
		}
		x := text(t, ev)
		if strings.HasPrefix(x, "gap:") {
			require.True(t, gaps, "a gap event (%s) where nothing may be lost", x)
			gapAfter = last
			continue
		}
		i, err := strconv.Atoi(strings.TrimPrefix(x, "e"))
		require.NoError(t, err, x)
		require.Greater(t, i, last, "in order, once")
		require.True(t, want[i] || maybe[i], "e%d was never published", i)
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
	return gapAfter >= 0
}

// TestClusterShardedPubSub publishes through a 3-master Cluster: the hubs'
// messages go by sharded Pub/Sub on the shard that owns the channel's
// slot, so the cluster bus carries none of them to the other masters (a
// plain PUBLISH, the control, is carried to both), and a stream on the
// other hub gets every event.
func TestClusterShardedPubSub(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	a, _, s := clusterHubs(t, c)
	ctx := context.Background()
	tag := "{" + ssekify.DefaultChannel + "}"
	owner, err := clusterClient(t, c).MasterForKey(ctx, tag)
	require.NoError(t, err)
	addr := owner.Options().Addr
	require.Equal(t, int64(2), shardSubscribers(addr, tag), "both hubs subscribe on the owner")

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
	a, b, s := clusterHubs(t, c)
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

	p := startPublishing(a.hub, 2000, 2*time.Second)
	time.Sleep(300 * time.Millisecond)
	migrateSlot(t, c, slot, src, dst)
	time.Sleep(700 * time.Millisecond)
	ok, failed := p.end()
	require.NotEmpty(t, ok)
	t.Logf("slot %d moved %s → %s; %d publishes succeeded, %d failed during the move; B subscribed again %d times",
		slot, src, dst, len(ok), len(failed), b.hub.Stats().BrokerReconnects)
	checkArrivals(t, s, ok, failed, false) // the logs moved with the slot: no gap
	_, err = redistest.Do(src, "", "HGET", tag+":m", "pos")
	require.ErrorContains(t, err, "MOVED", "the slot left %s", src)
	_, err = redistest.Do(dst, "", "HGET", tag+":m", "pos")
	require.NoError(t, err, "the slot and the logs are on %s", dst)
	eventually(t, "both hubs subscribed on the new owner", func() bool { return shardSubscribers(dst, tag) == 2 })
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
	a, _, s := clusterHubs(t, c)
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

	p := startPublishing(a.hub, 20000, time.Second)
	time.Sleep(300 * time.Millisecond)
	victim.Kill()
	redistest.WaitFor(t, 30*time.Second, "the replica promoted", func() bool {
		r, err := redistest.Do(replica, "", "INFO", "replication")
		return err == nil && strings.Contains(fmt.Sprint(r), "role:master")
	})
	promotedAt := p.succeeded()
	redistest.WaitFor(t, 30*time.Second, "publishes succeed on the new master", func() bool {
		return p.succeeded() > promotedAt+50
	})
	ok, failed := p.end()
	gap := checkArrivals(t, s, ok, failed, true)
	t.Logf("%d publishes succeeded, %d after the promotion, %d failed; a gap event: %v", len(ok), len(ok)-promotedAt, len(failed), gap)
	redistest.WaitFor(t, 15*time.Second, "both hubs subscribed on the new master", func() bool {
		return shardSubscribers(replica, tag) == 2
	})
}
