package cpuload

import (
	"context"
	"time"
)

// WaitQuiet waits, in windows of 1 s and for at most limit, until other
// processes took less than share of the machine's CPU in a window (as
// OthersShare measures it, with redisPID counted as the run's own). It
// returns how long it waited and whether the machine was quiet.
func WaitQuiet(ctx context.Context, redisPID int, share float64, limit time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < limit && ctx.Err() == nil {
		a := Take(redisPID)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
		sh, ok := OthersShare(a, Take(redisPID), 100)
		if !ok || sh < share {
			return time.Since(start), true
		}
	}
	return time.Since(start), false
}
