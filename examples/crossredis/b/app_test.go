package main

import (
	"net/http"
	"testing"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/extest"
	"github.com/ssekify/ssekify/internal/redistest"
)

// TestServerBPublishesToTheInstanceHoldingTheStream serves B's routes and
// holds the streams on another hub of the same Redis, as server A does.
func TestServerBPublishesToTheInstanceHoldingTheStream(t *testing.T) {
	rs := redistest.Start(t)
	hub, err := newHub(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	extest.ShutdownAtEnd(t, hub)
	base := extest.Serve(t, newMux(hub))

	holder, err := ssekify.New(&ssekify.Options{RedisURL: rs.URL()})
	if err != nil {
		t.Fatal(err)
	}
	extest.ShutdownAtEnd(t, holder)
	holderURL := extest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = holder.Register(w, r, r.URL.Query().Get("userId"), nil)
	}))

	c := extest.Client(t)
	alice := extest.Connect(t, c, holderURL+"?userId=alice", nil)
	bob := extest.Connect(t, c, holderURL+"?userId=bob", nil)
	// Only the holder subscribes: B is PublishOnly.
	extest.WaitSubscribers(t, []string{rs.Addr}, "", ssekify.DefaultChannel, 1)

	st, ans := extest.Post(t, c, base+"/notify/alice", `{"msg":"done"}`)
	extest.Want(t, st, ans, "ok", true)
	if m := extest.Object(t, extest.Next(t, alice, "notify")); m["msg"] != "done" {
		t.Fatalf("alice got %v", m)
	}
	extest.NoEvent(t, bob)

	st, ans = extest.Post(t, c, base+"/broadcast", `{"msg":"all"}`)
	extest.Want(t, st, ans, "ok", true)
	extest.Next(t, alice, "broadcast")
	extest.Next(t, bob, "broadcast")

	st, ans = extest.Post(t, c, base+"/notify/alice", `[oops`)
	if st != http.StatusBadRequest {
		t.Fatalf("bad JSON: status %d, answer %v; want 400", st, ans)
	}
	st, ans = extest.Get(t, c, base+"/stats")
	extest.Want(t, st, ans, "published", float64(2))
	extest.Want(t, st, ans, "connections", float64(0))
}
