// Command load is the benchmark's load client. It opens many raw HTTP/1.1
// SSE connections to one benchmark server on the loopback interface, drives
// one scenario through the server's control endpoints, and prints a
// wire.Report as JSON on standard output.
//
// Every stream has its own goroutine blocked in a read; the line parser
// reads with bufio.Reader.ReadSlice and does not allocate per line. Every
// wait is bounded by the -timeout deadline.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

type config struct {
	addr      string
	pid       int
	scenario  string
	conns     int
	stall     int
	count     int
	size      int
	rate      int
	timeout   time.Duration
	settle    time.Duration
	drainFor  time.Duration
	dialers   int
	connectTO time.Duration
	stuck     time.Duration
	// stallRcvBuf is SO_RCVBUF of the stalled streams (0: the system's).
	stallRcvBuf int
	// stallFor is how long the stalled streams stop reading, from the
	// first publish call (0: until the measured phase ended).
	stallFor time.Duration
	// gapEvent is the name of ssekify's gap event.
	gapEvent string
}

func main() {
	var c config
	flag.StringVar(&c.addr, "addr", "", "server address, 127.0.0.1:PORT (required)")
	flag.IntVar(&c.pid, "pid", 0, "server process id, for /proc CPU and RSS (0: not measured)")
	flag.StringVar(&c.scenario, "scenario", "burst", "burst (publish and count deliveries) or idle (memory of idle streams)")
	flag.IntVar(&c.conns, "conns", 1000, "streams to open")
	flag.IntVar(&c.stall, "stall", 0, "streams among -conns that stop reading once subscribed")
	flag.IntVar(&c.count, "count", 200, "messages to publish")
	flag.IntVar(&c.size, "size", 256, "payload bytes")
	flag.IntVar(&c.rate, "rate", 0, "messages per second (0: as fast as possible)")
	flag.DurationVar(&c.timeout, "timeout", 60*time.Second, "hard limit of the whole run")
	flag.DurationVar(&c.settle, "settle", time.Second, "idle: wait before measuring")
	flag.DurationVar(&c.drainFor, "drain", 3*time.Second, "stalled streams read this long after the measured phase")
	flag.IntVar(&c.dialers, "dialers", 32, "connections being opened at once")
	flag.DurationVar(&c.connectTO, "connect-timeout", 30*time.Second, "limit for opening all streams and seeing them subscribed")
	flag.DurationVar(&c.stuck, "stuck", 3*time.Second, "end the measured phase when no delivery happened for this long")
	flag.IntVar(&c.stallRcvBuf, "stall-rcvbuf", 0, "SO_RCVBUF of the stalled streams in bytes (0: the system's, which autotunes)")
	flag.DurationVar(&c.stallFor, "stall-for", 0, "stalled streams read again this long after the first publish call (0: once the measured phase ended); they then get -drain to read everything")
	flag.StringVar(&c.gapEvent, "gap-event", "ssekify:gap", "name of the gap event that announces lost messages (ssekify's; empty: none)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("load: ")
	if c.addr == "" {
		log.Fatal("-addr is required")
	}
	if err := raiseNoFile(); err != nil {
		log.Printf("raise RLIMIT_NOFILE: %v", err)
	}
	rep := run(c)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		log.Fatal(err)
	}
}

func raiseNoFile() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// client is one run of the load client.
type client struct {
	cfg      config
	deadline time.Time
	// phaseEnd bounds the measured phase, early enough before deadline
	// for the final stats, the drain and closing.
	phaseEnd time.Time
	http     *http.Client
	base     string
	streams  []*stream
	ph       *phase
	wg       sync.WaitGroup
	drain    chan struct{}
	drainOne sync.Once
}

func (c *client) startDrain() { c.drainOne.Do(func() { close(c.drain) }) }

var errTimeout = errors.New("time limit reached")

