// Command a is server A of the HTTP-callback example: it holds the browsers'
// streams and exposes POST /fanout, which server B calls when its work is
// done. No Redis is needed.
//
//	go -C examples run ./crosscallback/a
//
// PORT sets the port (default 3005); FANOUT_TOKEN, when set, is the bearer
// token /fanout demands. On SIGINT or SIGTERM it shuts the hub down first,
// then the server.
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
		port = "3005"
	}
	hub, err := ssekify.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           newMux(hub, os.Getenv("FANOUT_TOKEN")),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("server A (holds the streams): curl -N 'http://localhost:%s/sse?userId=alice'", port)

	select {
	case err := <-served:
		log.Fatal(err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// The hub first: http.Server.Shutdown would wait for the open streams
	// forever.
	if err := hub.Shutdown(sctx, ssekify.ShutdownOptions{}); err != nil {
		log.Print(err)
	}
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Print(err)
	}
}
