package main

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/loopback"
	"github.com/ssekify/ssekify/benchmarks/internal/pacer"
)

// clients is the -role clients process: every stream of a scenario, each
// read by its own goroutine.
type clients struct {
	ctx    context.Context // ends every stream
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	streams []*stream // set once by POST /open

	opened, failed, ended atomic.Int64
	warm, events, gaps    atomic.Int64
	other                 atomic.Int64
	firstDial, lastDial   atomic.Int64
	lastOpen              atomic.Int64
	firstErr              atomic.Pointer[string]
}

// runClients serves the control endpoint and announces it; it ends every
// stream when its standard input ends.
func runClients(life time.Duration) error {
	cl := &clients{}
	cl.ctx, cl.cancel = context.WithCancel(context.Background())
	ctl := http.NewServeMux()
	ctl.HandleFunc("POST "+pathOpen, cl.handleOpen)
	ctl.HandleFunc("GET "+pathStatus, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, cl.status()) })
	ctl.HandleFunc("GET "+pathReport, func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, cl.report()) })
	ctl.HandleFunc("POST "+pathClose, func(w http.ResponseWriter, _ *http.Request) {
		cl.closeAll()
		writeJSON(w, cl.status())
	})
	srv, ctlURL, err := loopback.Serve(ctl)
	if err != nil {
		return err
	}
	defer srv.Close()
	announce("-", ctlURL)
	waitStdinEOF(life)
	cl.closeAll()
	return nil
}

// handleOpen checks an openReq, answers at once and opens the streams in
// the background.
func (cl *clients) handleOpen(w http.ResponseWriter, r *http.Request) {
	var req openReq
	if !readJSON(w, r, &req) {
		return
	}
	if err := cl.prepare(req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	go cl.openAll(req.Rate)
	writeJSON(w, cl.status())
}

// prepare builds the streams of req; it refuses a second request, one of
// more than maxStreams streams and one that names an unknown instance.
func (cl *clients) prepare(req openReq) error {
	if len(req.Users) == 0 || len(req.Users) > maxStreams || len(req.Instance) != len(req.Users) || req.Rate < 0 {
		return errors.New("bad open request")
	}
	ss := make([]*stream, len(req.Users))
	for i, u := range req.Users {
		k := req.Instance[i]
		if k < 0 || k >= len(req.Addrs) {
			return errors.New("open request: unknown instance")
		}
		ss[i] = &stream{user: u, addr: req.Addrs[k]}
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.streams != nil {
		return errors.New("streams opened already")
	}
	cl.streams = ss
	return nil
}

// openAll starts the streams' goroutines at rate per second (0: as fast
// as it can), for at most a minute.
func (cl *clients) openAll(rate int) {
	cl.mu.Lock()
	ss := cl.streams
	cl.mu.Unlock()
	jobs := make(chan pacer.Job, 1024)
	if rate > 0 {
		go pacer.Release(cl.ctx, jobs, len(ss), rate, time.Now().Add(time.Minute))
	} else {
		go releaseAll(cl.ctx, jobs, len(ss))
	}
	for j := range jobs {
		s := ss[j.Seq-1]
		cl.wg.Add(1)
		go func() {
			defer cl.wg.Done()
			s.run(cl.ctx, cl)
		}()
	}
}

// closeAll ends every stream and waits (at most 10 s) for their
// goroutines.
func (cl *clients) closeAll() {
	cl.cancel()
	done := make(chan struct{})
	go func() { cl.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

// fail records the error of a stream that could not open, or ended.
func (cl *clients) fail(err error) {
	s := err.Error()
	cl.firstErr.CompareAndSwap(nil, &s)
}

// status counts over every stream.
func (cl *clients) status() clientsStatus {
	cl.mu.Lock()
	n := len(cl.streams)
	cl.mu.Unlock()
	st := clientsStatus{
		Streams: n, Opened: cl.opened.Load(), Failed: cl.failed.Load(), Ended: cl.ended.Load(),
		Warm: cl.warm.Load(), Events: cl.events.Load(), Gaps: cl.gaps.Load(), Other: cl.other.Load(),
		FirstDialNs: cl.firstDial.Load(), LastDialNs: cl.lastDial.Load(), LastOpenNs: cl.lastOpen.Load(),
	}
	if p := cl.firstErr.Load(); p != nil {
		st.FirstErr = *p
	}
	return st
}

// report is what every stream got so far.
func (cl *clients) report() clientsReport {
	cl.mu.Lock()
	ss := cl.streams
	cl.mu.Unlock()
	rep := clientsReport{Seqs: make(map[string][]int64)}
	for _, s := range ss {
		seqs, openNs := s.result()
		if len(seqs) > 0 {
			rep.Seqs[s.user] = seqs
		}
		if openNs > 0 {
			rep.OpenNs = append(rep.OpenNs, openNs)
		}
	}
	return rep
}

// storeMax raises a to v.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
