package main

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssekify/ssekify"

	"github.com/ssekify/ssekify/benchmarks/internal/pacer"
	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// publishAll publishes req on hub: one PublishToUser per user, each with
// a 5 s deadline, by req.Publishers goroutines that take the events as
// the pacer releases them (or all at once at rate 0). The whole run is
// bounded: what is not released within its offered time plus 30 s is not
// published.
func publishAll(ctx context.Context, hub *ssekify.Hub, req publishReq) publishResult {
	n := len(req.Users)
	offered := time.Duration(0)
	if req.Rate > 0 {
		offered = time.Duration(int64(n) * int64(time.Second) / int64(req.Rate))
	}
	limit := time.Now().Add(offered + 30*time.Second)
	ctx, cancel := context.WithDeadline(ctx, limit)
	defer cancel()

	jobs := make(chan pacer.Job, 1024)
	var res publishResult
	var published, errs atomic.Int64
	var start atomic.Int64
	var errOnce sync.Once
	var wg sync.WaitGroup
	for range req.Publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if ctx.Err() != nil {
					continue // drained, not published
				}
				start.CompareAndSwap(0, time.Now().UnixNano())
				if err := publishOne(ctx, hub, req, j.Seq); err != nil {
					errs.Add(1)
					errOnce.Do(func() { res.FirstError = err.Error() })
					continue
				}
				published.Add(1)
			}
		}()
	}
	if req.Rate > 0 {
		pacer.Release(ctx, jobs, n, req.Rate, limit)
	} else {
		releaseAll(ctx, jobs, n)
	}
	wg.Wait()
	res.Published, res.Errors = published.Load(), errs.Load()
	res.StartNs, res.EndNs = start.Load(), time.Now().UnixNano()
	return res
}

// publishOne publishes the event of job seq (from 1): to req.Users[seq-1],
// numbered req.FirstSeq+seq-1 (0 for a warm-up request).
func publishOne(ctx context.Context, hub *ssekify.Hub, req publishReq, seq int64) error {
	num := int64(0)
	if req.FirstSeq > 0 {
		num = req.FirstSeq + seq - 1
	}
	payload := wire.AppendPayload(nil, time.Now().UnixNano(), num, req.Size)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return hub.PublishToUser(ctx, req.Users[seq-1], ssekify.Event{Data: json.RawMessage(payload)})
}

// releaseAll hands n jobs over at once, until ctx ends, then closes jobs.
func releaseAll(ctx context.Context, jobs chan<- pacer.Job, n int) {
	defer close(jobs)
	now := time.Now()
	for i := 1; i <= n; i++ {
		select {
		case jobs <- pacer.Job{Seq: int64(i), Sched: now}:
		case <-ctx.Done():
			return
		}
	}
}
