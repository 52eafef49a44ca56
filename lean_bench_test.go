package ssekify_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ssekify/ssekify"
)

// BenchmarkSendToIdleWriters measures what a broadcast costs its caller
// when every stream's writer has gone idle since the last one (events a few
// milliseconds apart, as in a slow-consumer or notification load): 1,000
// streams over loopback whose clients read and discard, on the handler
// path and lean. It reports the caller's µs per SendToAll.
func BenchmarkSendToIdleWriters(b *testing.B) {
	for _, lean := range []bool{false, true} {
		b.Run(fmt.Sprintf("lean=%v", lean), func(b *testing.B) {
			const n = 1000
			h, err := ssekify.New(&ssekify.Options{KeepAlive: -1, Lean: lean})
			if err != nil {
				b.Fatal(err)
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = h.Register(w, r, r.URL.Query().Get("u"), nil)
			}))
			defer srv.Close()
			conns := make([]net.Conn, 0, n)
			defer func() {
				for _, c := range conns {
					_ = c.Close()
				}
			}()
			for i := range n {
				c, err := net.Dial("tcp", srv.Listener.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				conns = append(conns, c)
				fmt.Fprintf(c, "GET /?u=u%d HTTP/1.1\r\nHost: x\r\n\r\n", i)
				go func() { _, _ = io.Copy(io.Discard, c) }()
			}
			deadline := time.Now().Add(30 * time.Second)
			for h.Stats().Connections < n {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d streams", h.Stats().Connections, n)
				}
				time.Sleep(time.Millisecond)
			}
			payload := json.RawMessage(`"` + strings.Repeat("x", 254) + `"`)
			var spent time.Duration
			b.ResetTimer()
			for b.Loop() {
				time.Sleep(3 * time.Millisecond) // the writers go idle
				t0 := time.Now()
				if _, err := h.SendToAll(ssekify.Event{Data: payload}); err != nil {
					b.Fatal(err)
				}
				spent += time.Since(t0)
			}
			b.StopTimer()
			b.ReportMetric(float64(spent.Microseconds())/float64(b.N), "caller-µs/send")
			_ = h.Shutdown(b.Context(), ssekify.ShutdownOptions{Grace: -1, NoAnnounce: true})
		})
	}
}
