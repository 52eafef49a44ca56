package main

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/extest"
	"github.com/ssekify/ssekify/examples/internal/routes"
	"github.com/ssekify/ssekify/internal/redistest"
)

// startInstance wires an instance from env, as main does, and serves it.
func startInstance(t *testing.T, env map[string]string) string {
	t.Helper()
	opts, err := failoverOptions(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewFailoverClient(opts)
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

// TestInstancesMeetThroughSentinel runs two instances on a master with a
// replica and three sentinels: what one publishes reaches the streams of
// the other, before and after the master fails over.
func TestInstancesMeetThroughSentinel(t *testing.T) {
	s := redistest.StartSentinel(t, "mymaster", 1, 3)
	env := map[string]string{"REDIS_SENTINELS": strings.Join(s.Sentinels, ",")} // master name: the default
	one, two := startInstance(t, env), startInstance(t, env)
	c := extest.Client(t)
	alice := extest.Connect(t, c, one+"/sse?userId=alice", nil)
	extest.WaitSubscribers(t, []string{s.Master.Addr}, "", ssekify.DefaultChannel, 2)

	st, ans := extest.Post(t, c, two+"/notify/alice", `{"msg":"before"}`)
	extest.Want(t, st, ans, "ok", true)
	if m := extest.Object(t, extest.Next(t, alice, "notify")); m["msg"] != "before" {
		t.Fatalf("alice got %v", m)
	}

	s.KillMaster()
	master := s.WaitFailover(t, 20*time.Second)
	// Both hubs subscribe again, on the promoted replica.
	extest.WaitSubscribers(t, []string{master}, "", ssekify.DefaultChannel, 2)
	// Alice's instance lost its subscription meanwhile; the promoted
	// replica has the log, so it recovers what she missed: no gap event.
	st, ans = extest.Post(t, c, two+"/notify/alice", `{"msg":"after"}`)
	extest.Want(t, st, ans, "ok", true)
	if m := extest.Object(t, extest.Next(t, alice, "notify")); m["msg"] != "after" {
		t.Fatalf("alice got %v", m)
	}
}

func TestFailoverOptionsFromEnv(t *testing.T) {
	if _, err := failoverOptions(func(string) string { return "" }); err == nil {
		t.Fatal("no error without REDIS_SENTINELS")
	}
	env := map[string]string{
		"REDIS_SENTINELS": "a:1, b:2", "REDIS_SENTINEL_MASTER": "main",
		"REDIS_PASSWORD": "pw", "REDIS_SENTINEL_PASSWORD": "spw",
	}
	o, err := failoverOptions(func(k string) string { return env[k] })
	if err != nil || strings.Join(o.SentinelAddrs, ",") != "a:1,b:2" || o.MasterName != "main" ||
		o.Password != "pw" || o.SentinelPassword != "spw" {
		t.Fatalf("got %+v, %v", o, err)
	}
}
