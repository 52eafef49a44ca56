package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// phase is the state the readers of one run share.
type phase struct {
	// start is the Unix-nano time from which messages count; 0 before the
	// measured phase (warm-up messages are older than any start).
	start atomic.Int64
	// expected is how many messages a reading stream should get.
	expected int64
	// remaining counts the reading streams that do not have all yet.
	remaining atomic.Int64
	allDone   chan struct{}
	closeOnce sync.Once
	// last is the Unix-nano time of the latest completing delivery.
	last atomic.Int64
	// stopping is set before the client closes its own connections, so
	// readers do not take that for the server ending the stream.
	stopping atomic.Bool
	// recordLat makes readers keep each message's latency.
	recordLat bool
}

func (p *phase) finishOne(now int64) {
	for {
		old := p.last.Load()
		if now <= old || p.last.CompareAndSwap(old, now) {
			break
		}
	}
	if p.remaining.Add(-1) == 0 {
		p.closeOnce.Do(func() { close(p.allDone) })
	}
}

// stream is one SSE connection of the load client.
type stream struct {
	id      int
	nc      net.Conn
	stalled bool
	// drain is closed to let a stalled stream read again.
	drain chan struct{}

	seen    atomic.Int64 // messages of any phase
	count   atomic.Int64 // messages of the measured phase
	closed  atomic.Bool  // the server ended the stream
	headErr atomic.Pointer[string]
	lats    []int64 // owned by the reader until it returns
}

// request is the stream request line and headers, formatted once per stream.
func request(host string, id int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s?user=u%d&%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\nUser-Agent: ssekify-bench\r\n\r\n",
		wire.PathStream, id, wire.ConnectParam, host)
	return b.Bytes()
}

// read consumes the stream until it ends or its deadline passes.
func (s *stream) read(p *phase, lineBuf int) {
	br := bufio.NewReaderSize(s.nc, 4096)
	chunked, err := readHeaders(br)
	if err != nil {
		msg := err.Error()
		s.headErr.Store(&msg)
		if !p.stopping.Load() {
			s.closed.Store(true)
		}
		return
	}
	var body io.Reader = br
	if chunked {
		body = &chunkReader{r: br}
	}
	lr := bufio.NewReaderSize(body, lineBuf)
	drain := s.drain
	for {
		line, err := lr.ReadSlice('\n')
		if len(line) > 0 {
			s.line(p, line)
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			var ne net.Error
			if !p.stopping.Load() && !(errors.As(err, &ne) && ne.Timeout()) {
				s.closed.Store(true)
			}
			return
		}
		if drain != nil && s.seen.Load() > 0 {
			// A stalled stream stops reading once it is subscribed, until
			// the client lets it drain.
			<-drain
			drain = nil
		}
	}
}

func (s *stream) line(p *phase, line []byte) {
	ts, err := wire.ParseTimestamp(line)
	if err != nil {
		return
	}
	s.seen.Add(1)
	start := p.start.Load()
	if start == 0 || ts < start {
		return
	}
	now := time.Now().UnixNano()
	n := s.count.Add(1)
	if p.recordLat && !s.stalled {
		s.lats = append(s.lats, now-ts)
	}
	if n == p.expected && !s.stalled {
		p.finishOne(now)
	}
}

// readHeaders reads the response head, requires status 200, and tells
// whether the body is chunked.
func readHeaders(br *bufio.Reader) (chunked bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return false, fmt.Errorf("status line: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200")) && !bytes.HasPrefix(line, []byte("HTTP/1.0 200")) {
		return false, fmt.Errorf("status %q", bytes.TrimSpace(line))
	}
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return false, fmt.Errorf("headers: %w", err)
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			return chunked, nil
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(k), []byte("Transfer-Encoding")) &&
			bytes.Contains(bytes.ToLower(v), []byte("chunked")) {
			chunked = true
		}
	}
}

// chunkReader decodes an HTTP/1.1 chunked body without allocating.
type chunkReader struct {
	r   *bufio.Reader
	n   int64 // bytes left in the current chunk
	err error
}

var errBadChunk = errors.New("bad chunk size line")

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.n == 0 {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			c.err = err
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			continue // the CRLF that ends the previous chunk's data
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := parseHex(line)
		if err != nil {
			c.err = err
			return 0, err
		}
		if size == 0 {
			c.err = io.EOF
			return 0, io.EOF
		}
		c.n = size
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	n, err := c.r.Read(p)
	c.n -= int64(n)
	if err != nil {
		c.err = err
	}
	return n, err
}

func parseHex(b []byte) (int64, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 15 {
		return 0, errBadChunk
	}
	var v int64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int64(c-'A'+10)
		default:
			return 0, errBadChunk
		}
	}
	return v, nil
}

// itoa is strconv.Itoa, kept short for building URLs.
func itoa(i int) string { return strconv.Itoa(i) }
