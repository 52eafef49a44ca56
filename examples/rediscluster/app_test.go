package main

import (
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/extest"
	"github.com/ssekify/ssekify/examples/internal/routes"
	"github.com/ssekify/ssekify/internal/redistest"
)

// startInstance wires an instance from env, as main does, and serves it.
func startInstance(t *testing.T, env map[string]string) string {
	t.Helper()
	opts, err := clusterOptions(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClusterClient(opts)
	t.Cleanup(func() { _ = client.Close() })
	broker := ssekify.NewRedisBroker(client)
	t.Cleanup(func() { _ = broker.Close() })
	hub, err := ssekify.New(&ssekify.Options{Redis: broker})
	if err != nil {
		t.Fatal(err)
	}
	extest.ShutdownAtEnd(t, hub)
	return extest.Serve(t, routes.Publish(hub))
}

// TestInstancesMeetOnTheCluster runs two instances on a three-node Cluster:
// what one publishes reaches the streams of the other, and a requestId's
// seq is shared through the Cluster.
func TestInstancesMeetOnTheCluster(t *testing.T) {
	cluster := redistest.StartCluster(t, 3)
	env := map[string]string{"REDIS_CLUSTER_NODES": strings.Join(cluster.Addrs[:2], " , ")} // the client finds the third
	one, two := startInstance(t, env), startInstance(t, env)
	c := extest.Client(t)
	alice := extest.Connect(t, c, one+"/sse?userId=alice", nil)
	bob := extest.Connect(t, c, two+"/sse?userId=bob", nil)
	extest.WaitShardSubscribers(t, cluster.Addrs, "", ssekify.DefaultChannel, 2)

	st, ans := extest.Post(t, c, two+"/notify/alice", `{"msg":"from two"}`)
	extest.Want(t, st, ans, "ok", true)
	if m := extest.Object(t, extest.Next(t, alice, "notify")); m["msg"] != "from two" {
		t.Fatalf("alice got %v", m)
	}
	st, ans = extest.Post(t, c, one+"/publish-room/global", `{"msg":"room"}`)
	extest.Want(t, st, ans, "ok", true)
	extest.Next(t, alice, "room")
	extest.Next(t, bob, "room")

	// One requestId published from both instances: one sequence.
	for _, base := range []string{two, one} {
		st, ans = extest.Post(t, c, base+"/notify/alice", `{"requestId":"r1","phase":"progress"}`)
		extest.Want(t, st, ans, "ok", true)
	}
	evs, err := alice.Collect(2, extest.Wait)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []float64
	for _, ev := range evs {
		seqs = append(seqs, extest.Object(t, ev)["seq"].(float64))
	}
	sort.Float64s(seqs)
	if seqs[0] != 0 || seqs[1] != 1 {
		t.Fatalf("seqs %v, want 0 and 1", seqs)
	}
	extest.NoEvent(t, bob)
}

func TestClusterOptionsNeedNodes(t *testing.T) {
	if _, err := clusterOptions(func(string) string { return " , " }); err == nil {
		t.Fatal("no error without REDIS_CLUSTER_NODES")
	}
	o, err := clusterOptions(func(k string) string {
		return map[string]string{"REDIS_CLUSTER_NODES": "a:1,b:2", "REDIS_PASSWORD": "pw"}[k]
	})
	if err != nil || strings.Join(o.Addrs, ",") != "a:1,b:2" || o.Password != "pw" {
		t.Fatalf("got %+v, %v", o, err)
	}
}
