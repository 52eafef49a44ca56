package main

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/wire"

	"github.com/ssekify/ssekify/benchmarks/internal/pacer"
	"github.com/ssekify/ssekify/benchmarks/internal/sseclient"
)

// target is what the throughput scenario publishes to.
type target int

const (
	targetUsers  target = iota // PublishToUser, 100 users in turn
	targetRoom                 // PublishToRoom, one room
	targetAll                  // Publish, everyone
	targetUnheld               // PublishToUser, 100 users no stream holds: the publish path alone
)

// String names the publish call of t in the report.
func (t target) String() string {
	switch t {
	case targetUsers:
		return "PublishToUser, 100 users"
	case targetRoom:
		return "PublishToRoom, 1 room"
	case targetUnheld:
		return "PublishToUser, 100 users nobody holds"
	default:
		return "Publish (everyone)"
	}
}

// tpUsers is how many users the throughput scenario publishes to.
const tpUsers = 100

// tpResult is one row of the throughput table.
type tpResult struct {
	publishers int
	target     target
	ok, errs   int64
	firstErr   string
	elapsed    time.Duration
	calls      []time.Duration // sorted publish call durations
	receivedB  int64           // envelopes B received (Stats.Received) within the drain
	drain      time.Duration   // from the last publish until B had them all, or the limit
	drained    bool
}

// throughput publishes from A with pubs goroutines, at most n events and
// for at most d, then waits up to 5 s until B has received every envelope
// that was published (B's Stats.Received; the wait ends early when that
// count stops moving for 200 ms). B holds a stream of each target
// (holdTargets), which reads and drops what it gets: it measures the
// publish path, B's subscriber and B's delivery.
func (e *env) throughput(ctx context.Context, pubs int, t target, n int, d time.Duration) tpResult {
	r := tpResult{publishers: pubs, target: t}
	recv0 := e.hubB.Stats().Received
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	stopAt := start.Add(d)
	calls := make([][]time.Duration, pubs)
	for w := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([]time.Duration, 0, n/pubs+1)
			var ok, errs int64
			for {
				i := next.Add(1)
				if i > int64(n) || ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				if t0.After(stopAt) {
					break
				}
				ev := e.payload(i)
				pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				var err error
				switch t {
				case targetUsers:
					err = e.hubA.PublishToUser(pctx, "tp"+strconv.FormatInt(i%tpUsers, 10), ev)
				case targetUnheld:
					err = e.hubA.PublishToUser(pctx, "un"+strconv.FormatInt(i%tpUsers, 10), ev)
				case targetRoom:
					err = e.hubA.PublishToRoom(pctx, "tp-room", ev)
				default:
					err = e.hubA.Publish(pctx, ev)
				}
				cancel()
				own = append(own, time.Since(t0))
				if err != nil {
					errs++
					mu.Lock()
					if r.firstErr == "" {
						r.firstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				ok++
			}
			mu.Lock()
			r.ok += ok
			r.errs += errs
			calls[w] = own
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	end := time.Now()
	for _, c := range calls {
		r.calls = append(r.calls, c...)
	}
	slices.Sort(r.calls)
	r.drained = e.waitReceived(ctx, recv0, r.ok, 5*time.Second)
	r.drain = time.Since(end)
	r.receivedB = e.hubB.Stats().Received - recv0
	return r
}

// latResult is one row of the latency table.
type latResult struct {
	rate       int
	pubs       int
	dur        time.Duration
	err        string
	sent, errs int64
	achieved   float64 // events/s from the first to the last publish call
	received   int64   // distinct events of the run received
	dups       int64
	reordered  int64
	gapEvents  int64
	gapMissed  int64
	gapReasons map[string]int
	lost       int64
	lat        []time.Duration // sorted publish-to-receive
	lag        []time.Duration // sorted: how late each publish call started
	tail       time.Duration   // from the last publish to the last event received
}

// latency offers rate events/s to one user for d, from A, with pubs
// goroutines taking the paced events (a 1 ms ticker releases what is due),
// and reads them on an SSE client of B. Each event's data holds the time
// its publish call started; the receive time is taken when its blank line
// arrives. After the last publish it waits up to 5 s for the rest.
func (e *env) latency(ctx context.Context, rate int, d time.Duration, pubs int) latResult {
	r := latResult{rate: rate, pubs: pubs, dur: d, gapReasons: map[string]int{}}
	n := int(int64(rate) * int64(d) / int64(time.Second))
	user := "lat" + strconv.Itoa(rate) + "x" + strconv.Itoa(pubs)
	s, err := sseclient.Open(ctx, e.hc, e.baseB+"/sse?user="+url.QueryEscape(user), "", d+30*time.Second)
	if err != nil {
		r.err = err.Error()
		return r
	}
	defer s.Close()
	if err := s.WaitOpen(5 * time.Second); err != nil {
		r.err = err.Error()
		return r
	}
	// Warm-up: seq 0 until one arrives.
	warm := false
	for i := 0; i < 100 && !warm; i++ {
		_ = e.publishUser(ctx, user, 0)
		_, warm = s.Next(50 * time.Millisecond)
	}
	if !warm {
		r.err = "no warm-up event reached B within 5 s"
		return r
	}
	for { // drain the warm-ups
		if _, ok := s.Next(20 * time.Millisecond); !ok {
			break
		}
	}

	jobs := make(chan pacer.Job, 4096)
	lags := make([][]time.Duration, pubs)
	var sent, errs atomic.Int64
	var firstCall, lastCall atomic.Int64
	var wg sync.WaitGroup
	for w := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([]time.Duration, 0, n/pubs+1)
			for j := range jobs {
				now := time.Now()
				firstCall.CompareAndSwap(0, now.UnixNano())
				own = append(own, now.Sub(j.Sched))
				if err := e.publishUser(ctx, user, j.Seq); err != nil {
					errs.Add(1)
				} else {
					sent.Add(1)
				}
				lastCall.Store(time.Now().UnixNano())
			}
			lags[w] = own
		}()
	}

	// The receiver: every event of the run, until all are accounted for
	// or 5 s after the last publish (or the stream's end).
	got := make([]bool, n+1)
	lat := make([]time.Duration, 0, n)
	var pubDone atomic.Bool
	var pubEnd atomic.Int64
	var lastRecv int64
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		var maxSeq int64
		for {
			if pubDone.Load() {
				if r.received+r.gapMissed >= sent.Load() || time.Since(time.Unix(0, pubEnd.Load())) > 5*time.Second {
					return
				}
			}
			ev, ok := s.Next(20 * time.Millisecond)
			if !ok {
				select {
				case <-s.Done():
					return // the stream ended
				default:
				}
				continue
			}
			if g, isGap := gapOf(ev); isGap {
				r.gapEvents++
				r.gapMissed += int64(g.Missed)
				r.gapReasons[g.Reason]++
				continue
			}
			ts, seq, err := wire.ParsePayload(ev.Data)
			if err != nil || seq < 1 || seq > int64(n) {
				continue
			}
			if got[seq] {
				r.dups++
				continue
			}
			got[seq] = true
			r.received++
			if seq < maxSeq {
				r.reordered++
			}
			maxSeq = max(maxSeq, seq)
			lat = append(lat, time.Duration(ev.At-ts))
			lastRecv = ev.At
		}
	}()

	// The pacer.
	pacer.Release(ctx, jobs, n, rate, time.Now().Add(d+10*time.Second)) // the publishers may fall behind: bounded anyway
	wg.Wait()
	pubEnd.Store(time.Now().UnixNano())
	pubDone.Store(true)
	<-recvDone

	r.sent, r.errs = sent.Load(), errs.Load()
	if f, l := firstCall.Load(), lastCall.Load(); l > f && r.sent > 1 {
		r.achieved = float64(r.sent-1) / (float64(l-f) / 1e9)
	}
	r.lost = max(0, r.sent-r.received-r.gapMissed)
	slices.Sort(lat)
	r.lat = lat
	for _, l := range lags {
		r.lag = append(r.lag, l...)
	}
	slices.Sort(r.lag)
	if lastRecv > 0 {
		r.tail = time.Duration(max(0, lastRecv-lastCall.Load()))
	}
	return r
}

