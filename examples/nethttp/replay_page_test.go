package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/browsertest"
)

// The phases of a flow. An event sent in phaseLive reaches an open stream
// of the page; one sent in phaseAway is sent while the page has no stream;
// one sent in phaseEdge is sent while the page drops or opens its stream,
// and may come either way.
const (
	phaseLive = "live"
	phaseAway = "away"
	phaseEdge = "edge"
)

// flowTick spaces the events of a flow; flowTicks bounds its duration and
// phaseMax the events it sends in one phase, so that a slow step of a test
// does not pile events up (a page away for more of them than a log keeps
// would get the gap event).
const (
	flowTick  = 3 * time.Millisecond
	flowTicks = 20000 // a minute
	phaseMax  = 40
)

// flowEvent is one event a flow sent.
type flowEvent struct {
	n     int
	phase string
	kind  string // notify, room or broadcast
}

// flow sends events to alice, to her room "global" and to everyone, in
// turn, from its own goroutine, each tagged with its number and with the
// phase it was sent in. The phase changes only between two sends.
type flow struct {
	hub *ssekify.Hub

	mu    sync.Mutex
	phase string
	since int // events sent in the current phase
	sent  []flowEvent
	err   error

	quit chan struct{}
	done chan struct{}
}

// startFlow starts sending in phaseLive until stop is called, flowTicks
// ticks passed or ctx ends.
func startFlow(ctx context.Context, hub *ssekify.Hub) *flow {
	f := &flow{hub: hub, phase: phaseLive, quit: make(chan struct{}), done: make(chan struct{})}
	go f.run(ctx)
	return f
}

