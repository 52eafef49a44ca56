package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// holdTargets opens, on B, one stream of each user the throughput scenario
// publishes to (tp0 … tp<users-1>, tp0 also in the room tp-room), each read
// and discarded by a goroutine, so that B holds streams of every target
// (with interest routing it receives only what its streams need). It
// returns once B counts them all (at most 10 s); stop closes them.
func (e *env) holdTargets(ctx context.Context, users int) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	stop = func() { cancel(); wg.Wait() }
	for i := range users {
		url := e.baseB + "/sse?user=tp" + strconv.Itoa(i)
		if i == 0 {
			url += "&room=tp-room"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			stop()
			return nil, err
		}
		resp, err := e.hc.Do(req)
		if err != nil {
			stop()
			return nil, fmt.Errorf("hold a stream of tp%d on B: %w", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
		}()
	}
	if !waitFor(ctx, 10*time.Second, func() bool { return e.hubB.Stats().Connections >= int64(users) }) {
		stop()
		return nil, fmt.Errorf("hub B holds %d of the %d streams after 10 s", e.hubB.Stats().Connections, users)
	}
	return stop, nil
}
