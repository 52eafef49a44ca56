// Package crosscallback_test runs the two programs of the HTTP-callback
// example together.
package crosscallback_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/ssekify/ssekify/examples/internal/extest"
	"github.com/ssekify/ssekify/internal/redistest"
)

// TestBCallsABackAndTheUserGetsTheResult starts server A and server B as
// processes: a job posted to B ends as an event on the stream A holds.
func TestBCallsABackAndTheUserGetsTheResult(t *testing.T) {
	bins := extest.Build(t, "./a", "./b")
	portA, portB := redistest.FreePort(t), redistest.FreePort(t)
	baseA, baseB := fmt.Sprintf("http://127.0.0.1:%d", portA), fmt.Sprintf("http://127.0.0.1:%d", portB)
	a := extest.Run(t, bins["a"], "HOST=127.0.0.1", fmt.Sprint("PORT=", portA), "FANOUT_TOKEN=s3cret")
	b := extest.Run(t, bins["b"], "HOST=127.0.0.1", fmt.Sprint("PORT=", portB), "FANOUT_TOKEN=s3cret",
		"A_URL="+baseA, "WORK_DELAY=50ms")
	c := extest.Client(t)
	a.WaitHTTP(t, c, baseA+"/stats")
	b.WaitHTTP(t, c, baseB+"/healthz")

	alice := extest.Connect(t, c, baseA+"/sse?userId=alice", nil)
	st, ans := extest.Post(t, c, baseB+"/jobs/alice", "")
	if id, _ := ans["jobId"].(string); st != http.StatusAccepted || id == "" {
		t.Fatalf("status %d, answer %v; want 202 with a jobId", st, ans)
	}
	if m := extest.Object(t, extest.Next(t, alice, "notify")); m["jobId"] != ans["jobId"] || m["status"] != "done" {
		t.Fatalf("alice got %v; want the result of job %v", m, ans["jobId"])
	}
}
