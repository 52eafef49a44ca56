package run

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ssekify/ssekify/internal/redistest"
)

// TestServeEndsTheStreamsBeforeTheServer serves a handler that holds its
// request open until shutdown ends it, as a stream does: on SIGTERM Serve
// must call shutdown first (the server's Shutdown would wait for the request
// forever, past the test's patience) and return nil.
func TestServeEndsTheStreamsBeforeTheServer(t *testing.T) {
	port := fmt.Sprint(redistest.FreePort(t))
	t.Setenv("HOST", "127.0.0.1")
	t.Setenv("PORT", port)
	streams := make(chan struct{})
	opened := make(chan struct{}, 1)
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		opened <- struct{}{}
		<-streams
	})
	shutdown := func(context.Context) error { close(streams); return nil }
	served := make(chan error, 1)
	go func() { served <- Serve("1", "test server on port %s", handler, shutdown) }()

	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; {
		var err error
		if resp, err = http.Get("http://127.0.0.1:" + port + "/"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer resp.Body.Close()
	<-opened

	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if err := self.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v, want nil after the shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after SIGTERM")
	}
}

// TestServeReturnsTheListenError: a port in use is the caller's error.
func TestServeReturnsTheListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("HOST", "127.0.0.1")
	t.Setenv("PORT", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
	if err := Serve("1", "test server on port %s", http.NotFoundHandler(), nil); err == nil {
		t.Fatal("Serve: nil, want the listen error")
	}
}
