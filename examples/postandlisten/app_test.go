package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/extest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

func start(t *testing.T) (base string, c *http.Client) {
	t.Helper()
	hub, err := ssekify.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newRunner(hub, time.Millisecond)
	t.Cleanup(r.close)
	extest.ShutdownAtEnd(t, hub)
	return extest.Serve(t, newMux(r)), extest.Client(t)
}

// follow reads the stream until the task's final message and returns its
// messages, checking the fields every message carries.
func follow(t *testing.T, s *ssetest.Stream, requestID string) []map[string]any {
	t.Helper()
	var msgs []map[string]any
	for {
		m := extest.Object(t, extest.Next(t, s, eventName))
		if m["requestId"] != requestID {
			t.Fatalf("message of another task: %v", m)
		}
		if ts, _ := m["timestamp"].(string); !strings.HasSuffix(ts, "Z") {
			t.Fatalf("no ISO timestamp in %v", m)
		}
		if m["seq"] != float64(len(msgs)) {
			t.Fatalf("message %d has seq %v: %v", len(msgs), m["seq"], m)
		}
		msgs = append(msgs, m)
		if m["phase"] != "progress" {
			return msgs
		}
	}
}

// TestTaskStreamsProgressThenDone: chunks arrive as phase progress with seq
// 0, 1, 2, ..., then the whole answer as phase done.
func TestTaskStreamsProgressThenDone(t *testing.T) {
	base, c := start(t)
	s := extest.Connect(t, c, base+"/sse?userId=alice", nil)
	st, ans := extest.Post(t, c, base+"/tasks", `{"userId":"alice","prompt":"what is SSE?","requestId":"req-0001"}`)
	extest.WantCode(t, http.StatusAccepted, st, ans, "requestId", "req-0001")

	msgs := follow(t, s, "req-0001")
	chunks := answerChunks("what is SSE?")
	if len(msgs) != len(chunks)+1 {
		t.Fatalf("%d messages, want %d chunks and done", len(msgs), len(chunks))
	}
	var content strings.Builder
	for _, m := range msgs[:len(chunks)] {
		content.WriteString(m["payload"].(map[string]any)["content"].(string))
	}
	done := msgs[len(msgs)-1]
	if done["phase"] != "done" || done["payload"].(map[string]any)["content"] != content.String() ||
		!strings.Contains(content.String(), `"what is SSE?"`) {
		t.Fatalf("done %v; chunks made %q", done, content.String())
	}

	// The same requestId again starts a new sequence at 0 (done ended it).
	st, ans = extest.Post(t, c, base+"/tasks", `{"userId":"alice","prompt":"again","requestId":"req-0001"}`)
	extest.WantCode(t, http.StatusAccepted, st, ans, "requestId", "req-0001")
	follow(t, s, "req-0001")
}

// TestTaskFailsWithPhaseError: a failing task ends with phase error.
func TestTaskFailsWithPhaseError(t *testing.T) {
	base, c := start(t)
	s := extest.Connect(t, c, base+"/sse?userId=bob", nil)
	st, ans := extest.Post(t, c, base+"/tasks", `{"userId":"bob","prompt":"x","failAfter":2}`)
	id, _ := ans["requestId"].(string)
	if st != http.StatusAccepted || id == "" {
		t.Fatalf("status %d, answer %v; want 202 with a requestId", st, ans)
	}
	msgs := follow(t, s, id)
	if len(msgs) != 3 || msgs[2]["phase"] != "error" || msgs[2]["error"].(map[string]any)["code"] != "UpstreamError" {
		t.Fatalf("got %v; want two progress messages and an error", msgs)
	}
}

// TestConcurrentTasksKeepTheirOwnSequence: two tasks of one user interleave
// on one stream; each has its own seq.
func TestConcurrentTasksKeepTheirOwnSequence(t *testing.T) {
	base, c := start(t)
	s := extest.Connect(t, c, base+"/sse?userId=carol", nil)
	ids := []string{"task-aaaa", "task-bbbb"}
	for _, id := range ids {
		st, ans := extest.Post(t, c, base+"/tasks", fmt.Sprintf(`{"userId":"carol","prompt":"p","requestId":%q}`, id))
		extest.WantCode(t, http.StatusAccepted, st, ans, "requestId", id)
	}
	next := map[string]float64{}
	finished := 0
	for finished < len(ids) {
		m := extest.Object(t, extest.Next(t, s, eventName))
		id := m["requestId"].(string)
		if m["seq"] != next[id] {
			t.Fatalf("%s: seq %v, want %v", id, m["seq"], next[id])
		}
		next[id]++
		if m["phase"] == "done" {
			finished++
		}
	}
	extest.NoEvent(t, s)
}

func TestBadTasksAreRefused(t *testing.T) {
	base, c := start(t)
	for _, body := range []string{`{"requestId":"short"}`, `{"requestId":"has spaces in it"}`, `{"prompt":`} {
		if st, _ := extest.Post(t, c, base+"/tasks", body); st != http.StatusBadRequest {
			t.Fatalf("%s: status %d, want 400", body, st)
		}
	}
	resp, err := c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %s", resp.Status)
	}
}
