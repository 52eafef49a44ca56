package main

import (
	"bufio"
	"bytes"
	"encoding/json"
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
	// expected is how many messages a stream should get: the measured
	// burst's messages carry the sequence numbers 1..expected, warm-up
	// messages 0.
	expected int64
	// gapEvent is the name of ssekify's gap event ("" for none).
	gapEvent []byte
	// remaining counts the reading streams that are not finished yet.
	remaining atomic.Int64
	allDone   chan struct{}
	closeOnce sync.Once
	// last is the Unix-nano time of the latest finishing delivery.
	last atomic.Int64
	// stopping is set before the client closes its own connections, so
	// readers do not take that for the server ending the stream.
	stopping atomic.Bool
	// recordLat makes readers keep each message's latency.
	recordLat bool
}

func (p *phase) finishOne(now int64) {
	for now > 0 {
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

	seen     atomic.Int64 // messages of any phase
	count    atomic.Int64 // distinct messages of the measured burst
	closed   atomic.Bool  // the server ended the stream
	finished atomic.Bool  // got the last message, or all, or was ended
	headErr  atomic.Pointer[string]

	// Owned by the reader until it returns.
	lats []int64
	ev   event
	acct account
}

// event is the SSE event being parsed: its fields so far.
type event struct {
	hasID, idToken bool
	epoch, pos     uint64
	isGap          bool
	hasData        bool
	hasPayload     bool
	ts, seq        int64
	// data holds a data line that is not a payload (a gap event's JSON),
	// clipped to its capacity.
	data []byte
}

// account is a stream's exact account of the measured burst.
type account struct {
	got []uint64 // bit s: message s received
	// maxSeq is the highest sequence received; pendingGap the messages gap
	// events announced since the previous message, and pendingInexact
	// whether one of them announced a lower bound ("exact": false), which
	// then covers the whole hole at its place.
	maxSeq, pendingGap int64
	pendingInexact     bool
	// covered counts the missing messages gap events announced at their
	// place; over what they announced beyond it.
	covered, over int64
	gapEvents     int64
	inexact       int64
	dup, reord    int64
	badIDs        int64
	// Positions: the epoch of the stream's tokens, the last position
	// given (the start line or an event), and the end of the last gap's
	// range (0: none since the last event).
	epoch, lastPos, gapLast uint64
	epochSet                bool
}

func (a *account) has(seq int64) bool { return a.got[seq>>6]&(1<<(seq&63)) != 0 }
func (a *account) set(seq int64)      { a.got[seq>>6] |= 1 << (seq & 63) }

// position checks a position token against the stream's last one.
func (a *account) position(epoch, pos uint64) {
	if !a.epochSet {
		a.epoch, a.epochSet = epoch, true
	} else if epoch != a.epoch {
		a.badIDs++
	}
	if a.lastPos != 0 && pos <= a.lastPos || a.gapLast != 0 && pos <= a.gapLast {
		a.badIDs++
	}
	a.lastPos, a.gapLast = pos, 0
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
	s.acct.got = make([]uint64, p.expected/64+1)
	s.ev.data = make([]byte, 0, 512)
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
				if !s.stalled && !s.finished.Swap(true) {
					p.finishOne(0) // it will get nothing more
				}
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

// line parses one line of the event stream; a blank line dispatches the
// event. The fields are those of the WHATWG format; a line longer than the
// reader's buffer comes in pieces, of which only the first is parsed.
func (s *stream) line(p *phase, line []byte) {
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) == 0 {
		s.dispatch(p)
		return
	}
	if line[0] == ':' {
		return // a comment: a heartbeat
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		value = bytes.TrimPrefix(value, []byte(" "))
	}
	ev := &s.ev
	switch string(name) {
	case "data":
		ev.hasData = true
		if ts, seq, err := wire.ParsePayload(value); err == nil {
			if !ev.hasPayload {
				ev.hasPayload, ev.ts, ev.seq = true, ts, seq
			}
		} else if len(ev.data) == 0 {
			ev.data = append(ev.data[:0], value[:min(len(value), cap(ev.data))]...)
		}
	case "id":
		ev.hasID = true
		ev.epoch, ev.pos, ev.idToken = parseToken(value)
	case "event":
		ev.isGap = len(p.gapEvent) > 0 && bytes.Equal(value, p.gapEvent)
	}
}

// dispatch ends the event being parsed.
func (s *stream) dispatch(p *phase) {
	ev := &s.ev
	switch {
	case ev.isGap && ev.hasData:
		s.gap(p, ev.data)
	case ev.hasPayload:
		s.message(p, ev)
	case ev.hasID && !ev.hasData && ev.idToken:
		// A stream's start line: an id without data names its position.
		s.acct.position(ev.epoch, ev.pos)
	}
	data := ev.data[:0]
	*ev = event{data: data}
}

// message accounts one received payload.
func (s *stream) message(p *phase, ev *event) {
	s.seen.Add(1)
	a := &s.acct
	if ev.idToken {
		a.position(ev.epoch, ev.pos)
	}
	seq := ev.seq
	if seq <= 0 || seq > p.expected {
		return // a warm-up message (or none of this run's)
	}
	if a.has(seq) {
		a.dup++
		return
	}
	a.set(seq)
	if seq < a.maxSeq {
		a.reord++
	} else {
		a.settleGap(seq - a.maxSeq - 1)
		a.maxSeq = seq
	}
	now := time.Now().UnixNano()
	n := s.count.Add(1)
	if p.recordLat && !s.stalled {
		s.lats = append(s.lats, now-ev.ts)
	}
	if seq == p.expected || n+a.covered+a.pendingGap >= p.expected {
		s.finish(p, now)
	}
}

// settleGap matches the gap events since the previous message with the hole
// of missing messages before this one.
func (a *account) settleGap(hole int64) {
	switch {
	case a.pendingInexact:
		a.covered += hole
	default:
		a.covered += min(a.pendingGap, hole)
		a.over += max(0, a.pendingGap-hole)
	}
	a.pendingGap, a.pendingInexact = 0, false
}

func (s *stream) finish(p *phase, now int64) {
	if !s.finished.Swap(true) && !s.stalled {
		p.finishOne(now)
	}
}

// gapData is ssekify's gap event.
type gapData struct {
	Reason string `json:"reason"`
	Missed int64  `json:"missed"`
	Exact  bool   `json:"exact"`
	First  string `json:"first"`
	Last   string `json:"last"`
}

// gap accounts one gap event: its missed messages cover the hole before the
// next message (or at the end of the stream).
func (s *stream) gap(p *phase, data []byte) {
	a := &s.acct
	var g gapData
	if err := json.Unmarshal(data, &g); err != nil || g.Missed < 0 {
		a.badIDs++
		return
	}
	a.gapEvents++
	a.pendingGap += g.Missed
	if !g.Exact {
		a.inexact++
		a.pendingInexact = true
	}
	if g.First != "" || g.Last != "" {
		e1, first, ok1 := parseToken([]byte(g.First))
		e2, last, ok2 := parseToken([]byte(g.Last))
		if !ok1 || !ok2 || e1 != e2 || (a.epochSet && e1 != a.epoch) || first > last || first <= a.lastPos {
			a.badIDs++
		} else {
			a.gapLast = last
		}
	}
	if n := s.count.Load(); n+a.covered+a.pendingGap >= p.expected {
		s.finish(p, time.Now().UnixNano())
	}
}

// check returns the stream's account; call it once its reader returned.
func (s *stream) check(expected int64) wire.Check {
	a := s.acct
	if a.got != nil {
		a.settleGap(expected - a.maxSeq) // the hole at the end
	}
	c := wire.Check{
		Streams: 1, Expected: expected, Received: s.count.Load(),
		GapCovered: a.covered, GapEvents: a.gapEvents, GapInexact: a.inexact, OverAnnounced: a.over,
		Duplicates: a.dup, Reordered: a.reord, BadIDs: a.badIDs,
	}
	c.GapCovered = min(c.GapCovered, expected-c.Received)
	c.Lost = max(0, expected-c.Received-c.GapCovered)
	if c.Received == expected {
		c.Complete = 1
	}
	if s.closed.Load() {
		c.Closed = 1
	}
	return c
}

// parseToken parses a position token "v1.<epoch>.<pos>" (base 36).
func parseToken(b []byte) (epoch, pos uint64, ok bool) {
	rest, found := bytes.CutPrefix(b, []byte("v1."))
	if !found {
		return 0, 0, false
	}
	e, p, found := bytes.Cut(rest, []byte("."))
	if !found {
		return 0, 0, false
	}
	epoch, ok1 := base36(e)
	pos, ok2 := base36(p)
	return epoch, pos, ok1 && ok2
}

func base36(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 13 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v*36 + uint64(c-'0')
		case c >= 'a' && c <= 'z':
			v = v*36 + uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
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
