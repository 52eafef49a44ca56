// Package wire holds what the benchmark servers, the load client and the
// runner exchange: the JSON bodies of the servers' control endpoints, the
// load client's report, and the payload format that every server publishes.
package wire

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Endpoints every benchmark server serves.
const (
	// PathStream opens an event stream: GET /sse?user=<id>.
	PathStream = "/sse"
	// PathBurst publishes messages: POST /burst?count=N&size=B&rate=R&seq=S
	// (sequence numbers S, S+1, … in the payloads; 0 or none: warm-up, all 0).
	PathBurst = "/burst"
	// PathStats answers a Stats document; ?lite=1 skips runtime.ReadMemStats.
	PathStats = "/stats"
	// PathGC runs a garbage collection and returns freed memory to the OS.
	PathGC = "/gc"
	// PathReady answers 200 once the server accepts streams.
	PathReady = "/ready"
)

// ConnectParam is the query the load client appends to every stream request.
// The centrifuge server reads its protocol's connect command from it; the
// other servers ignore it, so every library sees the same request line.
const ConnectParam = `cf_connect=%7B%22id%22%3A1%2C%22connect%22%3A%7B%7D%7D`

// BurstResult is the answer of POST /burst.
type BurstResult struct {
	// Count is the number of publish calls made.
	Count int `json:"count"`
	// Errors counts publish calls that returned an error.
	Errors int `json:"errors"`
	// FirstError is the text of the first publish error, if any.
	FirstError string `json:"firstError,omitempty"`
	// Delivered is the sum of what the library's publish call reported as
	// delivered, where it reports it (-1 otherwise).
	Delivered int64 `json:"delivered"`
	// StartUnixNano is the wall clock just before the first publish call.
	StartUnixNano int64 `json:"startUnixNano"`
	// EndUnixNano is the wall clock just after the last publish call.
	EndUnixNano int64 `json:"endUnixNano"`
	// TotalPublishNs is the time spent inside publish calls, summed.
	TotalPublishNs int64 `json:"totalPublishNs"`
	// MaxPublishNs is the longest single publish call.
	MaxPublishNs int64 `json:"maxPublishNs"`
}

// Stats is the answer of GET /stats.
type Stats struct {
	// Lib names the library the server runs.
	Lib string `json:"lib"`
	// Clients is the number of stream handlers currently running.
	Clients int64 `json:"clients"`
	// Goroutines is runtime.NumGoroutine.
	Goroutines int `json:"goroutines"`
	// HeapInuse, StackInuse, Sys, TotalAlloc and Mallocs come from
	// runtime.MemStats; they are zero when ?lite=1 was asked.
	HeapInuse  uint64 `json:"heapInuse"`
	StackInuse uint64 `json:"stackInuse"`
	Sys        uint64 `json:"sys"`
	TotalAlloc uint64 `json:"totalAlloc"`
	Mallocs    uint64 `json:"mallocs"`
	// Dropped counts frames the library reported as dropped, where it
	// reports it (-1 otherwise).
	Dropped int64 `json:"dropped"`
}

// PayloadMarker starts the timestamp inside every payload. No other byte of
// any library's framing of the benchmark's events is this one, so a reader
// finds a message's timestamp by looking for it alone.
const PayloadMarker = '@'

// SeqMarker separates the timestamp from the sequence number in a payload.
const SeqMarker = '#'

// MinPayloadSize is the smallest payload AppendPayload can produce: the
// quotes, the markers, a 19-digit timestamp, a 10-digit sequence and '~'.
const MinPayloadSize = 34

// padding is what AppendPayload pads with, copied in one piece.
var padding = strings.Repeat("x", 4096)

// AppendPayload appends a payload of exactly size bytes to dst (at least
// MinPayloadSize): a JSON string that holds PayloadMarker, the send time in
// Unix nanoseconds, SeqMarker, the sequence number seq, '~', and 'x'
// padding. It is plain ASCII without newlines, valid JSON, and the same
// bytes for every library. Sequence 0 marks a warm-up message; the messages
// of a measured burst are numbered from 1.
func AppendPayload(dst []byte, unixNano, seq int64, size int) []byte {
	if size < MinPayloadSize {
		size = MinPayloadSize
	}
	start := len(dst)
	dst = slices.Grow(dst, size) // one allocation at most
	dst = append(dst, '"', PayloadMarker)
	dst = strconv.AppendInt(dst, unixNano, 10)
	dst = append(dst, SeqMarker)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, '~')
	if pad := size - 1 - (len(dst) - start); pad > 0 {
		dst = append(dst, padding[:min(pad, len(padding))]...)
		for len(dst)-start < size-1 {
			dst = append(dst, 'x')
		}
	}
	return append(dst, '"')
}

