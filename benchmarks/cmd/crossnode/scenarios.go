package main

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/cpuload"
	"github.com/ssekify/ssekify/benchmarks/internal/pacer"
	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// gapEventName is the event ssekify writes where a stream lost events;
// centrifuge's unidirectional SSE has none.
const gapEventName = "ssekify:gap"

// latResult is one row of the latency table.
type latResult struct {
	lib        string
	rate, pubs int
	dur        time.Duration
	err        string
	sent, errs int64
	firstErr   string
	achieved   float64 // events/s from the first to the last publish call
	received   int64   // distinct events of the run received
	dups       int64
	reordered  int64
	gapEvents  int64
	gapMissed  int64
	lost       int64
	lat        []time.Duration // sorted publish-to-receive
	lag        []time.Duration // sorted: how late each publish call started
	others     cpuload.Share
}

// latency offers rate events/s to one user for d from node A, with pubs
// goroutines taking the paced events (a 1 ms ticker releases what is due),
// and reads them on an SSE client of node B. Each payload holds the time
// just before its publish call and its sequence number; the receive time
// is taken when its blank line arrives. After the last publish it waits up
// to 5 s for the rest: what has not come by then is lost.
func (e *env) latency(ctx context.Context, lib string, p pair, rate int, d time.Duration, pubs int) latResult {
	r := latResult{lib: lib, rate: rate, pubs: pubs, dur: d}
	n := int(int64(rate) * int64(d) / int64(time.Second))
	user := "lat" + strconv.Itoa(rate) + "x" + strconv.Itoa(pubs)
	s, err := openWarm(ctx, p, e, user, d+60*time.Second)
	if err != nil {
		r.err = err.Error()
		return r
	}
	defer s.Close()

	jobs := make(chan pacer.Job, 4096)
	lags := make([][]time.Duration, pubs)
	var sent, errs atomic.Int64
	var firstCall, lastCall atomic.Int64
	var errMu sync.Mutex
	var wg sync.WaitGroup
	limit := time.Now().Add(d + 10*time.Second) // the publishers may fall behind: bounded anyway
	for w := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := make([]time.Duration, 0, n/pubs+1)
			buf := make([]byte, 0, e.cfg.size)
			for j := range jobs {
				now := time.Now()
				if ctx.Err() != nil || now.After(limit) {
					continue // past the run's bound: drained, not published
				}
				firstCall.CompareAndSwap(0, now.UnixNano())
				own = append(own, now.Sub(j.Sched))
				buf = wire.AppendPayload(buf[:0], time.Now().UnixNano(), j.Seq, e.cfg.size)
				// The library may keep the slice: every call gets its own.
				if err := publishTimed(ctx, p, user, slices.Clone(buf)); err != nil {
					errs.Add(1)
					errMu.Lock()
					if r.firstErr == "" {
						r.firstErr = err.Error()
					}
					errMu.Unlock()
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
			if ev.Name == gapEventName {
				var g struct {
					Missed int `json:"missed"`
				}
				_ = json.Unmarshal(ev.Data, &g)
				r.gapEvents++
				r.gapMissed += int64(g.Missed)
				continue
			}
			ts, seq, err := wire.ParsePayload(ev.Data)
			if err != nil || seq < 1 || seq > int64(n) {
				continue // no payload (centrifuge's connect reply, a ping) or a warm-up
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
		}
	}()

	// The pacer.
	pacer.Release(ctx, jobs, n, rate, limit)
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
	return r
}

// tpResult is one row of the throughput table.
type tpResult struct {
	lib        string
	publishers int
	ok, errs   int64
	firstErr   string
	elapsed    time.Duration
	calls      []time.Duration // sorted publish call durations
	others     cpuload.Share
}

// throughput publishes from node A with pubs goroutines, at most n events
// and for at most d, to users tp0…tp99 in turn (centrifuge: their personal
// channels). Nobody is subscribed to them: it measures the publish call.
func (e *env) throughput(ctx context.Context, lib string, p pair, pubs, n int, d time.Duration) tpResult {
	r := tpResult{lib: lib, publishers: pubs}
	users := make([]string, 100)
	for i := range users {
		users[i] = "tp" + strconv.Itoa(i)
	}
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
			var firstErr string
			for {
				i := next.Add(1)
				if i > int64(n) || ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				if t0.After(stopAt) {
					break
				}
				err := publishTimed(ctx, p, users[i%100], wire.AppendPayload(nil, t0.UnixNano(), i, e.cfg.size))
				own = append(own, time.Since(t0))
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				ok++
			}
			mu.Lock()
			r.ok += ok
			r.errs += errs
			if r.firstErr == "" {
				r.firstErr = firstErr
			}
			calls[w] = own
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	for _, c := range calls {
		r.calls = append(r.calls, c...)
	}
	slices.Sort(r.calls)
	return r
}
