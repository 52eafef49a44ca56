package ssekify_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// The idle-memory test holds 20,000 idle lean streams and asserts what they
// cost the server: below leanMaxPerStream each, in heap and stacks and in
// RSS, at most one goroutine each, and every stream still gets a
// broadcast. Under -race it holds 2,000 (the broadcast starts a writer per
// stream, and the detector allows 8,128 goroutines at once) and leaves RSS
// out (the detector's shadow memory is in it). The
// clients run in a child process (this test binary, TestLeanIdleClients),
// so that the server's figures are its own and each process needs one
// descriptor per stream: the streams are bounded by the descriptor limit
// (the soft limit is raised to the hard one), less leanFdMargin.
const (
	leanStreams      = 20000
	leanStreamsRace  = 2000
	leanMaxPerStream = 10 << 10
	leanFdMargin     = 128
	leanMemWait      = 90 * time.Second // the whole test
	leanClientsEnv   = "SSEKIFY_LEAN_CLIENTS"
)

func TestLeanIdleMemory(t *testing.T) {
	n := leanStreams
	if raceEnabled {
		n = leanStreamsRace
	}
	if limit := raiseFdLimit(t); n > limit-leanFdMargin {
		t.Logf("descriptor limit %d: %d streams instead of %d", limit, limit-leanFdMargin, n)
		n = limit - leanFdMargin
	}
	for _, f := range measureIdle(t, n, true) {
		t.Logf("%s", f)
		require.Less(t, f.heapStack, float64(leanMaxPerStream), "%s: heap+stack per stream", f.when)
		if !raceEnabled { // the detector's shadow memory grows RSS with every allocation
			require.Less(t, f.rss, float64(leanMaxPerStream), "%s: RSS per stream", f.when)
		}
		require.LessOrEqual(t, f.goroutines, 1.0, "%s: goroutines per stream", f.when)
	}
}

// BenchmarkIdleStreams measures what an idle stream costs the server, lean
// and on the handler path, at 5,000 and 50,000 streams, idle and after one
// broadcast (the clients in a child process, as in TestLeanIdleMemory).
// Each process needs a descriptor per stream: where the limit does not
// allow 50,000, the largest size it allows runs instead, under its own
// name. Run: go test -run '^$' -bench IdleStreams -benchtime 1x
func BenchmarkIdleStreams(b *testing.B) {
	limit := raiseFdLimit(b)
	for _, n := range []int{5000, 50000} {
		if n > limit-leanFdMargin {
			b.Logf("descriptor limit %d: %d streams instead of %d", limit, limit-leanFdMargin, n)
			n = limit - leanFdMargin
		}
		for _, lean := range []bool{true, false} {
			name := "handler"
			if lean {
				name = "lean"
			}
			b.Run(fmt.Sprintf("%s-%d", name, n), func(b *testing.B) {
				var fs []idleFigures
				for range b.N {
					fs = measureIdle(b, n, lean)
				}
				for _, f := range fs {
					b.Logf("%s", f)
				}
				b.ReportMetric(fs[0].rss/1024, "RSS-KiB/stream")
				b.ReportMetric(fs[0].heapStack/1024, "heap+stack-KiB/stream")
				b.ReportMetric(fs[0].stack/1024, "stack-KiB/stream")
				b.ReportMetric(fs[0].goroutines, "goroutines/stream")
				b.ReportMetric(fs[1].rss/1024, "RSS-KiB/stream-after-broadcast")
			})
		}
	}
}

// idleFigures is what n idle streams cost the server, per stream.
type idleFigures struct {
	when                  string
	n                     int
	lean                  bool
	heapStack, stack, rss float64 // bytes
	goroutines            float64
	took                  time.Duration
}

func (f idleFigures) String() string {
	path := "handler"
	if f.lean {
		path = "lean"
	}
	return fmt.Sprintf("%s, %d %s streams: heap+stack %.2f KiB (stack %.2f), RSS %.2f KiB, goroutines %.2f per stream (%v)",
		f.when, f.n, path, f.heapStack/1024, f.stack/1024, f.rss/1024, f.goroutines, f.took.Round(time.Millisecond))
}