// replayResult is one row of the replay table.
type replayResult struct {
	from     string // the instance the client was first connected to
	k        int
	reps     int
	exact    int // got the K events, each once, no gap event
	gap      int // got a gap event
	partial  int // neither: fewer than K events by the time limit, or duplicates
	failed   int // the repetition could not be set up
	firstErr string
	gotK     int64 // events of the K received, over every repetition
	reasons  map[string]int
	missed   int64           // sum of the gap events' missed
	ready    []time.Duration // sorted: request to the last replayed event (or the gap event)
	notReady int             // repetitions without a ready time
}

// replay measures reps reconnects of a client to B with Last-Event-ID.
// Each repetition uses a user of its own: a stream on from (A or B) gets
// one event published on A and keeps its id, closes; A publishes k events
// for the user; once B received them (at most 2 s, or until B's Received
// count stops moving for 200 ms), a new stream on B
// sends that id. The time runs from the request to the k-th event of the
// run (k = 0: to the stream's first line), or to the gap event. After a
// gap event the stream is read 200 ms more for the k events.
func (e *env) replay(ctx context.Context, from string, k, reps int) replayResult {
	r := replayResult{from: from, k: k, reasons: map[string]int{}}
	base := e.baseB
	hub := e.hubB
	if from == "A" {
		base, hub = e.baseA, e.hubA
	}
	for rep := range reps {
		if ctx.Err() != nil {
			break
		}
		r.reps++
		user := fmt.Sprintf("rp%s%d.%d", from, k, rep)
		fail := func(err error) {
			r.failed++
			if r.firstErr == "" {
				r.firstErr = err.Error()
			}
		}
		// 1. A stream on from, one event, its id.
		s, err := sseclient.Open(ctx, e.hc, base+"/sse?user="+url.QueryEscape(user), "", 20*time.Second)
		if err != nil {
			fail(err)
			continue
		}
		lastID := ""
		if err = s.WaitOpen(5 * time.Second); err == nil {
			err = fmt.Errorf("the first event did not reach the stream on %s within 5 s", from)
			for i := 0; i < 10 && lastID == ""; i++ {
				_ = e.publishUser(ctx, user, 0)
				if ev, ok := s.Next(500 * time.Millisecond); ok && ev.Name == e.eventName {
					lastID, err = s.LastID(), nil
				}
			}
		}
		s.Close()
		if err == nil && lastID == "" {
			err = fmt.Errorf("the stream on %s gave its event no id", from)
		}
		if err != nil {
			fail(err)
			continue
		}
		if !waitFor(ctx, 2*time.Second, func() bool { return hub.UserConnections(user) == 0 }) {
			fail(fmt.Errorf("%s still counts the closed stream after 2 s", from))
			continue
		}
		// 2. K events while it is away; B gets them through Redis.
		recv0 := e.hubB.Stats().Received
		for i := 1; i <= k; i++ {
			_ = e.publishUser(ctx, user, int64(i))
		}
		e.waitReceived(ctx, recv0, int64(k), 2*time.Second)

		// 3. The reconnect to B.
		t0 := time.Now()
		s, err = sseclient.Open(ctx, e.hc, e.baseB+"/sse?user="+url.QueryEscape(user), lastID, 20*time.Second)
		if err != nil {
			fail(err)
			continue
		}
		got := make([]bool, k+1)
		n, dups := 0, 0
		var ready time.Duration
		sawGap := false
		limit := time.Now().Add(5 * time.Second)
		if k == 0 {
			if s.WaitOpen(5*time.Second) == nil {
				ready = time.Duration(s.OpenAt() - t0.UnixNano())
			}
			limit = time.Now().Add(200 * time.Millisecond) // a gap event would come now
		}
		for n < k || k == 0 {
			ev, ok := s.Next(time.Until(limit))
			if !ok {
				break
			}
			if g, isGap := gapOf(ev); isGap {
				if !sawGap {
					sawGap = true
					ready = time.Duration(ev.At - t0.UnixNano())
					r.reasons[g.Reason]++
					r.missed += int64(g.Missed)
					limit = time.Now().Add(200 * time.Millisecond)
				}
				continue
			}
			_, seq, perr := wire.ParsePayload(ev.Data)
			if perr != nil || seq < 1 || seq > int64(k) {
				continue
			}
			if got[seq] {
				dups++
				continue
			}
			got[seq] = true
			n++
			if n == k && !sawGap {
				ready = time.Duration(ev.At - t0.UnixNano())
			}
		}
		s.Close()
		waitFor(ctx, 2*time.Second, func() bool { return e.hubB.UserConnections(user) == 0 })
		r.gotK += int64(n)
		switch {
		case sawGap:
			r.gap++
		case n == k && dups == 0:
			r.exact++
		default:
			r.partial++
		}
		if ready > 0 {
			r.ready = append(r.ready, ready)
		} else {
			r.notReady++
		}
	}
	slices.Sort(r.ready)
	return r
}

