package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ssekify/ssekify/examples/internal/extest"
)

func TestSourceTicksAndCountsStreams(t *testing.T) {
	s := &source{interval: 20 * time.Millisecond, closing: make(chan struct{})}
	srv := httptest.NewServer(s.newMux())
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	c := extest.Client(t)

	all := extest.Connect(t, c, srv.URL+"/stream", nil)
	alice := extest.Connect(t, c, srv.URL+"/stream", http.Header{"X-Upstream-To": {"alice"}})
	st, ans := extest.Get(t, c, srv.URL+"/stats")
	extest.Want(t, st, ans, "open", float64(2))

	var last float64
	for range 3 {
		m := extest.Object(t, extest.Next(t, all, "tick"))
		if _, named := m["userId"]; named || m["n"].(float64) <= last {
			t.Fatalf("got %v after n=%v; want a larger n and no userId", m, last)
		}
		last = m["n"].(float64)
	}
	if m := extest.Object(t, extest.Next(t, alice, "tick")); m["userId"] != "alice" {
		t.Fatalf("got %v; want userId alice", m)
	}
	if ms, ok := all.Retry(); !ok || ms != 1000 {
		t.Fatalf("retry %d %v, want 1000", ms, ok)
	}

	_ = all.Close()
	extest.Eventually(t, "one stream left", func() bool {
		st, ans := extest.Get(t, c, srv.URL+"/stats")
		return st == http.StatusOK && ans["open"] == float64(1)
	})

	// Closing the source ends the open stream, and the server's Shutdown
	// then has no stream to wait for.
	ctx, cancel := context.WithTimeout(context.Background(), extest.Wait)
	defer cancel()
	if err := s.close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	extest.Ended(t, alice)
	if n := s.open.Load(); n != 0 {
		t.Fatalf("%d streams open after shutdown", n)
	}
}
