// Package pacer releases the events of a fixed-rate benchmark run: a 1 ms
// ticker hands what is due, each with the time it was scheduled for, to
// the publisher goroutines that read the jobs.
package pacer

import (
	"context"
	"time"
)

// Job is one event to publish: its sequence number (from 1) and the time
// it was due, so a publisher can tell how far behind schedule it started.
type Job struct {
	Seq   int64
	Sched time.Time
}

// Release sends n jobs on jobs at rate per second, from now, until all are
// released, ctx ends or limit passes, then closes jobs. It returns how
// many it released.
func Release(ctx context.Context, jobs chan<- Job, n, rate int, limit time.Time) int {
	defer close(jobs)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	released := 0
	for released < n {
		select {
		case <-ctx.Done():
			return released
		case <-tick.C:
		}
		if time.Now().After(limit) {
			return released
		}
		due := min(n, int(int64(rate)*int64(time.Since(start))/int64(time.Second))+1)
		for ; released < due; released++ {
			sched := start.Add(time.Duration(int64(released) * int64(time.Second) / int64(rate)))
			select {
			case jobs <- Job{Seq: int64(released + 1), Sched: sched}:
			case <-ctx.Done():
				return released
			}
		}
	}
	return released
}
