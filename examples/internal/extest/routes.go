package extest

import (
	"net/http"
	"testing"

	"github.com/ssekify/ssekify/internal/ssetest"
)

// CheckQuickStartRoutes drives the routes every framework example shares
// with examples/nethttp, served at base:
//
//	GET  /sse?userId=U          a stream in room "global"
//	POST /notify/{userId}       {"delivered": n}, event "notify"
//	POST /broadcast             {"ok": true}, event "broadcast"
//	POST /room/{room}           {"delivered": n}, event "room"
//	POST /publish-room/{room}   {"ok": true}, event "room"
//	POST /close/{userId}        {"closed": true}, the user's streams end
//	GET  /stats                 the hub's Stats
func CheckQuickStartRoutes(t *testing.T, base string) {
	t.Helper()
	c := Client(t)
	alice := Connect(t, c, base+"/sse?userId=alice", nil)
	bob := Connect(t, c, base+"/sse?userId=bob", nil)
	guest := Connect(t, c, base+"/sse", nil) // no userId: "guest"

	st, ans := Get(t, c, base+"/stats")
	Want(t, st, ans, "connections", float64(3))
	Want(t, st, ans, "users", float64(3))

	// One user.
	st, ans = Post(t, c, base+"/notify/alice", `{"msg":"hi alice"}`)
	Want(t, st, ans, "delivered", float64(1))
	if m := Object(t, Next(t, alice, "notify")); m["msg"] != "hi alice" {
		t.Fatalf("alice got %v", m)
	}
	st, ans = Post(t, c, base+"/notify/guest", "") // an empty body is {}
	Want(t, st, ans, "delivered", float64(1))
	Next(t, guest, "notify")
	st, ans = Post(t, c, base+"/notify/nobody", `{"msg":"lost"}`)
	Want(t, st, ans, "delivered", float64(0))

	// Everyone.
	st, ans = Post(t, c, base+"/broadcast", `{"msg":"all"}`)
	Want(t, st, ans, "ok", true)
	for _, s := range []*ssetest.Stream{alice, bob, guest} {
		if m := Object(t, Next(t, s, "broadcast")); m["msg"] != "all" {
			t.Fatalf("broadcast: got %v", m)
		}
	}

	// A room, here and everywhere.
	st, ans = Post(t, c, base+"/room/global", `{"n":1}`)
	Want(t, st, ans, "delivered", float64(3))
	st, ans = Post(t, c, base+"/publish-room/global", `{"n":2}`)
	Want(t, st, ans, "ok", true)
	for _, s := range []*ssetest.Stream{alice, bob, guest} {
		for _, n := range []float64{1, 2} {
			if m := Object(t, Next(t, s, "room")); m["n"] != n {
				t.Fatalf("room: got %v, want n=%v", m, n)
			}
		}
	}
	st, ans = Post(t, c, base+"/room/elsewhere", `{}`)
	Want(t, st, ans, "delivered", float64(0))

	// Bad input answers 400 with an error and sends nothing.
	st, ans = Post(t, c, base+"/broadcast", `{"not json`)
	if st != http.StatusBadRequest || ans["error"] == nil {
		t.Fatalf("bad JSON: status %d, answer %v; want 400 with an error", st, ans)
	}
	NoEvent(t, bob)

	// Closing a user ends its streams only.
	st, ans = Post(t, c, base+"/close/alice", "")
	Want(t, st, ans, "closed", true)
	Ended(t, alice)
	Eventually(t, "two connections left", func() bool {
		st, ans := Get(t, c, base+"/stats")
		return st == http.StatusOK && ans["connections"] == float64(2)
	})
	st, ans = Post(t, c, base+"/notify/bob", `{"msg":"still here"}`)
	Want(t, st, ans, "delivered", float64(1))
	Next(t, bob, "notify")
}
