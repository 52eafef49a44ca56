package ssekify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ssekify/ssekify"
)

// discard is a streaming ResponseWriter that drops what it is given, so a
// benchmark measures the hub rather than the network.
type discard struct{ hdr http.Header }

func (d *discard) Header() http.Header         { return d.hdr }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

// BenchmarkBroadcast sends 256-byte events to n in-process subscribers.
// Allocations per broadcast must not grow with n: the frame is encoded once
// and queues hold references.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			h, err := ssekify.New(&ssekify.Options{KeepAlive: -1, MaxQueueItems: 1 << 16, MaxQueueBytes: 1 << 30})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := httptest.NewRequest("GET", "/sse", nil).WithContext(ctx)
					_ = h.Register(&discard{hdr: http.Header{}}, r, "u"+strconv.Itoa(i), nil)
				}()
			}
			for h.Stats().Connections < int64(n) {
				time.Sleep(time.Millisecond)
			}
			payload := json.RawMessage(`"` + strings.Repeat("x", 254) + `"`)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := h.SendToAll(ssekify.Event{Data: payload}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
			cancel()
			wg.Wait()
		})
	}
}

// BenchmarkIdleConnections holds 5,000 idle streams over loopback and
// reports what each costs the process: heap and stack bytes and goroutines
// (the client side is raw sockets: it adds file descriptors, no goroutine).
func BenchmarkIdleConnections(b *testing.B) {
	const n = 5000
	raiseFileLimit(b, 4*n)
	h, err := ssekify.New(&ssekify.Options{KeepAlive: -1})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(sseHandler(h, nil))
	defer func() { h.CloseAll(); srv.Close() }()
	for b.Loop() {
		heap0, stack0, g0 := footprint()
		conns := make([]net.Conn, 0, n)
		for i := range n {
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			fmt.Fprintf(c, "GET /sse?user=u%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
			conns = append(conns, c)
		}
		for h.Stats().Connections < n {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		heap1, stack1, g1 := footprint()
		b.ReportMetric(float64(heap1-heap0)/n, "heap-B/conn")
		b.ReportMetric(float64(stack1-stack0)/n, "stack-B/conn")
		b.ReportMetric(float64(g1-g0)/n, "goroutines/conn")
		for _, c := range conns {
			c.Close()
		}
		for h.Stats().Connections > 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// footprint returns heap and stack bytes in use and the goroutine count,
// after a collection.
func footprint() (heap, stack uint64, goroutines int) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.StackInuse, runtime.NumGoroutine()
}

func raiseFileLimit(b *testing.B, want uint64) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatal(err)
	}
	if l.Cur < want {
		l.Cur = min(want, l.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil || l.Cur < want {
			b.Fatalf("need %d file descriptors: %v", want, err)
		}
	}
}
