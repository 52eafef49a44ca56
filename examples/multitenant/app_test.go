package main

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/extest"
	"github.com/ssekify/ssekify/internal/redistest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// startInstance serves the multi-tenant routes on a Redis client of its own,
// as one replica of the service would.
func startInstance(t *testing.T, addr string) string {
	t.Helper()
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{addr}})
	t.Cleanup(func() { _ = client.Close() })
	ts := newTenants(client)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), extest.Wait)
		defer cancel()
		if err := ts.shutdown(ctx, ssekify.ShutdownOptions{Grace: -1}); err != nil {
			t.Errorf("tenants shutdown: %v", err)
		}
	})
	return extest.Serve(t, newMux(ts))
}

// TestTenantsNeverSeeEachOthersEvents runs two instances on one Redis. Two
// tenants have a user of the same name in a room of the same name on the
// first; events published for each tenant, from either instance, reach that
// tenant's stream only.
func TestTenantsNeverSeeEachOthersEvents(t *testing.T) {
	rs := redistest.Start(t)
	one, two := startInstance(t, rs.Addr), startInstance(t, rs.Addr)
	c := extest.Client(t)
	acme := extest.Connect(t, c, one+"/acme/sse?userId=alice&rooms=lobby", nil)
	globex := extest.Connect(t, c, one+"/globex/sse?userId=alice&rooms=lobby", nil)
	for _, tenant := range []string{"acme", "globex"} {
		extest.WaitSubscribers(t, []string{rs.Addr}, "", "ssekify:bus:tenant:"+tenant, 1)
	}

	for _, p := range []struct{ base, tenant, path, body string }{
		{two, "acme", "/publish-room/lobby", `{"msg":"acme room from two"}`},
		{one, "globex", "/publish-room/lobby", `{"msg":"globex room from one"}`},
		{two, "globex", "/notify/alice", `{"msg":"globex user from two"}`},
		{one, "acme", "/notify/alice", `{"msg":"acme user from one"}`},
		{two, "acme", "/broadcast", `{"msg":"acme all from two"}`},
	} {
		st, ans := extest.Post(t, c, p.base+"/"+p.tenant+p.path, p.body)
		extest.Want(t, st, ans, "ok", true)
	}
	// Events from two instances may interleave: compare as sets.
	got := func(s *ssetest.Stream, n int) []string {
		t.Helper()
		evs, err := s.Collect(n, extest.Wait)
		if err != nil {
			t.Fatalf("got %v: %v", evs, err)
		}
		var msgs []string
		for _, ev := range evs {
			msgs = append(msgs, ev.Type+": "+extest.Object(t, ev)["msg"].(string))
		}
		sort.Strings(msgs)
		return msgs
	}
	wantAcme := []string{"broadcast: acme all from two", "notify: acme user from one", "room: acme room from two"}
	wantGlobex := []string{"notify: globex user from two", "room: globex room from one"}
	if g := got(acme, len(wantAcme)); !slices.Equal(g, wantAcme) {
		t.Fatalf("acme's alice got %q, want %q", g, wantAcme)
	}
	if g := got(globex, len(wantGlobex)); !slices.Equal(g, wantGlobex) {
		t.Fatalf("globex's alice got %q, want %q", g, wantGlobex)
	}
	extest.NoEvent(t, acme)
	extest.NoEvent(t, globex)

	st, ans := extest.Get(t, c, one+"/acme/stats")
	extest.Want(t, st, ans, "connections", float64(1))
	st, ans = extest.Get(t, c, two+"/acme/stats")
	extest.Want(t, st, ans, "connections", float64(0))
}

// TestTenantNamesAreChecked: without Redis the tenants live on one
// instance, and a tenant id that does not match the pattern gets no hub.
func TestTenantNamesAreChecked(t *testing.T) {
	ts := newTenants(nil)
	t.Cleanup(func() {
		if err := ts.shutdown(context.Background(), ssekify.ShutdownOptions{Grace: -1}); err != nil {
			t.Errorf("tenants shutdown: %v", err)
		}
	})
	base := extest.Serve(t, newMux(ts))
	c := extest.Client(t)
	for _, tenant := range []string{"Not_A_Tenant", strings.Repeat("x", 33)} {
		resp, err := c.Get(base + "/" + tenant + "/stats")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("tenant %q: status %d, want 404", tenant, resp.StatusCode)
		}
	}
	s := extest.Connect(t, c, base+"/acme/sse?userId=bob", nil)
	st, ans := extest.Post(t, c, base+"/acme/notify/bob", `{"msg":"local"}`)
	extest.Want(t, st, ans, "ok", true)
	extest.Next(t, s, "notify")
	ts.mu.Lock()
	n := len(ts.hubs)
	ts.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d hubs, want 1 (acme)", n)
	}
}
