// Package sseclient is the benchmark tools' SSE client: one HTTP request
// read line by line as the WHATWG event-stream format, with the receive
// time of each event and the last event id a browser would send back.
package sseclient

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

// Event is one dispatched server-sent event.
type Event struct {
	ID   string // the stream's last event id when it was dispatched
	Name string // "message" when the stream named none
	Data []byte
	At   int64 // receive time, Unix ns, taken when the blank line arrived
}

// Stream is one SSE client connection: its reader goroutine parses the
// body as the WHATWG event-stream format and hands each event over, in
// order, to Next.
type Stream struct {
	events  chan Event
	opened  chan struct{} // closed when the first body line arrived
	openAt  atomic.Int64  // Unix ns of the first body line
	lastID  atomic.Pointer[string]
	readErr atomic.Pointer[error]
	cancel  context.CancelFunc
	done    chan struct{} // closed when the reader goroutine ended
}

// NewHTTPClient returns a client for streams on loopback: no proxy, no
// compression, a fresh connection per request (so closing a stream closes
// its connection and the server sees the client leave, as when a browser
// loses a stream).
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DisableCompression:  true,
		DisableKeepAlives:   true,
		MaxIdleConnsPerHost: -1,
	}}
}

// Open requests GET url with Last-Event-ID lastID (none when empty) and
// starts reading it. The stream lives at most life; Close ends it earlier.
// It returns once the response headers arrived with status 200.
func Open(ctx context.Context, hc *http.Client, url, lastID string, life time.Duration) (*Stream, error) {
	ctx, cancel := context.WithTimeout(ctx, life)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
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
	s := &Stream{events: make(chan Event, 8192), opened: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	empty := ""
	s.lastID.Store(&empty)
	go s.read(ctx, resp.Body)
	return s, nil
}

// Close ends the stream and waits (at most 2 s) for its reader.
func (s *Stream) Close() {
	s.cancel()
	select {
	case <-s.done:
	case <-time.After(2 * time.Second):
	}
}

// Done is closed when the stream's reader ended (the body ended, or Close).
func (s *Stream) Done() <-chan struct{} { return s.done }

// OpenAt is when the stream's first body line arrived (Unix ns), 0 before.
func (s *Stream) OpenAt() int64 { return s.openAt.Load() }

// LastID is the stream's last event id, as a browser's EventSource keeps it.
func (s *Stream) LastID() string { return *s.lastID.Load() }

// Err is what ended the reader, if it ended.
func (s *Stream) Err() error {
	if p := s.readErr.Load(); p != nil {
		return *p
	}
	return nil
}

// read parses body until it ends or ctx does; lines are bounded by 1 MiB.
func (s *Stream) read(ctx context.Context, body io.ReadCloser) {
	defer close(s.done)
	defer close(s.events)
	defer body.Close()
	br := bufio.NewReaderSize(body, 64<<10)
	var (
		first            = true
		name, id         string
		idSet            bool
		data             []byte
		hasData          bool
		long             []byte
		errLineTooLong   = errors.New("line longer than 1 MiB")
		errReaderStopped error
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
			errReaderStopped = err
			break loop
		}
		if first {
			first = false
			s.openAt.Store(time.Now().UnixNano())
			close(s.opened)
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
		if len(line) == 0 { // dispatch
			if idSet {
				v := id
				s.lastID.Store(&v)
			}
			if hasData {
				ev := Event{ID: s.LastID(), Name: name, Data: data, At: time.Now().UnixNano()}
				if ev.Name == "" {
					ev.Name = "message"
				}
				select {
				case s.events <- ev:
				case <-ctx.Done(): // nobody reads any more
					errReaderStopped = ctx.Err()
					break loop
				}
			}
			name, idSet, data, hasData = "", false, nil, false
			continue
		}
		if line[0] == ':' {
			continue // comment: heartbeat
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
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				id, idSet = string(value), true
			}
		}
	}
	if first {
		close(s.opened)
	}
	s.readErr.Store(&errReaderStopped)
}

// WaitOpen waits until the stream's first body line arrived, at most d.
func (s *Stream) WaitOpen(d time.Duration) error {
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

// Next returns the next event, or false when none came within d or the
// stream ended.
func (s *Stream) Next(d time.Duration) (Event, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case ev, ok := <-s.events:
		return ev, ok
	case <-t.C:
		return Event{}, false
	}
}
