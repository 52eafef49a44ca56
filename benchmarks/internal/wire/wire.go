// Package wire holds what the benchmark servers, the load client and the
// runner exchange: the JSON bodies of the servers' control endpoints, the
// load client's report, and the payload format that every server publishes.
package wire

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"time"
)

// Endpoints every benchmark server serves.
const (
	// PathStream opens an event stream: GET /sse?user=<id>.
	PathStream = "/sse"
	// PathBurst publishes messages: POST /burst?count=N&size=B&rate=R.
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

// MinPayloadSize is the smallest payload AppendPayload can produce.
const MinPayloadSize = 24

// AppendPayload appends a payload of exactly size bytes to dst (at least
// MinPayloadSize): a JSON string that holds PayloadMarker, the send time in
// Unix nanoseconds, '~', and 'x' padding. It is plain ASCII without
// newlines, valid JSON, and the same for every library.
func AppendPayload(dst []byte, unixNano int64, size int) []byte {
	if size < MinPayloadSize {
		size = MinPayloadSize
	}
	start := len(dst)
	dst = append(dst, '"', PayloadMarker)
	dst = strconv.AppendInt(dst, unixNano, 10)
	dst = append(dst, '~')
	for len(dst)-start < size-1 {
		dst = append(dst, 'x')
	}
	return append(dst, '"')
}

// ErrNoTimestamp is returned by ParseTimestamp for a line without a payload.
var ErrNoTimestamp = errors.New("wire: no payload timestamp")

// ParseTimestamp finds the first payload timestamp in line and returns it.
// It does not allocate.
func ParseTimestamp(line []byte) (int64, error) {
	i := 0
	for i < len(line) && line[i] != PayloadMarker {
		i++
	}
	i++
	if i >= len(line) {
		return 0, ErrNoTimestamp
	}
	var v int64
	n := 0
	for ; i < len(line) && line[i] >= '0' && line[i] <= '9'; i++ {
		v = v*10 + int64(line[i]-'0')
		n++
	}
	if n == 0 {
		return 0, ErrNoTimestamp
	}
	return v, nil
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
