// Command gin serves the quick-start routes of examples/nethttp with gin.
//
//	go -C examples run ./gin
//
// PORT sets the port (default 3002). On SIGINT or SIGTERM it shuts the hub
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

	"github.com/gin-gonic/gin"

	"github.com/ssekify/ssekify"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3002"
	}
	if os.Getenv(gin.EnvGinMode) == "" {
		gin.SetMode(gin.ReleaseMode)
	}
	hub, err := ssekify.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	// gin's Engine is an http.Handler: serve it with an http.Server of your
	// own (not r.Run), so that it can be shut down after the hub.
	srv := &http.Server{
		Addr:              os.Getenv("HOST") + ":" + port,
		Handler:           newRouter(hub),
		ReadHeaderTimeout: 10 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("gin example: curl -N 'http://localhost:%s/sse?userId=alice'", port)

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
