package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/extest"
)

func TestFanoutDeliversToTheUsersStreams(t *testing.T) {
	hub, err := ssekify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	extest.ShutdownAtEnd(t, hub)
	base := extest.Serve(t, newMux(hub, "s3cret"))
	c := extest.Client(t)
	alice := extest.Connect(t, c, base+"/sse?userId=alice", nil)
	bob := extest.Connect(t, c, base+"/sse?userId=bob", nil)

	post := func(auth, body string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/fanout", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if st := post("", `{"userId":"alice","data":{"x":1}}`); st != http.StatusUnauthorized {
		t.Fatalf("no token: status %d, want 401", st)
	}
	if st := post("Bearer wrong", `{"userId":"alice","data":{"x":1}}`); st != http.StatusUnauthorized {
		t.Fatalf("wrong token: status %d, want 401", st)
	}
	if st := post("Bearer s3cret", `{"userId":`); st != http.StatusBadRequest {
		t.Fatalf("bad JSON: status %d, want 400", st)
	}
	if st := post("Bearer s3cret", `{"data":{}}`); st != http.StatusBadRequest {
		t.Fatalf("no userId: status %d, want 400", st)
	}
	extest.NoEvent(t, alice)

	if st := post("Bearer s3cret", `{"userId":"alice","event":"job","data":{"jobId":"j1"}}`); st != http.StatusOK {
		t.Fatalf("status %d, want 200", st)
	}
	if m := extest.Object(t, extest.Next(t, alice, "job")); m["jobId"] != "j1" {
		t.Fatalf("alice got %v", m)
	}
	extest.NoEvent(t, bob)
}

func TestFanoutWithoutTokenIsOpen(t *testing.T) {
	hub, err := ssekify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	extest.ShutdownAtEnd(t, hub)
	base := extest.Serve(t, newMux(hub, ""))
	c := extest.Client(t)
	alice := extest.Connect(t, c, base+"/sse?userId=alice", nil)
	st, ans := extest.Post(t, c, base+"/fanout", `{"userId":"alice"}`)
	extest.Want(t, st, ans, "delivered", float64(1))
	extest.Next(t, alice, "notify") // the default event name
	st, ans = extest.Post(t, c, base+"/fanout", `{"userId":"carol","data":{}}`)
	extest.Want(t, st, ans, "delivered", float64(0))
}
