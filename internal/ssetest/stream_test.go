package ssetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// writeFlush writes s and flushes it to the client as its own chunk.
func writeFlush(t *testing.T, w http.ResponseWriter, s string) {
	t.Helper()
	if _, err := io.WriteString(w, s); err != nil {
		t.Errorf("write: %v", err)
		return
	}
	w.(http.Flusher).Flush()
}

func TestStream(t *testing.T) {
	gotHeader := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader <- r.Header.Clone()
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		writeFlush(t, w, "\xEF\xBB\xBFretry: 2500\n: hello\n\n")
		writeFlush(t, w, "id: 1\nevent: greet\ndata: hi\r")
		time.Sleep(20 * time.Millisecond) // make the CR and LF arrive separately
		writeFlush(t, w, "\n\r\ndata: line1\ndata: line2\n\n")
		writeFlush(t, w, ": ping\n")
		writeFlush(t, w, "data: \xE2\x82")
		time.Sleep(20 * time.Millisecond)
		writeFlush(t, w, "\xAC\n\ndata: unfinished\n")
		// Returning ends the stream; the unfinished event is discarded.
	}))
	defer srv.Close()

	header := http.Header{"Last-Event-Id": {"0"}, "X-Test": {"yes"}}
	s, err := Connect(context.Background(), srv.Client(), srv.URL, header)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	h := <-gotHeader
	if h.Get("Accept") != "text/event-stream" || h.Get("Last-Event-ID") != "0" || h.Get("X-Test") != "yes" || h.Get("Cache-Control") != "no-cache" {
		t.Fatalf("request headers: %v", h)
	}

	events, err := s.Collect(3, 5*time.Second)
	if err != nil {
		t.Fatalf("Collect: %v (got %+v)", err, events)
	}
	want := []Event{
		{Type: "greet", Data: "hi", LastEventID: "1"},
		{Type: "message", Data: "line1\nline2", LastEventID: "1"},
		{Type: "message", Data: "€", LastEventID: "1"},
	}
	if !reflect.DeepEqual(events, want) {
		t.Fatalf("events:\n got %+v\nwant %+v", events, want)
	}
	if ev, err := s.Next(5 * time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after end = %+v, %v; want io.EOF", ev, err)
	}
	if _, err := s.Next(time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("second Next after end: %v; want io.EOF", err)
	}
	if ms, ok := s.Retry(); !ok || ms != 2500 {
		t.Fatalf("Retry() = %d, %v", ms, ok)
	}
	if n := s.Comments(); n != 2 {
		t.Fatalf("Comments() = %d, want 2", n)
	}
	if id := s.LastEventID(); id != "1" {
		t.Fatalf("LastEventID() = %q", id)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.Next(time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close: %v; want ErrClosed", err)
	}
}

func TestStreamTimeoutAndClose(t *testing.T) {
	handlerDone := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		w.Header().Set("Content-Type", "text/event-stream")
		writeFlush(t, w, "data: first\n\n")
		<-r.Context().Done()
	}))
	defer srv.Close()

	s, err := Connect(context.Background(), srv.Client(), srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := s.Next(5 * time.Second); err != nil || ev != msg("first") {
		t.Fatalf("Next = %+v, %v", ev, err)
	}
	start := time.Now()
	_, err = s.Next(50 * time.Millisecond)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Next on idle stream: %v; want ErrTimeout", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("timeout error %v does not report Timeout()", err)
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Fatalf("Next returned after %v, before its timeout", d)
	}
	events, err := s.Collect(2, 50*time.Millisecond)
	if !errors.Is(err, ErrTimeout) || len(events) != 0 {
		t.Fatalf("Collect on idle stream = %+v, %v", events, err)
	}

	closed := make(chan error)
	go func() { closed <- s.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	select {
	case <-handlerDone:
	case <-time.After(5 * time.Second):
		t.Fatal("server did not see the client go away")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestStreamCloseWithUnreadEvents closes a stream whose reader goroutine is
// blocked handing over events nobody reads.
func TestStreamCloseWithUnreadEvents(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 1000; i++ {
			if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
				return
			}
		}
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()

	s, err := Connect(context.Background(), srv.Client(), srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := s.Next(5 * time.Second); err != nil || ev.Data != "0" {
		t.Fatalf("Next = %+v, %v", ev, err)
	}
	time.Sleep(50 * time.Millisecond) // let the reader fill its buffer and block
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStreamContextCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	s, err := Connect(ctx, srv.Client(), srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cancel()
	_, err = s.Next(5 * time.Second)
	if err == nil || errors.Is(err, ErrTimeout) || errors.Is(err, io.EOF) {
		t.Fatalf("Next after cancel: %v; want the read error", err)
	}
}

func TestConnectRejects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/status":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "busy")
		case "/type":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "data: x\n\n")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()

	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/status", http.StatusServiceUnavailable, "busy"},
		{"/type", http.StatusOK, "data: x\n\n"},
		{"/nocontent", http.StatusNoContent, ""},
	} {
		s, err := Connect(context.Background(), srv.Client(), srv.URL+tc.path, nil)
		var re *ResponseError
		if !errors.As(err, &re) {
			if s != nil {
				s.Close()
			}
			t.Fatalf("%s: Connect error = %v; want *ResponseError", tc.path, err)
		}
		if re.StatusCode != tc.status || re.Body != tc.body {
			t.Fatalf("%s: got %+v", tc.path, re)
		}
	}

	if _, err := Connect(context.Background(), srv.Client(), "http://127.0.0.1:1/", nil); err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
}
