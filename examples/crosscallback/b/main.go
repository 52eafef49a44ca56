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
	"errors"
	"log"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "4005"
	}
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
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           wk.newMux(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("server B (does the work): curl -X POST http://localhost:%s/jobs/alice", port)

	select {
	case err := <-served:
		log.Fatal(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
	wk.close(sctx) // let the running jobs call A back
}
