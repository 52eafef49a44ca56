package main

import (
	"context"
	"testing"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/extest"
	"github.com/ssekify/ssekify/internal/redistest"
)

// TestServerADeliversWhatAnotherInstancePublishes serves A's routes and
// publishes from another hub on the same Redis, as server B does.
func TestServerADeliversWhatAnotherInstancePublishes(t *testing.T) {
	rs := redistest.Start(t)
	hub, err := newHub(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	extest.ShutdownAtEnd(t, hub)
	base := extest.Serve(t, newMux(hub))
	publisher, err := ssekify.New(&ssekify.Options{RedisURL: rs.URL()})
	if err != nil {
		t.Fatal(err)
	}
	extest.ShutdownAtEnd(t, publisher)

	c := extest.Client(t)
	alice := extest.Connect(t, c, base+"/sse?userId=alice", nil)
	bob := extest.Connect(t, c, base+"/sse?userId=bob", nil)
	extest.WaitSubscribers(t, []string{rs.Addr}, "", ssekify.DefaultChannel, 2)

	if err := publisher.PublishToUser(context.Background(), "alice", ssekify.Event{Name: "notify", Data: map[string]string{"msg": "from elsewhere"}}); err != nil {
		t.Fatal(err)
	}
	if m := extest.Object(t, extest.Next(t, alice, "notify")); m["msg"] != "from elsewhere" {
		t.Fatalf("alice got %v", m)
	}
	extest.NoEvent(t, bob)

	st, ans := extest.Get(t, c, base+"/stats")
	extest.Want(t, st, ans, "connections", float64(2))
	extest.Want(t, st, ans, "received", float64(1))
}
