// Command nethttp is the ssekify demo: a net/http server with a page at
// http://localhost:3000/ that shows events as they arrive.
//
//	go -C examples run ./nethttp
//
// PORT sets the port (default 3000).
package main

import (
	"log"
	"net/http"
	"os"
	"time"

	"github.com/ssekify/ssekify"
)

func main() {
	hub, err := ssekify.New(&ssekify.Options{})
	if err != nil {
		log.Fatal(err)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	srv := &http.Server{
		Addr:              ":" + port,
		Handler:           newMux(hub),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("ssekify demo: http://localhost:%s/", port)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