// ErrNoTimestamp is returned by ParseTimestamp for a line without a payload.
var ErrNoTimestamp = errors.New("wire: no payload timestamp")

// ParseTimestamp finds the first payload timestamp in line and returns it.
// It does not allocate.
func ParseTimestamp(line []byte) (int64, error) {
	ts, _, err := ParsePayload(line)
	return ts, err
}

// ParsePayload finds the first payload in line and returns its timestamp and
// sequence number (-1 when the payload has none). It does not allocate.
func ParsePayload(line []byte) (unixNano, seq int64, err error) {
	i := 0
	for i < len(line) && line[i] != PayloadMarker {
		i++
	}
	i++
	if i >= len(line) {
		return 0, 0, ErrNoTimestamp
	}
	v, n := int64(0), 0
	for ; i < len(line) && line[i] >= '0' && line[i] <= '9'; i++ {
		v = v*10 + int64(line[i]-'0')
		n++
	}
	if n == 0 {
		return 0, 0, ErrNoTimestamp
	}
	if i >= len(line) || line[i] != SeqMarker {
		return v, -1, nil
	}
	i++
	q, m := int64(0), 0
	for ; i < len(line) && line[i] >= '0' && line[i] <= '9' && m < 18; i++ {
		q = q*10 + int64(line[i]-'0')
		m++
	}
	if m == 0 {
		return v, -1, nil
	}
	return v, q, nil
}

// Check is the load client's exact account of what a set of streams got of
// a measured burst, from the payloads' sequence numbers and, for ssekify,
// its position ids and gap events. Every stream should get each of Count
// messages exactly once, in order.
type Check struct {
	// Streams is the number of streams accounted; Expected is Streams ×
	// the messages published.
	Streams  int   `json:"streams"`
	Expected int64 `json:"expected"`
	// Received counts the distinct messages received.
	Received int64 `json:"received"`
	// Lost counts the messages neither received nor covered by a gap event
	// (for a library without gap events, every one not received).
	Lost int64 `json:"lost"`
	// GapCovered counts the messages not received that gap events announced
	// at their place; GapEvents counts those events, GapInexact those of
	// them that announced a lower bound ("exact": false), each of which
	// covers the whole hole at its place.
	GapCovered int64 `json:"gapCovered"`
	GapEvents  int64 `json:"gapEvents"`
	GapInexact int64 `json:"gapInexact,omitempty"`
	// OverAnnounced counts messages gap events announced as missed beyond
	// what was missing where they came.
	OverAnnounced int64 `json:"overAnnounced,omitempty"`
	// Duplicates counts messages received again; Reordered those received
	// after a message published later.
	Duplicates int64 `json:"duplicates"`
	Reordered  int64 `json:"reordered"`
	// BadIDs counts position ids (v1.<epoch>.<pos>) that did not increase
	// along the stream, changed epoch, or gap events whose first..last
	// range was not between the positions around them.
	BadIDs int64 `json:"badIds,omitempty"`
	// Complete counts the streams that received every message; Closed those
	// the server ended.
	Complete int `json:"complete"`
	Closed   int `json:"closed"`
}

// Add adds o into c.
func (c *Check) Add(o Check) {
	c.Streams += o.Streams
	c.Expected += o.Expected
	c.Received += o.Received
	c.Lost += o.Lost
	c.GapCovered += o.GapCovered
	c.GapEvents += o.GapEvents
	c.GapInexact += o.GapInexact
	c.OverAnnounced += o.OverAnnounced
	c.Duplicates += o.Duplicates
	c.Reordered += o.Reordered
	c.BadIDs += o.BadIDs
	c.Complete += o.Complete
	c.Closed += o.Closed
}

// Exact reports whether every stream got every message once and in order,
// with nothing lost, covered by a gap event, or out of place.
func (c *Check) Exact() bool {
	return c.Received == c.Expected && c.Lost == 0 && c.GapCovered == 0 && c.GapEvents == 0 &&
		c.Duplicates == 0 && c.Reordered == 0 && c.BadIDs == 0 && c.OverAnnounced == 0
}

