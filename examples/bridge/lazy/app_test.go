package main

import (
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/extest"
)

// TestLazyBridgeConnectsOnlyWhileBrowsersAre: no upstream stream before the
// first browser, one for any number of browsers, none after the last
// leaves, and a new one when a browser comes back.
func TestLazyBridgeConnectsOnlyWhileBrowsersAre(t *testing.T) {
	up := extest.StartUpstream(t)
	l, err := newLazy(up.URL, "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	extest.ShutdownAtEnd(t, l.hub)
	base := extest.Serve(t, newMux(l))
	c := extest.Client(t)

	time.Sleep(extest.Quiet)
	if n := up.Open(); n != 0 {
		t.Fatalf("%d upstream streams before any browser, want 0", n)
	}
	alice := extest.Connect(t, c, base+"/sse?userId=alice", nil)
	extest.Eventually(t, "the first browser to connect the bridge", func() bool { return up.Open() == 1 && l.relay.Stats().Connected })
	bob := extest.Connect(t, c, base+"/sse?userId=bob", nil)
	up.Emit("tick", `{"n":1}`)
	extest.Next(t, alice, "tick")
	extest.Next(t, bob, "tick")
	if n := up.Open(); n != 1 {
		t.Fatalf("%d upstream streams for two browsers, want 1", n)
	}

	_ = alice.Close()
	extest.Eventually(t, "alice to leave", func() bool { return l.hub.Stats().Connections == 1 })
	if n := up.Open(); n != 1 {
		t.Fatalf("%d upstream streams with bob still here, want 1", n)
	}
	_ = bob.Close()
	extest.Eventually(t, "the bridge to disconnect after the last browser", func() bool { return up.Open() == 0 })

	carol := extest.Connect(t, c, base+"/sse?userId=carol", nil)
	extest.Eventually(t, "a browser to reconnect the bridge", func() bool { return up.Open() == 1 && l.relay.Stats().Connected })
	up.Emit("tick", `{"n":2,"userId":"carol"}`)
	if m := extest.Object(t, extest.Next(t, carol, "tick")); m["n"] != float64(2) {
		t.Fatalf("carol got %v", m)
	}
	st, ans := extest.Get(t, c, base+"/stats")
	if u, _ := ans["upstream"].(map[string]any); st != http.StatusOK || u["starts"] != float64(2) {
		t.Fatalf("stats %v: want 2 upstream starts", ans)
	}

	// Shutting the hub down closes carol's stream, and with it the relay.
	ctx, cancel := context.WithTimeout(context.Background(), extest.Wait)
	defer cancel()
	if err := l.hub.Shutdown(ctx, ssekify.ShutdownOptions{Grace: -1}); err != nil {
		t.Fatal(err)
	}
	extest.Eventually(t, "the bridge to disconnect at shutdown", func() bool { return up.Open() == 0 })
}

func TestLazyBridgeServesItsPage(t *testing.T) {
	l, err := newLazy("http://127.0.0.1:1/stream", "", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.close)
	extest.ShutdownAtEnd(t, l.hub)
	base := extest.Serve(t, newMux(l))
	resp, err := extest.Client(t).Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
}
