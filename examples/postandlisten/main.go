// Command postandlisten shows the postAndListen pattern of LLM streaming: the
// page opens its stream, POSTs a task with a requestId, and receives the
// task's progress on the stream as {requestId, phase: progress|done|error,
// seq, timestamp, payload}. Open http://localhost:3012/.
//
//	go -C examples run ./postandlisten
//
// PORT sets the port (default 3012); CHUNK_DELAY the time between chunks
// (default 150ms); REDIS_URL, when set, lets the tasks run on any instance.
package main

import (
	"context"
	"log"
	"os"
	"time"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/internal/run"
)

func main() {
	delay := 150 * time.Millisecond
	if v := os.Getenv("CHUNK_DELAY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			log.Fatalf("CHUNK_DELAY: %v", err)
		}
		delay = d
	}
	hub, err := ssekify.New(&ssekify.Options{RedisURL: os.Getenv("REDIS_URL")})
	if err != nil {
		log.Fatal(err)
	}
	tasks := newRunner(hub, delay)
	err = run.Serve("3012", "postAndListen example: http://localhost:%s/", newMux(tasks), func(ctx context.Context) error {
		// The hub first: during its grace period the running tasks go on
		// streaming. Then the tasks that are left stop; run.Serve then
		// shuts the server down.
		err := hub.Shutdown(ctx, ssekify.ShutdownOptions{})
		tasks.close()
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
}