// Report is what the load client prints as JSON on its standard output.
type Report struct {
	// Scenario is the scenario the client ran.
	Scenario string `json:"scenario"`
	// OK is false when the run did not complete; Error then says why.
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Timeout is set when the run hit its time limit, or Stuck.
	Timeout bool `json:"timeout,omitempty"`
	// Stuck is set when deliveries stopped before every reading stream had
	// every message.
	Stuck bool `json:"stuck,omitempty"`
	// Conns is the number of streams opened; Stalled of them never read.
	Conns   int `json:"conns"`
	Stalled int `json:"stalled"`
	// Count and Size describe the published messages; Rate is msgs/s (0: as
	// fast as possible).
	Count int `json:"count"`
	Size  int `json:"size"`
	Rate  int `json:"rate"`

	// Deliveries is the number of messages received by reading clients
	// during the measured phase; Expected is what they should have received.
	Deliveries int64 `json:"deliveries"`
	Expected   int64 `json:"expected"`
	// Complete is the number of reading clients that got every message.
	Complete int `json:"complete"`
	// Closed is the number of reading clients whose stream the server ended.
	Closed int `json:"closed"`
	// DurationNs runs from the first publish call to the last delivery (or
	// to the time limit).
	DurationNs int64 `json:"durationNs"`
	// DeliveriesPerSec is Deliveries over DurationNs.
	DeliveriesPerSec float64 `json:"deliveriesPerSec"`
	// Publish is the server's answer to the measured burst.
	Publish *BurstResult `json:"publish,omitempty"`
	// PublishTimedOut is set when the burst request did not return in time:
	// the library's publish call blocked.
	PublishTimedOut bool `json:"publishTimedOut,omitempty"`

	// ServerCPUNs is the server's utime+stime over the measured phase.
	ServerCPUNs int64 `json:"serverCpuNs"`
	// ServerMallocs is the server's Δ runtime.MemStats.Mallocs over it.
	ServerMallocs uint64 `json:"serverMallocs"`
	// ClientCPUNs is this load client's own CPU time over it.
	ClientCPUNs int64 `json:"clientCpuNs"`

	// Latency percentiles of publish-to-receive, in nanoseconds.
	LatP50Ns int64 `json:"latP50Ns,omitempty"`
	LatP99Ns int64 `json:"latP99Ns,omitempty"`
	LatMaxNs int64 `json:"latMaxNs,omitempty"`

	// Before and After are the server's stats around the measured phase.
	Before *Stats `json:"before,omitempty"`
	After  *Stats `json:"after,omitempty"`
	// RSSBefore and RSSAfter are the server's VmRSS in bytes; RSSPeak is its
	// VmHWM (the process is fresh for every run, so this is the run's peak).
	RSSBefore int64 `json:"rssBefore,omitempty"`
	RSSAfter  int64 `json:"rssAfter,omitempty"`
	RSSPeak   int64 `json:"rssPeak,omitempty"`

	// StalledReceived is what the stalled clients got once they finally read
	// (for a few seconds after the measured phase); StalledClosed is how many
	// of their streams the server had ended by then.
	StalledReceived int64 `json:"stalledReceived,omitempty"`
	StalledClosed   int   `json:"stalledClosed,omitempty"`
	// Dropped is the server's own count of dropped frames, where it has one.
	Dropped int64 `json:"dropped"`

	// Healthy is the delivery check of the reading streams, Stalled's of
	// the stalled ones after they read again (burst scenario).
	Healthy      *Check `json:"healthy,omitempty"`
	StalledCheck *Check `json:"stalledCheck,omitempty"`
	// StallNs is how long the stalled streams stopped reading, from the
	// first publish call (0: until the measured phase ended).
	StallNs int64 `json:"stallNs,omitempty"`
	// RSSStall is the server's VmRSS just before the stalled streams read
	// again; RSSDrained once they had read (everything, or for -drain).
	RSSStall   int64 `json:"rssStall,omitempty"`
	RSSDrained int64 `json:"rssDrained,omitempty"`
	// DrainNs is how long the stalled streams took, from reading again, to
	// get every message (or the time they were given).
	DrainNs int64 `json:"drainNs,omitempty"`
}

// ClockTicks is USER_HZ, the unit of the CPU times in /proc; it is 100 on
// every Linux this runs on.
const ClockTicks = 100

// ProcessCPU returns the user plus system CPU time a process has used, from
// /proc/<pid>/stat; 0 when it can not be read.
func ProcessCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return 0
	}
	// After "pid (comm)": state is field 3, utime 14 and stime 15.
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / ClockTicks
}
