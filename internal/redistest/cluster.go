package redistest

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	// clusterCreateTimeout bounds redis-cli --cluster create.
	clusterCreateTimeout = 30 * time.Second
	// clusterReadyTimeout bounds the wait for cluster_state:ok on every node.
	clusterReadyTimeout = 20 * time.Second
	// slots is the number of hash slots of a Redis Cluster.
	slots = 16384
)

// Cluster is a Redis Cluster (StartCluster, StartClusterReplicas), each node a Server.
type Cluster struct {
	// Addrs are the "host:port" addresses of the nodes.
	Addrs []string
	// Nodes are the node processes, in the order of Addrs.
	Nodes []*Server
}

// StartCluster starts masters cluster-enabled redis-server nodes, joins them
// into a cluster with the hash slots split evenly and no replicas, and waits
// until every node knows every other one and reports cluster_state:ok. Three
// or more nodes are joined with "redis-cli --cluster create"; one or two, which
// redis-cli refuses, with CLUSTER ADDSLOTSRANGE and CLUSTER MEET.
func StartCluster(t testing.TB, masters int) *Cluster {
	return StartClusterReplicas(t, masters, 0)
}

// StartClusterReplicas is StartCluster with replicas replicas per master
// (three masters at least when replicas > 0), so that a master can fail
// over: every node knows every other one and reports cluster_state:ok.
func StartClusterReplicas(t testing.TB, masters, replicas int) *Cluster {
	t.Helper()
	if masters < 1 || replicas > 0 && masters < 3 {
		t.Fatalf("redistest: a cluster needs at least one master, three with replicas")
	}
	c := &Cluster{}
	nodes := masters * (1 + replicas)
	for i := 0; i < nodes; i++ {
		n := Start(t, WithCluster())
		c.Nodes = append(c.Nodes, n)
		c.Addrs = append(c.Addrs, n.Addr)
	}

	if masters >= 3 {
		cli := Require(t, "redis-cli")
		ctx, cancel := context.WithTimeout(context.Background(), clusterCreateTimeout)
		defer cancel()
		args := append([]string{"--cluster", "create"}, c.Addrs...)
		args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
		out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("redistest: redis-cli %v: %v\n%s", args, err, out)
		}
	} else {
		for i, n := range c.Nodes {
			first, last := i*slots/masters, (i+1)*slots/masters-1
			if _, err := n.Do("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(first), strconv.Itoa(last)); err != nil {
				t.Fatalf("redistest: CLUSTER ADDSLOTSRANGE on %s: %v", n.Addr, err)
			}
			if i > 0 {
				if _, err := c.Nodes[0].Do("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(n.Port), strconv.Itoa(n.BusPort)); err != nil {
					t.Fatalf("redistest: CLUSTER MEET %s: %v", n.Addr, err)
				}
			}
		}
	}

	WaitFor(t, clusterReadyTimeout, "cluster_state:ok on every node", func() bool {
		for _, addr := range c.Addrs {
			info, err := clusterInfo(addr)
			if err != nil || info["cluster_state"] != "ok" || info["cluster_known_nodes"] != strconv.Itoa(nodes) {
				return false
			}
		}
		return true
	})
	return c
}

// clusterInfo returns the fields of CLUSTER INFO from the node at addr.
func clusterInfo(addr string) (map[string]string, error) {
	reply, err := Do(addr, "", "CLUSTER", "INFO")
	if err != nil {
		return nil, err
	}
	text, _ := reply.(string)
	m := map[string]string{}
	for _, line := range strings.Split(text, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = v
		}
	}
	return m, nil
}
