package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// gapEventName is the event ssekify writes where a stream lost events.
const gapEventName = "ssekify:gap"

// maxLine bounds a line of a stream.
const maxLine = 64 << 10

// stream is one user's SSE stream of the clients process: a raw HTTP/1.1
// request on its own connection (no transport goroutines, small buffers,
// so that 10,000 of them fit in one process), the response parsed by
// net/http (chunked encoding) and its body read line by line as the
// event-stream format, by one goroutine.
type stream struct {
	user, addr string

	mu     sync.Mutex
	seqs   []int64 // sequence numbers ≥ 1 received, in order
	openNs int64   // dial to response headers, 0 until open
}

// run opens the stream and reads it until it ends or ctx does, counting
// into cl. The connection and the headers get 10 s each.
func (s *stream) run(ctx context.Context, cl *clients) {
	dialAt := time.Now()
	cl.firstDial.CompareAndSwap(0, dialAt.UnixNano())
	storeMax(&cl.lastDial, dialAt.UnixNano())
	body, err := s.open(ctx)
	if err != nil {
		if ctx.Err() == nil {
			cl.failed.Add(1)
			cl.fail(fmt.Errorf("user %s: %w", s.user, err))
		}
		return
	}
	defer body.Close()
	now := time.Now()
	s.mu.Lock()
	s.openNs = now.Sub(dialAt).Nanoseconds()
	s.mu.Unlock()
	storeMax(&cl.lastOpen, now.UnixNano())
	cl.opened.Add(1)
	err = s.read(body, cl)
	if ctx.Err() == nil {
		cl.ended.Add(1)
		cl.fail(fmt.Errorf("user %s: stream ended: %w", s.user, err))
	}
}

// open dials, sends the request and reads the response headers; it
// returns the body, whose Close closes the connection, as does the end of
// ctx.
func (s *stream) open(ctx context.Context) (io.ReadCloser, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	fail := func(err error) (io.ReadCloser, error) {
		stop()
		_ = conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET /sse?user=" + url.QueryEscape(s.user) + " HTTP/1.1\r\nHost: " + s.addr +
		"\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 4096), nil)
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fail(fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b)))
	}
	_ = conn.SetDeadline(time.Time{})
	return connBody{resp.Body, conn, stop}, nil
}

// connBody is a response body whose Close closes its connection.
type connBody struct {
	io.ReadCloser
	conn net.Conn
	stop func() bool
}

// Close closes the body and the connection.
func (b connBody) Close() error {
	b.stop()
	_ = b.ReadCloser.Close()
	return b.conn.Close()
}

// read parses body as the event-stream format until it ends, counting
// each dispatched event into cl and recording its sequence number: 0 is a
// warm-up, ≥ 1 a measured event; an event without a payload (the gap
// event, anything else) is counted apart.
func (s *stream) read(body io.Reader, cl *clients) error {
	br := bufio.NewReaderSize(body, 2048)
	var name, data []byte
	hasData := false
	for {
		line, err := readLine(br)
		if err != nil {
			return err
		}
		switch {
		case len(line) == 0:
			if hasData {
				s.dispatch(name, data, cl)
			}
			name, data, hasData = name[:0], data[:0], false
		case line[0] == ':':
		default:
			field, value, _ := bytes.Cut(line, []byte{':'})
			value = bytes.TrimPrefix(value, []byte{' '})
			switch string(field) {
			case "event":
				name = append(name[:0], value...)
			case "data":
				if hasData {
					data = append(data, '\n')
				}
				data, hasData = append(data, value...), true
			}
		}
	}
}

// dispatch counts one event.
func (s *stream) dispatch(name, data []byte, cl *clients) {
	if string(name) == gapEventName {
		cl.gaps.Add(1)
		return
	}
	_, seq, err := wire.ParsePayload(data)
	switch {
	case err != nil || seq < 0:
		cl.other.Add(1)
	case seq == 0:
		cl.warm.Add(1)
	default:
		s.mu.Lock()
		s.seqs = append(s.seqs, seq)
		s.mu.Unlock()
		cl.events.Add(1)
	}
}

// result returns a copy of the stream's sequence numbers and its open
// time.
func (s *stream) result() ([]int64, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.seqs...), s.openNs
}

// errLongLine is returned for a line longer than maxLine.
var errLongLine = errors.New("line longer than 64 KiB")

// readLine returns the next line without its CR LF or LF; the slice is
// valid until the next call.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		long := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(long) <= maxLine {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errLongLine
		}
		line = long
	}
	if err != nil {
		return nil, err
	}
	line = line[:len(line)-1]
	return bytes.TrimSuffix(line, []byte{'\r'}), nil
}
