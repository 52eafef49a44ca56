package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// event is one dispatched server-sent event.
type event struct {
	name string // "message" when the stream named none
	data []byte
	at   int64 // receive time, Unix ns, taken when the blank line arrived
}

// stream is one SSE client connection: its reader goroutine parses the
// body line by line (data lines, a blank line ends an event) and hands
// each event over on events, which it closes when the body ends.
type stream struct {
	events  chan event
	opened  chan struct{} // closed when the first body line arrived, or the body ended
	openAt  atomic.Int64  // Unix ns of the first body line
	readErr atomic.Pointer[error]
	cancel  context.CancelFunc
	done    chan struct{} // closed when the reader goroutine ended
}

// newHTTPClient returns a client for streams on loopback: no proxy, no
// compression, a fresh connection per request, so closing a stream closes
// its connection.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DisableCompression:  true,
		DisableKeepAlives:   true,
		MaxIdleConnsPerHost: -1,
	}}
}

// openStream requests GET url and starts reading it. The stream lives at
// most life; Close ends it earlier. It returns once the response headers
// arrived.
func openStream(ctx context.Context, hc *http.Client, url string, life time.Duration) (*stream, error) {
	ctx, cancel := context.WithTimeout(ctx, life)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := hc.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET %s: %s: %s", req.URL, resp.Status, bytes.TrimSpace(b))
	}
	s := &stream{events: make(chan event, 8192), opened: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go s.read(ctx, resp.Body)
	return s, nil
}

// Close ends the stream and waits (at most 2 s) for its reader.
func (s *stream) Close() {
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
	}
}

// Err is what ended the reader, if it ended.
func (s *stream) Err() error {
	if p := s.readErr.Load(); p != nil {
		return *p
	}
	return nil
}

// read parses body until it ends or ctx does; lines are bounded by 1 MiB.
// Only the event and data fields matter here; comments and other fields
// are skipped.
func (s *stream) read(ctx context.Context, body io.ReadCloser) {
	defer close(s.done)
	defer close(s.events)
	defer body.Close()
	br := bufio.NewReaderSize(body, 64<<10)
	var (
		first          = true
		name           string
		data           []byte
		hasData        bool
		long           []byte
		errLineTooLong = errors.New("line longer than 1 MiB")
		stopped        error
	)
loop:
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(long) <= 1<<20 {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				err = errLineTooLong
			}
			line = long
		}
		if err != nil {
			stopped = err
			break loop
		}
		if first {
			first = false
			s.openAt.Store(time.Now().UnixNano())
			close(s.opened)
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
		if len(line) == 0 { // a blank line dispatches the event
			if hasData {
				ev := event{name: name, data: data, at: time.Now().UnixNano()}
				if ev.name == "" {
					ev.name = "message"
				}
				select {
				case s.events <- ev:
				case <-ctx.Done():
					stopped = ctx.Err()
					break loop
				}
			}
			name, data, hasData = "", nil, false
			continue
		}
		if line[0] == ':' {
			continue // a comment: heartbeat
		}
		field, value, _ := bytes.Cut(line, []byte{':'})
		value = bytes.TrimPrefix(value, []byte{' '})
		switch string(field) {
		case "event":
			name = string(value)
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		}
	}
	if first {
		close(s.opened)
	}
	s.readErr.Store(&stopped)
}

// waitOpen waits until the stream's first body line arrived, at most d.
func (s *stream) waitOpen(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-s.opened:
		if s.openAt.Load() == 0 {
			return fmt.Errorf("stream ended before its first line: %v", s.Err())
		}
		return nil
	case <-t.C:
		return fmt.Errorf("no line within %v", d)
	}
}

// next returns the next event, or false when none came within d or the
// stream ended.
func (s *stream) next(d time.Duration) (event, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case ev, ok := <-s.events:
		return ev, ok
	case <-t.C:
		return event{}, false
	}
}