func run(cfg config) (rep wire.Report) {
	rep = wire.Report{Scenario: cfg.scenario, Conns: cfg.conns, Stalled: cfg.stall, Count: cfg.count, Size: cfg.size, Rate: cfg.rate, Dropped: -1}
	c := &client{
		cfg:      cfg,
		deadline: time.Now().Add(cfg.timeout),
		phaseEnd: time.Now().Add(cfg.timeout - min(cfg.timeout/2, cfg.drainFor+10*time.Second)),
		base:     "http://" + cfg.addr,
		drain:    make(chan struct{}),
	}
	c.http = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}
	defer c.closeAll()
	var err error
	switch cfg.scenario {
	case "burst":
		err = c.burst(&rep)
	case "idle":
		err = c.idle(&rep)
	default:
		err = fmt.Errorf("unknown scenario %q", cfg.scenario)
	}
	if err != nil {
		rep.Error = err.Error()
		rep.Timeout = errors.Is(err, errTimeout)
		return rep
	}
	rep.OK = true
	return rep
}

// left returns the time up to the deadline, capped at limit (if > 0).
func (c *client) left(limit time.Duration) time.Duration {
	d := time.Until(c.deadline)
	if limit > 0 && d > limit {
		d = limit
	}
	return max(d, 0)
}

