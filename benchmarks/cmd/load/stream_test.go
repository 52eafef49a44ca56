package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestChunkReaderDecodesNetHTTP reads a real chunked response, written with
// a flush per frame and some large writes, and recovers exactly its bytes.
func TestChunkReaderDecodesNetHTTP(t *testing.T) {
	var want bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&want, "id: %d\ndata: %s\n\n", i, strings.Repeat("x", i*37%5000))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		body := want.Bytes()
		for len(body) > 0 {
			n := min(len(body), 1+len(body)%7919)
			_, _ = w.Write(body[:n])
			http.NewResponseController(w).Flush()
			body = body[n:]
		}
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(request(srv.Listener.Addr().String(), 1)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	chunked, err := readHeaders(br)
	if err != nil {
		t.Fatal(err)
	}
	if !chunked {
		t.Fatal("a streamed response must be chunked")
	}
	got, err := io.ReadAll(&chunkReader{r: br})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("decoded %d bytes, want %d; they differ", len(got), want.Len())
	}
}

func TestParseHex(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "a": 10, "FF": 255, "1f40": 8000, " 10 ": 16} {
		got, err := parseHex([]byte(in))
		if err != nil || got != want {
			t.Errorf("parseHex(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "g", "-1", "1234567890abcdef0"} {
		if _, err := parseHex([]byte(in)); err == nil {
			t.Errorf("parseHex(%q) accepted", in)
		}
	}
}

func TestReadHeadersRefusesErrors(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 503 Service Unavailable\r\n\r\n"))
	if _, err := readHeaders(br); err == nil {
		t.Fatal("a 503 was accepted")
	}
}
