// Command upstream is a tiny SSE source for the bridge examples: it sends a
// "tick" event every interval to each open stream at /stream, with the
// X-Upstream-To header's value as the payload's userId.
//
//	go -C examples run ./bridge/upstream
//
// PORT sets the port (default 8000); INTERVAL the time between events
// (default 1s).
package main

import (
	"log"
	"os"
	"time"

	"github.com/ssekify/ssekify/examples/internal/run"
)

func main() {
	s := &source{interval: time.Second, closing: make(chan struct{})}
	if v := os.Getenv("INTERVAL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			log.Fatalf("INTERVAL %q: want a positive duration", v)
		}
		s.interval = d
	}
	// s.close ends the open streams, then run.Serve shuts the server down.
	if err := run.Serve("8000", "upstream SSE source: curl -N http://localhost:%s/stream", s.newMux(), s.close); err != nil {
		log.Fatal(err)
	}
}