// connect opens every stream, waits until the server counts them all, then
// publishes warm-up messages until every stream has received one.
func (c *client) connect(recordLat bool) error {
	cfg := c.cfg
	c.ph = &phase{expected: int64(cfg.count), gapEvent: []byte(cfg.gapEvent), allDone: make(chan struct{}), recordLat: recordLat}
	c.ph.remaining.Store(int64(cfg.conns - cfg.stall))
	if cfg.conns-cfg.stall <= 0 {
		close(c.ph.allDone)
	}
	lineBuf := max(8192, 4*cfg.size)
	c.streams = make([]*stream, cfg.conns)
	// Stalled streams are spread evenly over the connection order.
	stallEvery := 0
	if cfg.stall > 0 {
		stallEvery = cfg.conns / cfg.stall
	}
	stalled := 0
	for i := range c.streams {
		s := &stream{id: i}
		if stallEvery > 0 && i%stallEvery == 0 && stalled < cfg.stall {
			s.stalled = true
			s.drain = c.drain
			stalled++
		} else if recordLat {
			s.lats = make([]int64, 0, cfg.count)
		}
		c.streams[i] = s
	}

	connectBy := time.Now().Add(c.left(cfg.connectTO))
	host := cfg.addr
	idx := make(chan int)
	errc := make(chan error, cfg.dialers)
	var dialWG sync.WaitGroup
	for range cfg.dialers {
		dialWG.Add(1)
		go func() {
			defer dialWG.Done()
			d := net.Dialer{Timeout: 5 * time.Second}
			small := net.Dialer{Timeout: 5 * time.Second, Control: smallRcvBuf(cfg.stallRcvBuf)}
			for i := range idx {
				s := c.streams[i]
				dd := &d
				if s.stalled && cfg.stallRcvBuf > 0 {
					dd = &small
				}
				nc, err := dd.Dial("tcp", host)
				if err != nil {
					errc <- fmt.Errorf("dial stream %d: %w", i, err)
					return
				}
				_ = nc.SetDeadline(c.deadline)
				if _, err := nc.Write(request(host, i)); err != nil {
					_ = nc.Close()
					errc <- fmt.Errorf("request stream %d: %w", i, err)
					return
				}
				s.nc = nc
				c.wg.Add(1)
				go func() {
					defer c.wg.Done()
					s.read(c.ph, lineBuf)
				}()
			}
		}()
	}
	var dialErr error
feed:
	for i := range c.streams {
		select {
		case idx <- i:
		case dialErr = <-errc:
			break feed
		case <-time.After(time.Until(connectBy)):
			dialErr = fmt.Errorf("opening streams: %w", errTimeout)
			break feed
		}
	}
	close(idx)
	dialWG.Wait()
	if dialErr == nil {
		select {
		case dialErr = <-errc:
		default:
		}
	}
	if dialErr != nil {
		return dialErr
	}

	// Wait until the server runs a handler for every stream.
	for {
		st, err := c.stats(true)
		if err != nil {
			return err
		}
		if st.Clients >= int64(cfg.conns) {
			break
		}
		if err := c.failedStreams(); err != nil {
			return err
		}
		if time.Now().After(connectBy) {
			return fmt.Errorf("server counts %d of %d streams: %w", st.Clients, cfg.conns, errTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Warm up until every stream, stalled or not, has received a message:
	// then every stream is subscribed.
	for attempt := 0; ; attempt++ {
		if _, err := c.publish(1, cfg.size, 0, 0, c.left(10*time.Second)); err != nil {
			return fmt.Errorf("warm-up publish: %w", err)
		}
		waitUntil := time.Now().Add(c.left(2 * time.Second))
		for time.Now().Before(waitUntil) && c.unwarmed() > 0 {
			time.Sleep(10 * time.Millisecond)
		}
		n := c.unwarmed()
		if n == 0 {
			return nil
		}
		if err := c.failedStreams(); err != nil {
			return err
		}
		if attempt == 4 || time.Until(c.deadline) <= 0 {
			return fmt.Errorf("warm-up: %d streams got no message: %w", n, errTimeout)
		}
	}
}

// delivered sums the measured-phase messages of the reading streams.
func (c *client) delivered() int64 {
	var n int64
	for _, s := range c.streams {
		if !s.stalled {
			n += s.count.Load()
		}
	}
	return n
}

func (c *client) unwarmed() int {
	n := 0
	for _, s := range c.streams {
		if s.seen.Load() == 0 {
			n++
		}
	}
	return n
}

func (c *client) failedStreams() error {
	for _, s := range c.streams {
		if p := s.headErr.Load(); p != nil {
			return fmt.Errorf("stream %d: %s", s.id, *p)
		}
		if s.closed.Load() {
			return fmt.Errorf("stream %d: server ended it while connecting", s.id)
		}
	}
	return nil
}

// burst measures one publish burst: deliveries, their rate and latency, and
// the server's CPU time and allocations per delivery, and accounts exactly
// what every stream got (see wire.Check). With -stall, some streams stop
// reading (until the measured phase ended, or for -stall-for) and the run
// also reports what they got once they read again, and the server's memory
// meanwhile.
func (c *client) burst(rep *wire.Report) error {
	cfg := c.cfg
	if err := c.connect(true); err != nil {
		return err
	}
	before, err := c.stats(false)
	if err != nil {
		return err
	}
	rep.Before = before
	rep.RSSBefore = c.rss("VmRSS")
	cpu0 := c.serverCPU()
	ccpu0 := selfCPU()

	start := time.Now()
	// With -stall-for, the stalled streams read again at a fixed time,
	// whatever the others are doing; the server's RSS is taken just before.
	var rssStall atomic.Int64
	resumed := make(chan time.Time, 1)
	if cfg.stall > 0 && cfg.stallFor > 0 {
		rep.StallNs = cfg.stallFor.Nanoseconds()
		t := time.AfterFunc(min(cfg.stallFor, c.left(0)), func() {
			rssStall.Store(c.rss("VmRSS"))
			resumed <- time.Now()
			c.startDrain()
		})
		defer t.Stop()
	}
	type burstAns struct {
		res *wire.BurstResult
		err error
	}
	ansc := make(chan burstAns, 1)
	phaseLeft := max(time.Until(c.phaseEnd), 0)
	go func() {
		res, err := c.publish(cfg.count, cfg.size, cfg.rate, 1, phaseLeft)
		ansc <- burstAns{res, err}
	}()
	var ans *burstAns
	timedOut := false
	limit := time.NewTimer(phaseLeft)
	defer limit.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	// A run whose deliveries stop for -stuck is over: the library is
	// blocked, or lost the rest, and waiting for the time limit would tell
	// nothing more.
	progress, lastTotal := time.Now(), int64(-1)
wait:
	for {
		select {
		case <-c.ph.allDone:
			break wait
		case a := <-ansc:
			ans = &a
			ansc = nil
		case <-limit.C:
			timedOut = true
			break wait
		case now := <-tick.C:
			if t := c.delivered(); t != lastTotal {
				progress, lastTotal = now, t
			} else if now.Sub(progress) > cfg.stuck {
				timedOut, rep.Stuck = true, true
				break wait
			}
		}
	}
	end := time.Now()
	if !timedOut {
		end = time.Unix(0, c.ph.last.Load())
	}
	rep.ClientCPUNs = selfCPU() - ccpu0
	rep.ServerCPUNs = c.serverCPU() - cpu0
	rep.RSSPeak = c.rss("VmHWM")
	rep.RSSAfter = c.rss("VmRSS")
	if ans == nil {
		// The publisher may finish a moment after the last delivery.
		select {
		case a := <-ansc:
			ans = &a
		case <-time.After(min(c.left(0), 2*time.Second)):
		}
	}
	// /stats answers even while a publisher is blocked in most libraries;
	// bound it so a server that does not answer still yields a report.
	if after, err := c.statsWithin(false, min(c.left(0), 5*time.Second)); err == nil {
		rep.After = after
		rep.ServerMallocs = after.Mallocs - before.Mallocs
		rep.Dropped = after.Dropped
	}
	if ans == nil {
		rep.PublishTimedOut = true
	} else if ans.err != nil {
		return fmt.Errorf("burst: %w", ans.err)
	} else {
		rep.Publish = ans.res
		start = time.Unix(0, ans.res.StartUnixNano)
	}
	rep.DurationNs = end.Sub(start).Nanoseconds()

	rep.Expected = int64(cfg.conns-cfg.stall) * int64(cfg.count)
	for _, s := range c.streams {
		if s.stalled {
			continue
		}
		n := s.count.Load()
		rep.Deliveries += n
		if n >= int64(cfg.count) {
			rep.Complete++
		}
		if s.closed.Load() {
			rep.Closed++
		}
	}
	if rep.DurationNs > 0 {
		rep.DeliveriesPerSec = float64(rep.Deliveries) / (float64(rep.DurationNs) / 1e9)
	}

	if cfg.stall > 0 {
		c.drainStalled(rep, resumed, &rssStall)
	}

	c.closeAll()
	healthy, stalled := &wire.Check{}, &wire.Check{}
	var lats []int64
	for _, s := range c.streams {
		if s.stalled {
			stalled.Add(s.check(int64(cfg.count)))
			continue
		}
		healthy.Add(s.check(int64(cfg.count)))
		lats = append(lats, s.lats...)
	}
	rep.Healthy = healthy
	if cfg.stall > 0 {
		rep.StalledCheck = stalled
	}
	if len(lats) > 0 {
		slices.Sort(lats)
		rep.LatP50Ns = lats[len(lats)/2]
		rep.LatP99Ns = lats[min(len(lats)-1, len(lats)*99/100)]
		rep.LatMaxNs = lats[len(lats)-1]
	}
	if timedOut {
		what := "deliveries"
		if rep.Stuck {
			what = "deliveries stopped"
		}
		if rep.PublishTimedOut {
			what += ", publisher blocked"
		}
		return fmt.Errorf("%s: %d of %d streams complete, %d ended by the server: %w", what, rep.Complete, cfg.conns-cfg.stall, rep.Closed, errTimeout)
	}
	return nil
}

// drainStalled lets the stalled streams read again (now, or at -stall-for
// from the first publish call) and gives them -drain from then to get every
// message; it ends early once each has everything, or was ended.
func (c *client) drainStalled(rep *wire.Report, resumed <-chan time.Time, rssStall *atomic.Int64) {
	cfg := c.cfg
	var at time.Time
	if cfg.stallFor > 0 {
		select {
		case at = <-resumed:
		case <-time.After(c.left(0)):
			return
		}
	} else {
		rssStall.Store(c.rss("VmRSS"))
		at = time.Now()
	}
	until := at.Add(min(c.left(0), cfg.drainFor))
	for _, s := range c.streams {
		if s.stalled {
			_ = s.nc.SetReadDeadline(until)
		}
	}
	c.startDrain()
	for time.Now().Before(until) && !c.stalledDone() {
		time.Sleep(20 * time.Millisecond)
	}
	rep.DrainNs = time.Since(at).Nanoseconds()
	rep.RSSStall = rssStall.Load()
	rep.RSSDrained = c.rss("VmRSS")
	for _, s := range c.streams {
		if s.stalled {
			rep.StalledReceived += s.count.Load()
			if s.closed.Load() {
				rep.StalledClosed++
			}
		}
	}
}

// stalledDone reports whether every stalled stream got its last message,
// had every message accounted, or was ended by the server.
func (c *client) stalledDone() bool {
	for _, s := range c.streams {
		if s.stalled && !s.finished.Load() && !s.closed.Load() {
			return false
		}
	}
	return true
}

// idle measures the server's memory and goroutines with no stream, then
// with -conns idle streams (after one warm-up message and -settle).
func (c *client) idle(rep *wire.Report) error {
	if err := c.gc(); err != nil {
		return err
	}
	before, err := c.stats(false)
	if err != nil {
		return err
	}
	rep.Before = before
	rep.RSSBefore = c.rss("VmRSS")
	if err := c.connect(false); err != nil {
		return err
	}
	time.Sleep(c.left(c.cfg.settle))
	if err := c.gc(); err != nil {
		return err
	}
	after, err := c.stats(false)
	if err != nil {
		return err
	}
	rep.After = after
	rep.RSSAfter = c.rss("VmRSS")
	rep.RSSPeak = c.rss("VmHWM")
	if after.Clients < int64(c.cfg.conns) {
		return fmt.Errorf("only %d of %d streams left after settling", after.Clients, c.cfg.conns)
	}
	return nil
}

// closeAll closes every stream and waits for the readers, within 5 s.
func (c *client) closeAll() {
	if c.ph == nil || c.ph.stopping.Swap(true) {
		return
	}
	c.startDrain()
	for _, s := range c.streams {
		if s != nil && s.nc != nil {
			_ = s.nc.Close()
		}
	}
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		log.Print("readers did not stop within 5s")
	}
}

// publish asks the server for count messages numbered from seq (0: warm-up
// messages, all numbered 0).
func (c *client) publish(count, size, rate int, seq int64, limit time.Duration) (*wire.BurstResult, error) {
	url := fmt.Sprintf("%s%s?count=%d&size=%d&rate=%d&seq=%d", c.base, wire.PathBurst, count, size, rate, seq)
	var res wire.BurstResult
	if err := c.do(http.MethodPost, url, limit, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

func (c *client) stats(lite bool) (*wire.Stats, error) {
	return c.statsWithin(lite, c.left(10*time.Second))
}

func (c *client) statsWithin(lite bool, limit time.Duration) (*wire.Stats, error) {
	url := c.base + wire.PathStats
	if lite {
		url += "?lite=1"
	}
	var st wire.Stats
	if err := c.do(http.MethodGet, url, limit, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (c *client) gc() error {
	return c.do(http.MethodPost, c.base+wire.PathGC, c.left(30*time.Second), nil)
}

func (c *client) do(method, url string, limit time.Duration, out any) error {
	if limit <= 0 {
		return fmt.Errorf("%s %s: %w", method, url, errTimeout)
	}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return err
	}
	cl := *c.http
	cl.Timeout = limit
	resp, err := cl.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("%s %s: %w", method, url, errTimeout)
		}
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, strings.TrimSpace(string(body)))
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

// serverCPU returns the server's utime+stime in ns (0 without -pid).
func (c *client) serverCPU() int64 {
	if c.cfg.pid == 0 {
		return 0
	}
	return int64(wire.ProcessCPU(c.cfg.pid))
}

// rss returns a VmRSS-like field of /proc/<pid>/status in bytes.
func (c *client) rss(field string) int64 {
	if c.cfg.pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + itoa(c.cfg.pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// smallRcvBuf returns a dial hook that sets SO_RCVBUF before connecting,
// which also turns the kernel's receive buffer autotuning off.
func smallRcvBuf(n int) func(network, address string, rc syscall.RawConn) error {
	return func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		})
		return errors.Join(err, serr)
	}
}

// selfCPU returns this process's user+system CPU time in ns.
func selfCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
