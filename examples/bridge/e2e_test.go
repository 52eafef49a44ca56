// Package bridge_test runs the bridge examples' programs together: the
// upstream source, the lazy bridge and the basic bridge.
package bridge_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/ssekify/ssekify/examples/internal/extest"
	"github.com/ssekify/ssekify/internal/redistest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// TestBridgesForwardTheUpstream: the lazy bridge (UPSTREAM_TO=alice)
// connects to the upstream only while a browser is connected and delivers to
// alice only; the basic bridge connects at start and delivers to everyone;
// the upstream's count of open streams shows each connection come and go.
func TestBridgesForwardTheUpstream(t *testing.T) {
	bins := extest.Build(t, "./upstream", "./basic", "./lazy")
	c := extest.Client(t)
	ports := map[string]int{}
	base := func(name string) string { return fmt.Sprintf("http://127.0.0.1:%d", ports[name]) }
	run := func(name string, env ...string) *extest.Proc {
		ports[name] = redistest.FreePort(t)
		env = append(env, "HOST=127.0.0.1", fmt.Sprint("PORT=", ports[name]))
		p := extest.Run(t, bins[name], env...)
		p.WaitHTTP(t, c, base(name)+"/stats")
		return p
	}
	openUpstream := func() float64 {
		st, ans := extest.Get(t, c, base("upstream")+"/stats")
		if st != http.StatusOK {
			t.Fatalf("upstream /stats: status %d", st)
		}
		return ans["open"].(float64)
	}

	run("upstream", "INTERVAL=50ms")
	run("lazy", "UPSTREAM_URL="+base("upstream")+"/stream", "UPSTREAM_TO=alice")
	time.Sleep(extest.Quiet)
	if n := openUpstream(); n != 0 {
		t.Fatalf("%v upstream streams before any browser, want 0", n)
	}

	alice := extest.Connect(t, c, base("lazy")+"/sse?userId=alice", nil)
	bob := extest.Connect(t, c, base("lazy")+"/sse?userId=bob", nil)
	for range 2 {
		if m := extest.Object(t, extest.Next(t, alice, "tick")); m["userId"] != "alice" {
			t.Fatalf("alice got %v", m)
		}
	}
	extest.NoEvent(t, bob) // the upstream addresses every event to alice
	if n := openUpstream(); n != 1 {
		t.Fatalf("%v upstream streams for two browsers, want 1", n)
	}
	_ = alice.Close()
	_ = bob.Close()
	extest.Eventually(t, "the lazy bridge to disconnect from the upstream", func() bool { return openUpstream() == 0 })

	basic := run("basic", "UPSTREAM_URL="+base("upstream")+"/stream")
	extest.Eventually(t, "the basic bridge to connect at start", func() bool { return openUpstream() == 1 })
	carol := extest.Connect(t, c, base("basic")+"/sse?userId=carol", nil)
	dave := extest.Connect(t, c, base("basic")+"/sse?userId=dave", nil)
	for _, s := range []*ssetest.Stream{carol, dave} {
		if m := extest.Object(t, extest.Next(t, s, "tick")); m["n"] == nil || m["userId"] != nil {
			t.Fatalf("got %v; want a broadcast tick", m)
		}
	}
	_ = carol.Close()
	_ = dave.Close()
	time.Sleep(extest.Quiet)
	if n := openUpstream(); n != 1 {
		t.Fatalf("%v upstream streams after the browsers left the basic bridge, want 1", n)
	}
	if err := basic.Stop(); err != nil {
		t.Fatalf("basic bridge: %v", err)
	}
	extest.Eventually(t, "the basic bridge's upstream stream to end with it", func() bool { return openUpstream() == 0 })
}