// measureIdle opens n streams from a child process, lean or on the handler
// path, measures them idle, checks that a broadcast reaches every one,
// measures them again and closes them.
func measureIdle(tb testing.TB, n int, lean bool) []idleFigures {
	deadline := time.Now().Add(leanMemWait)
	h, addr, stop := serveHub(tb, &ssekify.Options{Lean: lean})
	defer stop()
	before := leanMeasure()
	start := time.Now()
	child := startLeanClients(tb, addr, n)
	defer child.close()
	before.goroutines++ // the reader of the child's output
	child.await(tb, h, n, deadline)
	for lean && h.Stats().LeanStreams < int64(n) { // counted once handed over, after their opening
		require.True(tb, time.Now().Before(deadline), "%d of %d streams lean", h.Stats().LeanStreams, n)
		time.Sleep(5 * time.Millisecond)
	}
	figures := func(when string, m leanMem) idleFigures {
		per := func(a, b uint64) float64 { return (float64(a) - float64(b)) / float64(n) }
		return idleFigures{when: when, n: n, lean: lean,
			heapStack: per(m.heapStack, before.heapStack), stack: per(m.stack, before.stack), rss: per(m.rss, before.rss),
			goroutines: float64(m.goroutines-before.goroutines) / float64(n), took: time.Since(start)}
	}
	idle := figures("idle", leanMeasure())

	const marker = "lean-broadcast-7f3a"
	delivered, err := h.SendToAll(ssekify.Event{Name: "b", Data: marker})
	require.NoError(tb, err)
	require.Equal(tb, n, delivered)
	child.send(tb, "read "+marker)
	require.Equal(tb, "got "+strconv.Itoa(n), child.line(tb, deadline), "streams that received the broadcast")
	for h.Stats().Sent < int64(n) {
		require.True(tb, time.Now().Before(deadline), "%d of %d writes done", h.Stats().Sent, n)
		time.Sleep(5 * time.Millisecond)
	}
	after := figures("after a broadcast", leanMeasure())
	child.send(tb, "quit")
	child.wait(tb)
	return []idleFigures{idle, after}
}

// TestLeanHeartbeatsAtScale: the wheel gives each of 2,000 idle lean
// streams its heartbeats, none more often than KeepAlive, in 1.5s of
// KeepAlive 100ms: the hub is shut down, then each stream counts the
// ": ping" comments it got until its end.
func TestLeanHeartbeatsAtScale(t *testing.T) {
	const n, keepAlive, silence = 2000, 100 * time.Millisecond, 1500 * time.Millisecond
	deadline := time.Now().Add(leanMemWait)
	h, addr, stop := serveHub(t, &ssekify.Options{Lean: true, KeepAlive: keepAlive})
	defer stop()
	start := time.Now() // no stream is older
	child := startLeanClients(t, addr, n)
	defer child.close()
	child.await(t, h, n, deadline)
	time.Sleep(silence)
	stop()
	elapsed := time.Since(start)
	child.send(t, "count : ping\n")
	var least, most int
	_, err := fmt.Sscanf(child.line(t, deadline), "counted %d %d", &least, &most)
	require.NoError(t, err)
	t.Logf("%d lean streams, KeepAlive %v, %v: %d to %d heartbeats each", n, keepAlive, elapsed.Round(time.Millisecond), least, most)
	require.LessOrEqual(t, most, int(elapsed/keepAlive)+1, "heartbeats more often than KeepAlive")
	require.GreaterOrEqual(t, least, int(silence/keepAlive)/3, "a stream got too few heartbeats")
	require.Zero(t, h.Stats().Sent, "heartbeats are not counted as sent")
	child.send(t, "quit")
	child.wait(t)
}

// serveHub starts a hub with opts behind a loopback http.Server serving
// sseHandler; stop shuts both down (once, however often it is called).
func serveHub(tb testing.TB, opts *ssekify.Options) (h *ssekify.Hub, addr string, stop func()) {
	h, err := ssekify.New(opts)
	require.NoError(tb, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	srv := &http.Server{Handler: sseHandler(h, nil), ReadHeaderTimeout: wait}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	var once sync.Once
	return h, ln.Addr().String(), func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			_ = h.Shutdown(ctx, ssekify.ShutdownOptions{Grace: -1, NoAnnounce: true})
			_ = srv.Close()
			<-served
		})
	}
}

// leanMem is the process's memory after two collections.
type leanMem struct {
	heapStack  uint64 // HeapInuse + StackInuse
	stack      uint64 // StackInuse
	rss        uint64 // VmRSS
	goroutines int
}

func leanMeasure() leanMem {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return leanMem{heapStack: ms.HeapInuse + ms.StackInuse, stack: ms.StackInuse, rss: vmRSS(), goroutines: runtime.NumGoroutine()}
}

// vmRSS reads the resident set size of this process, in bytes (0 where
// /proc is missing: the RSS bound then holds trivially, and the log says 0).
func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// leanClients is the child process that holds the clients.
type leanClients struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines chan string

	waitOnce sync.Once
	waitErr  error
}

func startLeanClients(t testing.TB, addr string, n int) *leanClients {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLeanIdleClients$", "-test.count=1")
	cmd.Env = append(os.Environ(), leanClientsEnv+"="+addr+","+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	c := &leanClients{cmd: cmd, in: in, lines: make(chan string, 16)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "lean-clients: "); ok {
				c.lines <- line
			}
		}
	}()
	return c
}

