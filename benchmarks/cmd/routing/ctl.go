package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/ssekify/ssekify"
)

// The control endpoints of the children, on their own listener.
const (
	pathStats   = "/stats"   // instance: GET, an instanceStats
	pathPublish = "/publish" // instance: POST a publishReq, a publishResult
	pathOpen    = "/open"    // clients: POST an openReq, starts the streams
	pathStatus  = "/status"  // clients: GET, a clientsStatus
	pathReport  = "/report"  // clients: GET, a clientsReport
	pathClose   = "/close"   // clients: POST, ends every stream
)

// instanceStats is an instance's answer to GET /stats.
type instanceStats struct {
	Hub ssekify.Stats `json:"hub"`
	// Bytes read from and written to Redis on every connection the
	// go-redis client dialed, and on its subscription connections only
	// (those that sent a SUBSCRIBE-family command).
	RedisRead    int64 `json:"redisRead"`
	RedisWritten int64 `json:"redisWritten"`
	SubRead      int64 `json:"subRead"`
	SubWritten   int64 `json:"subWritten"`
	RedisConns   int   `json:"redisConns"` // connections dialed
	SubConns     int   `json:"subConns"`   // of which subscriptions
	// CPUNs is the process's user plus system CPU time (getrusage).
	CPUNs      int64 `json:"cpuNs"`
	Goroutines int   `json:"goroutines"`
	// AtNs is when the answer was made, Unix ns.
	AtNs int64 `json:"atNs"`
}

// publishReq asks an instance to publish one event to each of Users, in
// this order, paced at Rate per second (0: back to back) by Publishers
// goroutines. The payloads are wire's format, Size bytes, numbered
// FirstSeq, FirstSeq+1, …; FirstSeq 0 numbers them all 0 (warm-up).
type publishReq struct {
	Users      []string `json:"users"`
	FirstSeq   int64    `json:"firstSeq"`
	Size       int      `json:"size"`
	Rate       int      `json:"rate"`
	Publishers int      `json:"publishers"`
}

// publishResult is the answer of POST /publish.
type publishResult struct {
	Published  int64  `json:"published"`
	Errors     int64  `json:"errors"`
	FirstError string `json:"firstError,omitempty"`
	StartNs    int64  `json:"startNs"` // just before the first call
	EndNs      int64  `json:"endNs"`   // just after the last call
}

// openReq asks the clients process to open one stream per user: user
// Users[i] on instance Instance[i], whose streams are served at
// Addrs[Instance[i]] (host:port), at Rate streams per second (0: as fast
// as it can start them).
type openReq struct {
	Addrs    []string `json:"addrs"`
	Users    []string `json:"users"`
	Instance []int    `json:"instance"`
	Rate     int      `json:"rate"`
}

// clientsStatus is the answer of GET /status: counts over every stream.
type clientsStatus struct {
	Streams  int    `json:"streams"`  // asked for
	Opened   int64  `json:"opened"`   // answered 200
	Failed   int64  `json:"failed"`   // could not open
	Ended    int64  `json:"ended"`    // opened, then ended by the server
	FirstErr string `json:"firstErr"` // of a failed or ended stream
	Warm     int64  `json:"warm"`     // warm-up events (sequence 0)
	Events   int64  `json:"events"`   // events numbered from 1
	Gaps     int64  `json:"gaps"`     // gap events
	Other    int64  `json:"other"`    // events without a payload
	// FirstDialNs is when the first stream was dialed, LastOpenNs when the
	// last one got its response headers (Unix ns).
	FirstDialNs int64 `json:"firstDialNs"`
	LastDialNs  int64 `json:"lastDialNs"`
	LastOpenNs  int64 `json:"lastOpenNs"`
}

// clientsReport is the answer of GET /report: what each stream got.
type clientsReport struct {
	// Seqs are the sequence numbers (≥ 1) each user's stream received, in
	// order; users without any are left out.
	Seqs map[string][]int64 `json:"seqs"`
	// OpenNs is, per opened stream, the time from its dial to its
	// response headers.
	OpenNs []int64 `json:"openNs"`
}

// announce prints the ready line the coordinator waits for: the streams'
// base URL ("-" for none) and the control endpoint's.
func announce(streams, ctl string) {
	fmt.Printf("ready %s %s\n", streams, ctl)
}

// waitStdinEOF blocks until the standard input ends (the coordinator
// closed it, or died), or at most life.
func waitStdinEOF(life time.Duration) {
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		close(eof)
	}()
	t := time.NewTimer(life)
	defer t.Stop()
	select {
	case <-eof:
	case <-t.C:
		log.Printf("still running after -life %v: exiting", life)
	}
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("answer: %v", err)
	}
}

// readJSON decodes the request's body (at most 64 MiB) into v, or
// answers 400 and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(v); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

// ctlCall makes one control request to base+path within d: a GET when in
// is nil, else a POST of in as JSON; the answer is decoded into out
// unless out is nil.
func ctlCall(ctx context.Context, hc *http.Client, base, path string, in, out any, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	method, body := http.MethodGet, io.Reader(nil)
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		method, body = http.MethodPost, bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
