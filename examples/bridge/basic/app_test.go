package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/bridge/relay"
	"github.com/ssekify/ssekify/examples/internal/extest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// TestBasicBridgeForwardsUpstreamEvents connects the bridge to a stand-in
// upstream before any browser: broadcasts reach everyone, and a payload
// naming a userId reaches that user only.
func TestBasicBridgeForwardsUpstreamEvents(t *testing.T) {
	up := extest.StartUpstream(t)
	hub, err := ssekify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	extest.ShutdownAtEnd(t, hub)
	rl := &relay.Relay{Hub: hub, URL: up.URL, To: "alice", Logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := rl.Run(ctx); err != nil {
			t.Errorf("relay: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	base := extest.Serve(t, newMux(hub, rl))
	c := extest.Client(t)

	extest.Eventually(t, "the bridge to connect at start", func() bool { return up.Open() == 1 })
	if got := up.Header("X-Upstream-To"); got != "alice" {
		t.Fatalf("X-Upstream-To %q, want alice", got)
	}
	alice := extest.Connect(t, c, base+"/sse?userId=alice", nil)
	bob := extest.Connect(t, c, base+"/sse?userId=bob", nil)

	up.Raw("retry: 500\n\n") // no data: no event
	up.Emit("tick", `{"n":1}`)
	for _, s := range []*ssetest.Stream{alice, bob} {
		if m := extest.Object(t, extest.Next(t, s, "tick")); m["n"] != float64(1) {
			t.Fatalf("got %v", m)
		}
	}
	up.Emit("tick", `{"n":2,"userId":"alice"}`)
	up.Emit("", `plain text`) // unnamed, not JSON: a "message" with a JSON string
	if m := extest.Object(t, extest.Next(t, alice, "tick")); m["n"] != float64(2) {
		t.Fatalf("got %v", m)
	}
	for _, s := range []*ssetest.Stream{alice, bob} {
		if ev := extest.Next(t, s, "message"); ev.Data != `"plain text"` {
			t.Fatalf("got %q", ev.Data)
		}
	}
	extest.NoEvent(t, bob)

	st, ans := extest.Get(t, c, base+"/stats")
	if st != 200 {
		t.Fatalf("status %d", st)
	}
	if u, _ := ans["upstream"].(map[string]any); u["connected"] != true || u["forwarded"] != float64(3) {
		t.Fatalf("stats %v: want upstream connected, 3 forwarded", ans)
	}

	// The bridge stays connected without browsers.
	_ = alice.Close()
	_ = bob.Close()
	extest.Eventually(t, "the streams to close", func() bool { return hub.Stats().Connections == 0 })
	if up.Open() != 1 {
		t.Fatalf("upstream streams %d, want 1", up.Open())
	}
}
