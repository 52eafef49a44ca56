package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/wire"
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

// feed parses an event stream text as the reader would.
func feed(s *stream, p *phase, text string) {
	for _, line := range strings.SplitAfter(text, "\n") {
		if line != "" {
			s.line(p, []byte(line))
		}
	}
}

func newTestStream(p *phase) *stream {
	s := &stream{}
	s.acct.got = make([]uint64, p.expected/64+1)
	s.ev.data = make([]byte, 0, 512)
	return s
}

func frame(pos int, seq int64) string {
	return fmt.Sprintf("id: v1.k3x9f2a.%s\ndata: %s\n\n", strconv.FormatInt(int64(pos), 36), wire.AppendPayload(nil, 1, seq, 64))
}

// TestCheckCountsExactly accounts a ssekify-like stream: a start line, a
// warm-up, a hole announced by a gap event, a silent hole, a duplicate and
// a reordered message.
func TestCheckCountsExactly(t *testing.T) {
	p := &phase{expected: 10, gapEvent: []byte("ssekify:gap"), allDone: make(chan struct{})}
	p.remaining.Store(1)
	s := newTestStream(p)
	text := "retry: 2000\n\nid: v1.k3x9f2a.0\n\n" + frame(1, 0) + ": ping\n\n" +
		frame(2, 1) + frame(3, 2) +
		"event: ssekify:gap\ndata: {\"reason\":\"retention\",\"missed\":2,\"exact\":true,\"first\":\"v1.k3x9f2a.4\",\"last\":\"v1.k3x9f2a.5\"}\n\n" +
		frame(6, 5) + frame(8, 7) + frame(8, 7) + frame(9, 8) + frame(10, 9) + frame(11, 10)
	feed(s, p, text)
	c := s.check(p.expected)
	want := wire.Check{Streams: 1, Expected: 10, Received: 7, Lost: 1, GapCovered: 2, GapEvents: 1, Duplicates: 1, BadIDs: 1}
	if c != want {
		t.Fatalf("check = %+v\nwant    %+v", c, want)
	}
	select {
	case <-p.allDone:
	default:
		t.Fatal("the last message did not finish the stream")
	}
	// A message published earlier arriving late is reordered, not lost.
	s2 := newTestStream(p)
	feed(s2, p, frame(1, 1)+frame(3, 3)+frame(2, 2))
	c2 := s2.check(3)
	if c2.Reordered != 1 || c2.Received != 3 || c2.Lost != 0 || c2.BadIDs != 1 {
		t.Fatalf("reordered stream: %+v", c2)
	}
}

// TestCheckWithoutIDs accounts a stream of a library without ids or gap
// events: any shortfall is lost, and an inexact gap covers its whole hole.
func TestCheckWithoutIDs(t *testing.T) {
	p := &phase{expected: 5, gapEvent: []byte("ssekify:gap"), allDone: make(chan struct{})}
	s := newTestStream(p)
	for _, seq := range []int64{0, 1, 2, 4} {
		feed(s, p, fmt.Sprintf("data: {\"push\":{\"pub\":{\"data\":%s}}}\n\n", wire.AppendPayload(nil, 1, seq, 40)))
	}
	if c := s.check(5); c.Received != 3 || c.Lost != 2 || c.GapCovered != 0 || c.BadIDs != 0 {
		t.Fatalf("check = %+v", c)
	}
	s2 := newTestStream(p)
	feed(s2, p, frame(2, 1)+"event: ssekify:gap\ndata: {\"reason\":\"retention\",\"missed\":1,\"exact\":false,\"first\":\"v1.k3x9f2a.5\",\"last\":\"v1.k3x9f2a.6\"}\n\n")
	if c := s2.check(5); c.Lost != 0 || c.GapCovered != 4 || c.GapInexact != 1 {
		t.Fatalf("inexact gap: %+v", c)
	}
}
