package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/browsertest"
)

// logEntry is one line of the demo page's event log.
type logEntry struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Data   string `json:"data"`
	Kind   string `json:"kind"`   // live, replayed or gap
	Stream int    `json:"stream"` // the number of the stream it came on, 1 for the first
}

// events selects the events of the demo page's log (its other lines are
// the reconnect separators).
const events = `document.querySelectorAll('#log li[data-type]')`

// pageLog reads the demo page's event log.
func pageLog(ctx context.Context, t *testing.T, p *browsertest.Page) []logEntry {
	t.Helper()
	raw, err := p.Eval(ctx, `[...`+events+`].map(li => ({type: li.dataset.type, id: li.dataset.id, data: li.dataset.data,
		kind: li.dataset.kind, stream: +li.dataset.stream}))`)
	if err != nil {
		t.Fatal(err)
	}
	var log []logEntry
	if err := json.Unmarshal(raw, &log); err != nil {
		t.Fatalf("page log %s: %v", raw, err)
	}
	return log
}

// TestBrowserReplayAfterReconnect drives the demo page in headless Chromium:
// the page's EventSource receives events; the server closes the stream;
// three events are sent while the user is away (to the user, to its room
// "global", to everyone); the browser reconnects by itself, sending
// Last-Event-ID, and the page shows every event exactly once, in order,
// those sent while it was away marked replayed.
func TestBrowserReplayAfterReconnect(t *testing.T) {
	hub, err := ssekify.New(&ssekify.Options{Retry: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newMux(hub)) // 127.0.0.1
	t.Cleanup(func() {                     // runs after the browser is gone
		hub.CloseAll()
		srv.Close()
	})
	b := browsertest.Launch(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := b.NewPage(ctx, srv.URL+"/?user=alice")
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(expr string) {
		t.Helper()
		if err := p.WaitFor(ctx, expr, 20*time.Millisecond); err != nil {
			t.Fatalf("%v\nconsole: %q\nlog: %+v", err, p.Console(), pageLog(ctx, t, p))
		}
	}
	logLen := func(n int) string { return fmt.Sprintf(`%s.length >= %d`, events, n) }
	send := func(kind, text string) {
		t.Helper()
		ev := ssekify.Event{Name: kind, Data: map[string]string{"text": text}}
		var err error
		switch kind {
		case "notify":
			_, err = hub.SendToUser("alice", ev)
		case "room":
			_, err = hub.SendToRoom("global", ev)
		case "broadcast":
			err = hub.Publish(ctx, ev)
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	waitFor(`window.sseOpens === 1`)
	if !hub.IsOnline("alice") {
		t.Fatal("the page's stream is open but alice is not registered")
	}
	send("notify", "one")
	send("room", "two")
	send("broadcast", "three")
	waitFor(logLen(3))

	if n := hub.CloseUser("alice"); n != 1 {
		t.Fatalf("CloseUser closed %d streams, want 1", n)
	}
	send("notify", "away-user")
	send("room", "away-room")
	send("broadcast", "away-all")
	if hub.IsOnline("alice") {
		t.Fatal("the browser came back before the events were sent while it was away")
	}
	waitFor(`window.sseOpens === 2`)
	send("notify", "live")
	waitFor(`[...` + events + `].some(li => li.dataset.data.includes('"live"'))`)
	time.Sleep(100 * time.Millisecond) // let a late duplicate, if any, show up

	got := pageLog(ctx, t, p)
	want := []string{"notify one", "room two", "broadcast three", "notify away-user", "room away-room", "broadcast away-all", "notify live"}
	var seen []string
	for _, e := range got {
		var d struct{ Text string }
		if err := json.Unmarshal([]byte(e.Data), &d); err != nil {
			t.Fatalf("event %+v: %v", e, err)
		}
		seen = append(seen, e.Type+" "+d.Text)
	}
	if strings.Join(seen, "|") != strings.Join(want, "|") {
		t.Fatalf("page log:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
	// The events sent while the page was away came on the second stream,
	// marked replayed; the others are live.
	for i, e := range got {
		wantKind, wantStream := "live", 1
		if i >= 3 {
			wantStream = 2
		}
		if i >= 3 && i < 6 {
			wantKind = "replayed"
		}
		if e.Kind != wantKind || e.Stream != wantStream {
			t.Fatalf("event %d (%s) is %s on stream %d, want %s on stream %d", i, seen[i], e.Kind, e.Stream, wantKind, wantStream)
		}
	}
	prev := uint64(0)
	for _, e := range got {
		// The ids are position tokens, v1.<epoch>.<position in base 36>.
		n, err := strconv.ParseUint(e.ID[strings.LastIndexByte(e.ID, '.')+1:], 36, 64)
		if err != nil || n <= prev {
			t.Fatalf("ids not increasing: %+v", got)
		}
		prev = n
	}
	st := hub.Stats()
	if st.ReplayHits != 1 || st.ReplayedEvents != 3 || st.ReplayMisses != 0 {
		t.Fatalf("the browser did not reconnect with its Last-Event-ID: %+v", st)
	}
}
