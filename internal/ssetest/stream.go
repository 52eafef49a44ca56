package ssetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"time"
)

// ErrTimeout is returned by Stream.Next and Stream.Collect when no event
// arrived in time. It reports Timeout() == true, like a network timeout.
var ErrTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "ssetest: timed out waiting for an event" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// ErrClosed is returned by Stream.Next and Stream.Collect after Close.
var ErrClosed = errors.New("ssetest: stream closed")

// ResponseError is returned by Connect when the server's response is not an
// event stream an EventSource would accept: a status other than 200 OK or a
// Content-Type other than text/event-stream.
type ResponseError struct {
	StatusCode  int
	ContentType string
	// Body holds the start of the response body, for diagnostics.
	Body string
}

// Error describes the rejected response.
func (e *ResponseError) Error() string {
	return fmt.Sprintf("ssetest: not an event stream: status %d, Content-Type %q, body %q", e.StatusCode, e.ContentType, e.Body)
}

// Stream reads a live event-stream response in a background goroutine. Close
// must be called to release it; the goroutine has ended when Close returns.
type Stream struct {
	// Resp is the HTTP response; its Body is owned by the Stream.
	Resp *http.Response

	cancel   context.CancelFunc
	events   chan Event
	done     chan struct{} // closed by Close
	finished chan struct{} // closed when the reader goroutine has returned

	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	err      error // why the stream ended; valid once events is closed
	retry    int
	hasRetry bool
	comments int
	lastID   string
}

// Connect sends a GET request for url with "Accept: text/event-stream",
// "Cache-Control: no-cache" and the given extra headers (which may be nil), and
// starts reading the response. It returns a *ResponseError, after closing the
// body, when the status is not 200 or the Content-Type is not
// text/event-stream. A nil client means http.DefaultClient. Cancelling ctx
// ends the stream.
func Connect(ctx context.Context, client *http.Client, url string, header http.Header) (*Stream, error) {
	if client == nil {
		client = http.DefaultClient
	}
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Accept", "text/event-stream")
	if req.Header.Get("Cache-Control") == "" {
		req.Header.Set("Cache-Control", "no-cache")
	}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	ct := resp.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	if resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_ = resp.Body.Close()
		cancel()
		return nil, &ResponseError{StatusCode: resp.StatusCode, ContentType: ct, Body: string(body)}
	}
	s := &Stream{
		Resp:     resp,
		cancel:   cancel,
		events:   make(chan Event, 64),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	go s.read()
	return s, nil
}

// read parses the body until it ends or the stream is closed.
func (s *Stream) read() {
	defer close(s.finished)
	p := NewParser()
	buf := make([]byte, 32<<10)
	var evs []Event
	var err error
	defer func() {
		select {
		case <-s.done:
			err = ErrClosed
		default:
		}
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.events)
	}()
	for {
		n, rerr := s.Resp.Body.Read(buf)
		if n > 0 {
			evs = p.Feed(evs[:0], buf[:n])
			s.mu.Lock()
			s.retry, s.hasRetry = p.Retry()
			s.comments = p.Comments()
			s.lastID = p.LastEventID()
			s.mu.Unlock()
			for _, ev := range evs {
				select {
				case s.events <- ev:
				case <-s.done:
					return
				}
			}
		}
		if rerr != nil {
			err = rerr
			return
		}
	}
}

// Next returns the next event. It returns io.EOF once the server has ended the
// stream and every event before the end has been returned, ErrTimeout when no
// event arrives within timeout, ErrClosed after Close, or the read error that
// ended the stream.
func (s *Stream) Next(timeout time.Duration) (Event, error) {
	select {
	case <-s.done:
		return Event{}, ErrClosed
	default:
	}
	select {
	case ev, ok := <-s.events:
		return s.received(ev, ok)
	default:
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ev, ok := <-s.events:
		return s.received(ev, ok)
	case <-timer.C:
		return Event{}, ErrTimeout
	case <-s.done:
		return Event{}, ErrClosed
	}
}

// Collect returns the next n events, waiting at most timeout for all of them.
// On failure it returns the events received so far with the error Next would
// have returned.
func (s *Stream) Collect(n int, timeout time.Duration) ([]Event, error) {
	deadline := time.Now().Add(timeout)
	out := make([]Event, 0, n)
	for len(out) < n {
		ev, err := s.Next(time.Until(deadline))
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// received turns a receive from the events channel into Next's result.
func (s *Stream) received(ev Event, ok bool) (Event, error) {
	if ok {
		return ev, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return Event{}, s.err
}

// Close ends the stream, closes the response body and waits for the reader
// goroutine to return. It is safe to call more than once.
func (s *Stream) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.cancel()
		s.closeErr = s.Resp.Body.Close()
		<-s.finished
	})
	return s.closeErr
}

// Retry returns the last valid "retry" value received, in milliseconds.
func (s *Stream) Retry() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retry, s.hasRetry
}

// Comments returns the number of comment lines received so far.
func (s *Stream) Comments() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.comments
}

// LastEventID returns the stream's last event ID string, as Parser.LastEventID
// describes.
func (s *Stream) LastEventID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}
