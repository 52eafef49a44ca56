package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/ssekify/ssekify/examples/internal/extest"
)

// TestJobsCallServerABack serves B's routes with a stand-in for server A
// that records the /fanout calls.
func TestJobsCallServerABack(t *testing.T) {
	calls := make(chan map[string]any, 4)
	fakeA := extest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/fanout" || r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "unexpected request", http.StatusBadRequest)
			return
		}
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		calls <- m
		_, _ = io.WriteString(w, `{"delivered":1}`)
	}))
	wk := newWorker(fakeA, "s3cret", 10*time.Millisecond, slog.New(slog.DiscardHandler))
	base := extest.Serve(t, wk.newMux())
	c := extest.Client(t)

	st, ans := extest.Post(t, c, base+"/jobs/alice", "")
	if id, _ := ans["jobId"].(string); st != http.StatusAccepted || id == "" {
		t.Fatalf("status %d, answer %v; want 202 with a jobId", st, ans)
	}
	select {
	case m := <-calls:
		data, _ := m["data"].(map[string]any)
		if m["userId"] != "alice" || m["event"] != "notify" || data["jobId"] != ans["jobId"] || data["status"] != "done" {
			t.Fatalf("callback %v; want alice's notify for job %v", m, ans["jobId"])
		}
	case <-time.After(extest.Wait):
		t.Fatal("server B did not call back")
	}

	// Stopping waits for a running job's callback.
	_, ans = extest.Post(t, c, base+"/jobs/bob", "")
	ctx, cancel := context.WithTimeout(context.Background(), extest.Wait)
	defer cancel()
	wk.close(ctx)
	select {
	case m := <-calls:
		if m["userId"] != "bob" {
			t.Fatalf("callback %v; want bob's", m)
		}
	default:
		t.Fatalf("close returned before job %v called back", ans["jobId"])
	}
}
