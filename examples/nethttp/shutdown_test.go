package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

const shutdownWait = 5 * time.Second

// TestRunServesMetricsAndShutsDownInOrder drives the demo's process wiring:
// /metrics counts the open stream, and ending the context (what SIGTERM
// does) announces the shutdown to the stream, ends it, and returns.
func TestRunServesMetricsAndShutsDownInOrder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, ln, ssekify.ShutdownOptions{Grace: 200 * time.Millisecond}, slog.New(slog.DiscardHandler))
	}()

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	s, err := ssetest.Connect(context.Background(), client, base+"/sse?userId=alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	metrics := getBody(t, client, base+"/metrics")
	for _, want := range []string{"ssekify_connections 1", "ssekify_accepting 1", "# TYPE ssekify_sent_frames_total counter"} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, metrics)
		}
	}

	cancel() // SIGTERM
	ev, err := s.Next(shutdownWait)
	if err != nil || ev.Type != ssekify.DefaultShutdownEvent {
		t.Fatalf("got %+v, %v; want the %s announcement", ev, err, ssekify.DefaultShutdownEvent)
	}
	if _, err := s.Next(shutdownWait); !errors.Is(err, io.EOF) {
		t.Fatalf("the stream did not end: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(shutdownWait):
		t.Fatal("run did not return")
	}
	if _, err := client.Get(base + "/"); err == nil {
		t.Fatal("the server still answers")
	}
}

func getBody(t *testing.T, c *http.Client, url string) string {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}