func (f *flow) run(ctx context.Context) {
	defer close(f.done)
	tick := time.NewTicker(flowTick)
	defer tick.Stop()
	for i := 0; i < flowTicks; i++ {
		select {
		case <-f.quit:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		f.mu.Lock()
		var err error
		if n := len(f.sent); f.since < phaseMax {
			kind := [...]string{"notify", "room", "broadcast"}[n%3]
			err = sendTo(ctx, f.hub, kind, map[string]any{"n": n, "phase": f.phase})
			if err == nil {
				f.sent = append(f.sent, flowEvent{n: n, phase: f.phase, kind: kind})
				f.since++
			}
			f.err = err
		}
		f.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// sendTo sends one event of kind (its name too): notify to alice, room to
// the room global, broadcast to everyone.
func sendTo(ctx context.Context, hub *ssekify.Hub, kind string, data any) error {
	ev := ssekify.Event{Name: kind, Data: data}
	var err error
	switch kind {
	case "notify":
		_, err = hub.SendToUser("alice", ev)
	case "room":
		_, err = hub.SendToRoom("global", ev)
	case "broadcast":
		err = hub.Publish(ctx, ev)
	}
	return err
}

// set starts phase, once the send under way (if any) is done, and returns
// the number of the last event sent before it (-1 for none).
func (f *flow) set(phase string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.phase, f.since = phase, 0
	return len(f.sent) - 1
}

// await waits until n events were sent in the current phase.
func (f *flow) await(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	for {
		f.mu.Lock()
		since, err := f.since, f.err
		f.mu.Unlock()
		if err != nil {
			t.Fatalf("flow: %v", err)
		}
		if since >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("flow: %d events of %d sent: %v", since, n, ctx.Err())
		case <-f.done:
			t.Fatalf("flow ended after %d events of %d in the phase", since, n)
		case <-time.After(flowTick):
		}
	}
}

// stop ends the flow and returns what it sent.
func (f *flow) stop() []flowEvent {
	select {
	case <-f.quit:
	default:
		close(f.quit)
	}
	<-f.done
	return f.sent
}

// TestBrowserPageMarksReplay drives the demo page in headless Chromium
// while a goroutine sends events to the page's user, its room and
// everyone. The page drops its stream with its dropConnection function and
// opens the next one with connect (what the "drop connection" button and
// its timer do), several times; events are sent while it is away. At the
// end the page shows every event exactly once, in order; those sent while
// it was away are marked replayed, those sent while it was open are not;
// each drop and each open is a separator line. Then the page stays away
// for more events than the user's log keeps, and shows the gap event
// (retention, with the count missed) before the replayed rest.
func TestBrowserPageMarksReplay(t *testing.T) {
	const (
		drops   = 4            // drops during the flow
		perStep = 8            // events at least per live and away phase
		keep    = 3 * phaseMax // RecentBufferSize: a drop is two edge phases and an away one
		extra   = 20           // events beyond keep sent while away, at the end
	)
	hub, err := ssekify.New(&ssekify.Options{Retry: 200 * time.Millisecond, RecentBufferSize: keep})
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
		if err := p.WaitFor(ctx, expr, 10*time.Millisecond); err != nil {
			t.Fatalf("%v\nconsole: %q\nlog: %+v", err, p.Console(), pageLog(ctx, t, p))
		}
	}
	eval := func(expr string) json.RawMessage {
		t.Helper()
		raw, err := p.Eval(ctx, expr)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return raw
	}
	// shown is true once the page shows the event numbered n.
	shown := func(n int) string {
		return fmt.Sprintf(`[...%s].some(li => { try { return JSON.parse(li.dataset.data).n === %d } catch { return false } })`, events, n)
	}
	offline := func() {
		t.Helper()
		for i := 0; i < 500 && hub.IsOnline("alice"); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if hub.IsOnline("alice") {
			t.Fatal("the page closed its stream but alice is still registered")
		}
	}
	// drop closes the page's stream once it shows event last, and returns
	// when the hub saw the stream go.
	drop := func(last int) {
		t.Helper()
		waitFor(shown(last))
		eval(`dropConnection(60000)`) // connect, below, comes back sooner
		offline()
	}
	// reopen opens the page's next stream, its opens-th.
	reopen := func(opens int) {
		t.Helper()
		time.Sleep(5 * time.Millisecond) // the last away event is older than the open
		eval(`connect()`)
		waitFor(fmt.Sprintf(`window.sseOpens === %d`, opens))
	}

	waitFor(`window.sseOpens === 1`)
	f := startFlow(ctx, hub)
	defer f.stop()
	for d := 1; d <= drops; d++ {
		f.await(ctx, t, perStep)
		drop(f.set(phaseEdge))
		f.set(phaseAway)
		f.await(ctx, t, perStep)
		f.set(phaseEdge)
		reopen(d + 1)
		f.set(phaseLive)
	}
	f.await(ctx, t, perStep)
	sent := f.stop()
	waitFor(shown(len(sent) - 1))
	time.Sleep(100 * time.Millisecond) // let a late duplicate, if any, show up

	got := pageLog(ctx, t, p)
	var lines []string
	for _, e := range got {
		lines = append(lines, e.Kind+" "+e.Type+" "+e.Data)
	}
	if len(got) != len(sent) {
		t.Fatalf("the page shows %d events, %d were sent:\n%s", len(got), len(sent), strings.Join(lines, "\n"))
	}
	prev, replayed := uint64(0), 0
	for i, e := range got {
		var d struct {
			N     *int
			Phase string
		}
		if err := json.Unmarshal([]byte(e.Data), &d); err != nil || d.N == nil {
			t.Fatalf("event %d %+v is not one of the flow (%v):\n%s", i, e, err, strings.Join(lines, "\n"))
		}
		s := sent[i]
		if *d.N != s.n || e.Type != s.kind || d.Phase != s.phase {
			t.Fatalf("event %d is %s %s, want %s n=%d (missing, duplicated or out of order):\n%s",
				i, e.Type, e.Data, s.kind, s.n, strings.Join(lines, "\n"))
		}
		switch {
		case s.phase == phaseLive && e.Kind != "live":
			t.Fatalf("event %d, sent while the page was open, is marked %s:\n%s", i, e.Kind, strings.Join(lines, "\n"))
		case s.phase == phaseAway && e.Kind != "replayed":
			t.Fatalf("event %d, sent while the page was away, is marked %s:\n%s", i, e.Kind, strings.Join(lines, "\n"))
		case e.Kind != "live" && e.Kind != "replayed":
			t.Fatalf("event %d is marked %q:\n%s", i, e.Kind, strings.Join(lines, "\n"))
		}
		if e.Kind == "replayed" {
			replayed++
		}
		// The ids are position tokens, v1.<epoch>.<position in base 36>.
		n, err := strconv.ParseUint(e.ID[strings.LastIndexByte(e.ID, '.')+1:], 36, 64)
		if err != nil || n <= prev {
			t.Fatalf("event %d: id %q after position %d", i, e.ID, prev)
		}
		prev = n
	}
	if replayed < drops*perStep {
		t.Fatalf("%d events marked replayed, want at least %d", replayed, drops*perStep)
	}
	// Every drop and every open is a separator: open, then drop and open
	// for each drop, each drop after the stream's last event and each open
	// before the next stream's first.
	var want []string
	want = append(want, "open")
	for d := 0; d < drops; d++ {
		want = append(want, "drop", "open")
	}
	var seps []string
	if err := json.Unmarshal(eval(`[...document.querySelectorAll('#log li.sep')].map(li => li.dataset.sep)`), &seps); err != nil {
		t.Fatal(err)
	}
	if strings.Join(seps, " ") != strings.Join(want, " ") {
		t.Fatalf("separators %q, want %q", seps, want)
	}
	var order []string // the log, one letter a line: o open, d drop, e event
	if err := json.Unmarshal(eval(`[...document.querySelectorAll('#log li')].map(li => li.dataset.sep ? li.dataset.sep[0] : 'e')`), &order); err != nil {
		t.Fatal(err)
	}
	stream, inStream := 0, 0
	for i, c := range order {
		switch c {
		case "o":
			stream++
			inStream = 0
		case "d":
			if inStream == 0 {
				t.Fatalf("line %d: a drop before any event of stream %d", i, stream)
			}
		case "e":
			inStream++
		}
	}
	for i, e := range got {
		if i > 0 && e.Stream < got[i-1].Stream {
			t.Fatalf("event %d on stream %d after one on stream %d", i, e.Stream, got[i-1].Stream)
		}
	}
	st := hub.Stats()
	if st.ReplayHits != drops || st.ReplayMisses != 0 || st.GapEvents != 0 {
		t.Fatalf("replay stats: hits %d, misses %d, gap events %d; want %d, 0, 0", st.ReplayHits, st.ReplayMisses, st.GapEvents, drops)
	}

	// Away for more events than alice's log keeps: the page shows the gap
	// event, then the events the log still held, replayed.
	last := len(sent) - 1
	drop(last)
	for n := last + 1; n <= last+keep+extra; n++ {
		if err := sendTo(ctx, hub, "notify", map[string]any{"n": n, "phase": phaseAway}); err != nil {
			t.Fatal(err)
		}
	}
	reopen(drops + 2)
	live := last + keep + extra + 1
	if err := sendTo(ctx, hub, "notify", map[string]any{"n": live, "phase": phaseLive}); err != nil {
		t.Fatal(err)
	}
	waitFor(shown(live))
	time.Sleep(100 * time.Millisecond)
	after := pageLog(ctx, t, p)[len(got):]
	if len(after) != keep+2 {
		t.Fatalf("after the loss the page shows %d events, want the gap, %d replayed and 1 live: %+v", len(after), keep, after)
	}
	var gap struct {
		Reason string
		Missed int
		Exact  bool
	}
	if err := json.Unmarshal([]byte(after[0].Data), &gap); err != nil {
		t.Fatal(err)
	}
	if after[0].Type != "ssekify:gap" || after[0].Kind != "gap" || gap != (struct {
		Reason string
		Missed int
		Exact  bool
	}{"retention", extra, true}) {
		t.Fatalf("first event after the loss: %+v, want the gap event, retention, %d missed, exact", after[0], extra)
	}
	var gapText string
	if err := json.Unmarshal(eval(`document.querySelector('#log li.gap').textContent`), &gapText); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(gapText, "retention") || !strings.Contains(gapText, strconv.Itoa(extra)+" events missed") {
		t.Fatalf("the gap line reads %q, want its reason and missed count", gapText)
	}
	for i, e := range after[1:] {
		var d struct{ N int }
		if err := json.Unmarshal([]byte(e.Data), &d); err != nil {
			t.Fatal(err)
		}
		wantN, wantKind := last+extra+1+i, "replayed"
		if i == keep {
			wantKind = "live"
		}
		if d.N != wantN || e.Kind != wantKind {
			t.Fatalf("event %d after the gap: n=%d %s, want n=%d %s", i, d.N, e.Kind, wantN, wantKind)
		}
	}

	// The picture: the last events of the flow, the drop, the open, the
	// gap and the replayed events after it.
	eval(`(() => { const seps = document.querySelectorAll('#log li.sep.drop');
		const li = seps[seps.length - 1]; const log = document.getElementById('log');
		log.scrollTop = li.offsetTop - log.offsetTop - 4 * li.offsetHeight; })()`)
	shot := filepath.Join(t.TempDir(), "replay.png")
	if err := b.Screenshot(ctx, p, shot); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	img, err := png.Decode(file)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 100 || r.Dy() < 100 {
		t.Fatalf("screenshot of %v", r)
	}
}
