// Command b is server B of the HTTP-callback example: it does the work and
// calls server A's /fanout with the result, for A to deliver to the user's
// stream.
//
//	go -C examples run ./crosscallback/b
//
// PORT sets the port (default 4005); A_URL server A's base URL (default
// http://localhost:3005); FANOUT_TOKEN the bearer token of A's /fanout;
// WORK_DELAY how long a job takes (default 1s).
package main

import (
	"context"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/ssekify/ssekify/examples/internal/run"
)

func main() {
	aURL := os.Getenv("A_URL")
	if aURL == "" {
		aURL = "http://localhost:3005"
	}
	delay := time.Second
	if v := os.Getenv("WORK_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			log.Fatalf("WORK_DELAY: %v", err)
		}
		delay = d
	}
	wk := newWorker(aURL, os.Getenv("FANOUT_TOKEN"), delay, slog.New(slog.NewTextHandler(os.Stderr, nil)))
	// No hub, no stream: nothing to end before the server's shutdown.
	err := run.Serve("4005", "server B (does the work): curl -X POST http://localhost:%s/jobs/alice", wk.newMux(), nil)
	if err != nil {
		log.Fatal(err)
	}
	// The server is down, so no handler starts a job any more: let the
	// running jobs call A back.
	ctx, cancel := context.WithTimeout(context.Background(), run.ShutdownTimeout)
	defer cancel()
	wk.close(ctx)
}
