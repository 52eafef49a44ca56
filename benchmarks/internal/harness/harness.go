// Package harness is the part of every benchmark server that does not depend
// on the library under test: flags, the control endpoints (/burst, /stats,
// /gc, /ready), payload generation and shutdown. A server's main wraps its
// library in a Library and calls Main.
package harness

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// Library is one SSE library behind the benchmark's endpoints.
type Library interface {
	// ServeStream serves GET /sse for user until the stream ends. Every
	// stream joins the one broadcast target.
	ServeStream(w http.ResponseWriter, r *http.Request, user string)
	// Publish broadcasts payload, a complete JSON string, to every stream.
	// delivered is what the library reports as delivered, or -1.
	Publish(payload []byte) (delivered int, err error)
	// Dropped returns the frames the library dropped so far, or -1 when it
	// does not tell.
	Dropped() int64
	// Close stops the library.
	Close(ctx context.Context) error
}

// StreamCounter is a Library whose streams outlive ServeStream (ssekify's
// lean streams, which the hub takes over): /stats reports its count of open
// streams as Clients instead of the running ServeStream calls.
type StreamCounter interface {
	Streams() int64
}

// Config is what the servers' common flags set.
type Config struct {
	// Port is the loopback TCP port to listen on.
	Port int
	// QueueItems and QueueBytes bound each connection's queue for the
	// libraries that have a configurable one (0: the library's default).
	QueueItems int
	QueueBytes int
	// SndBuf, when positive, is the SO_SNDBUF of the listening socket,
	// which the accepted connections inherit (this also turns the kernel's
	// send buffer autotuning off for them).
	SndBuf int
}

// Main parses the common flags, builds the library with newLib, serves until
// SIGTERM or SIGINT, and exits.
func Main(name string, newLib func(Config) (Library, error)) {
	var cfg Config
	flag.IntVar(&cfg.Port, "port", 0, "TCP port on 127.0.0.1 (required)")
	flag.IntVar(&cfg.QueueItems, "queue-items", 0, "per-connection queue bound in frames, where the library has one (0: its default)")
	flag.IntVar(&cfg.QueueBytes, "queue-bytes", 0, "per-connection queue bound in bytes, where the library has one (0: its default)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole process life to this file")
	flag.IntVar(&cfg.SndBuf, "sndbuf", 0, "SO_SNDBUF of accepted connections in bytes (0: the system's, which autotunes)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix(name + "-server: ")
	if cfg.Port <= 0 {
		log.Fatal("-port is required")
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatalf("cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatalf("cpuprofile: %v", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		}()
	}
	lib, err := newLib(cfg)
	if err != nil {
		log.Fatalf("start: %v", err)
	}
	s := &server{name: name, lib: lib}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.PathStream, s.stream)
	mux.HandleFunc("POST "+wire.PathBurst, s.burst)
	mux.HandleFunc("GET "+wire.PathStats, s.stats)
	mux.HandleFunc("POST "+wire.PathGC, s.gc)
	mux.HandleFunc("GET "+wire.PathReady, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	var lc net.ListenConfig
	if cfg.SndBuf > 0 {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, cfg.SndBuf)
			})
			return errors.Join(err, serr)
		}
	}
	ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)))
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	// No WriteTimeout: streams live for the whole run, and how a library
	// treats a peer that stops reading is part of what is measured.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(discard{}, "", 0)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
	case err := <-errc:
		log.Fatalf("serve: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = lib.Close(ctx)
	_ = srv.Close()
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

type server struct {
	name    string
	lib     Library
	clients atomic.Int64
	burstMu sync.Mutex
}

func (s *server) stream(w http.ResponseWriter, r *http.Request) {
	user := r.URL.Query().Get("user")
	if user == "" {
		http.Error(w, "user is required", http.StatusBadRequest)
		return
	}
	s.clients.Add(1)
	defer s.clients.Add(-1)
	s.lib.ServeStream(w, r, user)
}

func (s *server) burst(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	count, err1 := strconv.Atoi(q.Get("count"))
	size, err2 := strconv.Atoi(q.Get("size"))
	rate, err3 := strconv.Atoi(q.Get("rate"))
	var seq int64
	var err4 error
	if v := q.Get("seq"); v != "" {
		seq, err4 = strconv.ParseInt(v, 10, 64)
	}
	if err := errors.Join(err1, err2, err3, err4); err != nil || count <= 0 || size <= 0 || rate < 0 || seq < 0 {
		http.Error(w, fmt.Sprintf("bad count/size/rate/seq: %v", err), http.StatusBadRequest)
		return
	}
	s.burstMu.Lock()
	res := s.publish(count, size, rate, seq)
	s.burstMu.Unlock()
	writeJSON(w, res)
}

// publish makes count publish calls of size-byte payloads, paced at rate
// per second (0: back to back). The payloads carry the sequence numbers
// seq, seq+1, … (every one 0 when seq is 0: warm-up messages). Each payload
// is its own allocation, made before the clock of its call starts, since
// libraries may keep it.
func (s *server) publish(count, size, rate int, seq int64) wire.BurstResult {
	res := wire.BurstResult{Count: count, Delivered: 0}
	var interval time.Duration
	if rate > 0 {
		interval = time.Second / time.Duration(rate)
	}
	start := time.Now()
	res.StartUnixNano = start.UnixNano()
	for i := range count {
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
		}
		t0 := time.Now()
		n := int64(0)
		if seq > 0 {
			n = seq + int64(i)
		}
		payload := wire.AppendPayload(make([]byte, 0, size), t0.UnixNano(), n, size)
		delivered, err := s.lib.Publish(payload)
		d := time.Since(t0).Nanoseconds()
		res.TotalPublishNs += d
		res.MaxPublishNs = max(res.MaxPublishNs, d)
		if delivered < 0 || res.Delivered < 0 {
			res.Delivered = -1
		} else {
			res.Delivered += int64(delivered)
		}
		if err != nil {
			if res.Errors == 0 {
				res.FirstError = err.Error()
			}
			res.Errors++
		}
	}
	res.EndUnixNano = time.Now().UnixNano()
	return res
}

func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	clients := s.clients.Load()
	if sc, ok := s.lib.(StreamCounter); ok {
		clients = sc.Streams()
	}
	st := wire.Stats{
		Lib:        s.name,
		Clients:    clients,
		Goroutines: runtime.NumGoroutine(),
		Dropped:    s.lib.Dropped(),
	}
	if r.URL.Query().Get("lite") == "" {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		st.HeapInuse, st.StackInuse, st.Sys = ms.HeapInuse, ms.StackInuse, ms.Sys
		st.TotalAlloc, st.Mallocs = ms.TotalAlloc, ms.Mallocs
	}
	writeJSON(w, st)
}

func (s *server) gc(w http.ResponseWriter, _ *http.Request) {
	runtime.GC()
	debug.FreeOSMemory()
	_, _ = w.Write([]byte("ok\n"))
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
