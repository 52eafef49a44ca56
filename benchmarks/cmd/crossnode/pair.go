package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/wire"

	"github.com/ssekify/ssekify/benchmarks/internal/sseclient"
)

// pair is one library's two nodes on the shared Redis: node A publishes,
// node B serves the SSE client over HTTP on 127.0.0.1.
type pair interface {
	// publish publishes payload from node A to user's stream (ssekify: the
	// user; centrifuge: the user's personal channel). It returns when the
	// library's publish call returned.
	publish(ctx context.Context, user string, payload []byte) error
	// streamURL is the URL of user's SSE stream on node B.
	streamURL(user string) string
	// close shuts both nodes down and closes their Redis connections,
	// bounded in time.
	close()
}

// openWarm opens user's stream on node B and publishes warm-up payloads
// (sequence 0) from node A every 50 ms until one arrives, at most 100
// times: then B's Redis subscription for the user is live. The warm-up
// events are drained before it returns the stream, ready for a run.
func openWarm(ctx context.Context, p pair, e *env, user string, life time.Duration) (*sseclient.Stream, error) {
	s, err := sseclient.Open(ctx, e.hc, p.streamURL(user), "", life)
	if err != nil {
		return nil, err
	}
	if err := s.WaitOpen(5 * time.Second); err != nil {
		s.Close()
		return nil, err
	}
	var lastErr error
	for i := 0; i < 100; i++ {
		if ctx.Err() != nil {
			s.Close()
			return nil, ctx.Err()
		}
		if err := publishTimed(ctx, p, user, wire.AppendPayload(nil, time.Now().UnixNano(), 0, e.cfg.size)); err != nil {
			lastErr = err
		}
		if warmed(s, 50*time.Millisecond) {
			for warmed(s, 20*time.Millisecond) { // drain the other warm-ups
			}
			return s, nil
		}
	}
	s.Close()
	if lastErr != nil {
		return nil, fmt.Errorf("no warm-up event reached node B within 5 s (last publish error: %w)", lastErr)
	}
	return nil, errors.New("no warm-up event reached node B within 5 s")
}

// warmed reports whether an event carrying a payload arrived on s within
// d. Other events (centrifuge's connect reply, pings) are skipped.
func warmed(s *sseclient.Stream, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		ev, ok := s.Next(left)
		if !ok {
			return false
		}
		if _, _, err := wire.ParsePayload(ev.Data); err == nil {
			return true
		}
	}
}

// publishTimed calls p.publish with a 2 s deadline.
func publishTimed(ctx context.Context, p pair, user string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return p.publish(ctx, user, payload)
}
