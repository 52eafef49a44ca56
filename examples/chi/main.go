// Command chi serves the quick-start routes of examples/nethttp with the chi
// router.
//
//	go -C examples run ./chi
//
// PORT sets the port (default 3001). On SIGINT or SIGTERM it shuts the hub
// down first (announce, grace period, close the streams), then the server.
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
		port = "3001"
	}
	hub, err := ssekify.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           newRouter(hub),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("chi example: curl -N 'http://localhost:%s/sse?userId=alice'", port)

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