// close ends the child process if it still runs and waits for it and for
// the reader of its output.
func (c *leanClients) close() {
	_ = c.in.Close()
	_ = c.cmd.Process.Kill()
	c.waitOnce.Do(func() { c.waitErr = c.cmd.Wait() })
	for range c.lines {
	}
}

func (c *leanClients) line(t testing.TB, deadline time.Time) string {
	t.Helper()
	select {
	case l, ok := <-c.lines:
		require.True(t, ok, "the client process ended")
		return l
	case <-time.After(time.Until(deadline)):
		t.Fatal("the client process did not answer in time")
		return ""
	}
}

// await waits for the child to open its n streams and for h to hold them.
func (c *leanClients) await(tb testing.TB, h *ssekify.Hub, n int, deadline time.Time) {
	tb.Helper()
	require.Equal(tb, "ready", c.line(tb, deadline))
	for h.Stats().Connections < int64(n) {
		require.True(tb, time.Now().Before(deadline), "%d of %d streams open", h.Stats().Connections, n)
		time.Sleep(20 * time.Millisecond)
	}
}

func (c *leanClients) send(t testing.TB, cmd string) {
	t.Helper()
	_, err := io.WriteString(c.in, cmd+"\n")
	require.NoError(t, err)
}

func (c *leanClients) wait(t testing.TB) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.waitOnce.Do(func() { c.waitErr = c.cmd.Wait() })
	}()
	select {
	case <-done:
		require.NoError(t, c.waitErr)
	case <-time.After(wait):
		t.Fatal("the client process did not exit")
	}
}

// TestLeanIdleClients is the client process of TestLeanIdleMemory (and of
// TestLeanHeartbeatsAtScale and BenchmarkIdleStreams), which starts it
// with SSEKIFY_LEAN_CLIENTS=<addr>,<n>; without it, it returns at once. It
// opens n streams without reading them, says "ready", then on
// "read <marker>" reads every stream until the marker (a few goroutines,
// each reading its streams one after the other: their data is already in
// the kernel's buffers) and says how many got it; on "count <s>" (\n for
// a newline) it reads what every stream holds and says the least and the
// most times one held s; "quit" closes them.
func TestLeanIdleClients(t *testing.T) {
	spec := os.Getenv(leanClientsEnv)
	if spec == "" {
		return // not the client process
	}
	addr, ns, _ := strings.Cut(spec, ",")
	n, err := strconv.Atoi(ns)
	require.NoError(t, err)
	raiseFdLimit(t)
	conns := leanDialAll(t, addr, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	fmt.Println("lean-clients: ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "read":
			fmt.Printf("lean-clients: got %d\n", leanReadAll(conns, []byte(arg)))
		case "count":
			least, most := leanCountAll(conns, []byte(strings.ReplaceAll(arg, `\n`, "\n")))
			fmt.Printf("lean-clients: counted %d %d\n", least, most)
		case "quit":
			return
		}
	}
}

// leanDialAll opens n streams with a few dialers at once, from eight
// loopback addresses where the system has them: beyond half of the
// ephemeral ports of one address, each connect searches long for a free
// port.
func leanDialAll(t *testing.T, addr string, n int) []net.Conn {
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				d := net.Dialer{Timeout: wait, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))}}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					c, err = net.DialTimeout("tcp", addr, wait)
				}
				if err == nil {
					_, err = fmt.Fprintf(c, "GET /sse?user=u%d HTTP/1.1\r\nHost: x\r\n\r\n", i%1000)
				}
				if err != nil {
					errs <- fmt.Errorf("stream %d: %w", i, err)
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	return conns
}

// leanCountAll reads each stream to its end (or until a read waits 50ms)
// and returns the least and the most times one held s.
func leanCountAll(conns []net.Conn, s []byte) (least, most int) {
	var mu sync.Mutex
	least = -1
	var wg sync.WaitGroup
	const readers = 8
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := r; i < len(conns); i += readers {
				var held []byte
				for {
					_ = conns[i].SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					n, err := conns[i].Read(buf)
					held = append(held, buf[:n]...)
					if err != nil {
						break
					}
				}
				k := bytes.Count(held, s)
				mu.Lock()
				if least < 0 || k < least {
					least = k
				}
				most = max(most, k)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return least, most
}

// leanReadAll reads each stream until marker (or its deadline) and returns
// how many got it.
func leanReadAll(conns []net.Conn, marker []byte) int {
	var got atomic.Int64
	var wg sync.WaitGroup
	const readers = 8
	deadline := time.Now().Add(leanMemWait / 3)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4096)
			for i := r; i < len(conns); i += readers {
				c := conns[i]
				_ = c.SetReadDeadline(deadline)
				var seen []byte
				for !bytes.Contains(seen, marker) {
					n, err := c.Read(buf)
					seen = append(seen, buf[:n]...)
					if err != nil {
						break
					}
				}
				if bytes.Contains(seen, marker) {
					got.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(got.Load())
}
