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
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ssekify/ssekify"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3012"
	}
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
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           newMux(tasks),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("postAndListen example: http://localhost:%s/", port)

	select {
	case err := <-served:
		log.Fatal(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// The hub first: during its grace period the running tasks go on
	// streaming. Then the tasks that are left stop, then the server.
	if err := hub.Shutdown(sctx, ssekify.ShutdownOptions{}); err != nil {
		log.Print(err)
	}
	tasks.close()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
}