// memResult is the Redis memory figure.
type memResult struct {
	events, users int
	err           string
	ok, errs      int64
	before, after memSample
	receivedB     int64
}

// memory reads used_memory, publishes events from A to users users in turn
// (8 goroutines), waits until B received them (at most 5 s) and 500 ms
// more, and reads used_memory again.
func (e *env) memory(ctx context.Context, events, users int) memResult {
	r := memResult{events: events, users: users}
	time.Sleep(500 * time.Millisecond) // let earlier scenarios' buffers go
	var err error
	if r.before, err = usedMemory(ctx, e.admin); err != nil {
		r.err = err.Error()
		return r
	}
	recv0 := e.hubB.Stats().Received
	var next, ok, errs atomic.Int64
	var wg sync.WaitGroup
	stopAt := time.Now().Add(30 * time.Second)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(events) || ctx.Err() != nil || time.Now().After(stopAt) {
					return
				}
				if e.publishUser(ctx, "mem"+strconv.FormatInt(i%int64(users), 10), i) != nil {
					errs.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	r.ok, r.errs = ok.Load(), errs.Load()
	e.waitReceived(ctx, recv0, r.ok, 5*time.Second)
	r.receivedB = e.hubB.Stats().Received - recv0
	time.Sleep(500 * time.Millisecond)
	if r.after, err = usedMemory(ctx, e.admin); err != nil {
		r.err = err.Error()
	}
	return r
}
