// Package crossredis_test runs the two programs of the cross-server example
// together, against a real Redis.
package crossredis_test

import (
	"fmt"
	"testing"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/extest"
	"github.com/ssekify/ssekify/internal/redistest"
)

// TestAHoldsStreamsBPublishes starts server A and server B as processes on
// one Redis: what B publishes reaches the stream A holds.
func TestAHoldsStreamsBPublishes(t *testing.T) {
	rs := redistest.Start(t)
	bins := extest.Build(t, "./a", "./b")
	portA, portB := redistest.FreePort(t), redistest.FreePort(t)
	a := extest.Run(t, bins["a"], "HOST=127.0.0.1", fmt.Sprint("PORT=", portA), "REDIS_URL="+rs.URL())
	b := extest.Run(t, bins["b"], "HOST=127.0.0.1", fmt.Sprint("PORT=", portB), "REDIS_URL="+rs.URL())
	baseA, baseB := fmt.Sprintf("http://127.0.0.1:%d", portA), fmt.Sprintf("http://127.0.0.1:%d", portB)
	c := extest.Client(t)
	a.WaitHTTP(t, c, baseA+"/stats")
	b.WaitHTTP(t, c, baseB+"/stats")

	alice := extest.Connect(t, c, baseA+"/sse?userId=alice", nil)
	// Only A subscribes: B is PublishOnly.
	extest.WaitSubscribers(t, []string{rs.Addr}, "", ssekify.DefaultChannel, 1)

	st, ans := extest.Post(t, c, baseB+"/notify/alice", `{"msg":"your report is ready"}`)
	extest.Want(t, st, ans, "ok", true)
	if m := extest.Object(t, extest.Next(t, alice, "notify")); m["msg"] != "your report is ready" {
		t.Fatalf("alice got %v", m)
	}
}
