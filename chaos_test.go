package ssekify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// TestChaos runs three instances (internal/chaosnode processes) on one
// redis-server without persistence, 66 SSE sessions of 60 users that
// reconnect to any instance with their Last-Event-ID, and six publishers at
// 300 events/s in all, through labelled fault phases separated by quiet ones:
//
//	steady       no fault (first round only)
//	churn        every session is cut and reconnects to a random instance, about once a second
//	kill-node    SIGKILL of one instance, restarted 2 s later on its port; its sessions go elsewhere
//	redis-reset  SIGKILL of redis-server, started again 1 s later on its port, empty (a new epoch)
//	redis-cut    one instance's Redis connections are cut and refused for 1.5 s (a TCP proxy)
//	quiet        nothing but the traffic
//
// For every session it checks that each expected event (defined at
// chaosExpected) arrived exactly once, in order per publisher, or is covered
// by a gap event the session received (chaosCovered), logs a table of silent
// losses, duplicates, reorders and gap-covered events by phase, and asserts:
// no silent loss, duplicate, reorder or misrouted event anywhere; gap
// events, and events they cover, only in the redis-reset phases, with the
// reason "reset".
//
// Publishers: three PublishOnly hubs in this process, each on its own
// go-redis client straight to Redis (the hub's publish path runs under the
// race detector, and their calls' errors are seen as they are), and one
// publisher per instance through its POST /publish, so the instances also
// publish to streams they hold themselves, through the proxy of their Redis
// connection (a publish that races a kill or a cut fails: such events are
// not expected, see chaosExpected).
//
// SSEKIFY_CHAOS_DURATION (a Go duration, default one round, about 45 s with
// the set-up) repeats the fault rounds for longer local runs;
// SSEKIFY_CHAOS_SEED fixes the random choices (timing still varies);
// SSEKIFY_CHAOS_TRACE=u07 (a session: a user, "u07#2" for its second tab)
// logs everything that session received, with its publish calls' times.
func TestChaos(t *testing.T) {
	// Registered first, so it runs after every other cleanup: whatever
	// this test started has ended, even when it failed (TestMain's check
	// runs only when every test passed).
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		if err := goleak.Find(before); err != nil {
			t.Errorf("chaos: goroutines left behind: %v", err)
		}
	})
	cfg := chaosConfigure(t)
	r := &chaosRun{t: t, cfg: cfg, t0: time.Now(), rng: rand.New(rand.NewPCG(cfg.seed, 0))}
	t.Logf("chaos: seed %d (SSEKIFY_CHAOS_SEED), %d round(s), %d sessions of %d users, %d publishers at %v each",
		cfg.seed, cfg.rounds, cfg.users+cfg.tabs, cfg.users, cfg.hubPublishers+cfg.nodes, cfg.interval)
	r.setUp()
	r.schedule()
	r.finish()
	res := r.analyze()
	res.log(t, r)
	r.trace(os.Getenv("SSEKIFY_CHAOS_TRACE"))
	res.check(t)
	t.Logf("chaos: %v in all", time.Since(r.t0).Round(100*time.Millisecond))
}

// The timing of a round. One round takes about 32 s plus the recoveries.
const (
	chaosSteady      = 4 * time.Second
	chaosChurn       = 8 * time.Second
	chaosQuiet       = 3 * time.Second
	chaosLead        = 500 * time.Millisecond // from the start of a fault phase to its fault
	chaosKillDown    = 2 * time.Second        // a killed instance is down this long
	chaosResetDown   = time.Second            // redis-server is down this long
	chaosCut         = 1500 * time.Millisecond
	chaosSettle      = 1500 * time.Millisecond // a fault phase goes on this long after every instance delivers again
	chaosRecover     = 10 * time.Second        // bounds the wait for an instance to deliver again
	chaosRoundLength = 32 * time.Second        // about, for SSEKIFY_CHAOS_DURATION
	chaosRouteGrace  = 300 * time.Millisecond  // the nodes' Options.RouteGrace
	chaosCallTimeout = time.Second             // bounds each publish call
	chaosDrainMax    = 15 * time.Second        // bounds the final drain
	chaosDrainStill  = 2 * time.Second         // the drain ends when nothing arrived that long
	chaosMaxConnects = 100000                  // bounds each session's connection attempts
)

// chaosConfig is the size of a run.
type chaosConfig struct {
	nodes         int
	users         int // one session each
	tabs          int // users with a second session (another tab)
	rooms         int
	hubPublishers int           // PublishOnly hubs in this process; plus one per node
	interval      time.Duration // between the calls of one publisher
	rounds        int
	seed          uint64
}

func chaosConfigure(t *testing.T) chaosConfig {
	cfg := chaosConfig{nodes: 3, users: 60, tabs: 6, rooms: 6, hubPublishers: 3,
		interval: 20 * time.Millisecond, rounds: 1, seed: uint64(time.Now().UnixNano())}
	if v := os.Getenv("SSEKIFY_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SSEKIFY_CHAOS_DURATION: %v", err)
		}
		cfg.rounds = max(1, int(d/chaosRoundLength))
	}
	if v := os.Getenv("SSEKIFY_CHAOS_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("SSEKIFY_CHAOS_SEED: %v", err)
		}
		cfg.seed = s
	}
	return cfg
}

// chaosRun is one run: the processes, the clients and what they recorded.
// The phases, the orchestration and the analysis belong to the test
// goroutine; each session and publisher records into its own struct on its
// own goroutine, read after that goroutine ended.
type chaosRun struct {
	t   *testing.T
	cfg chaosConfig
	t0  time.Time
	rng *rand.Rand

	redis    *redistest.Server
	proxies  []*chaosProxy
	nodes    []*chaosNode
	probe    *ssekify.Hub // publishes the probes of delivering
	probes   int
	pubs     []*chaosPublisher
	sessions []*chaosSession
	users    []string
	rooms    []string
	phases   []chaosPhase

	streams *http.Client // SSE: no keep-alive, no overall timeout
	calls   *http.Client // /publish and /stats

	stopPubs, stopSessions context.CancelFunc
	pubsDone, sessionsDone sync.WaitGroup
	nodeStats              []string
}

// now is the time since the start of the run, the clock of every record.
func (r *chaosRun) now() time.Duration { return time.Since(r.t0) }

// chaosPhase is a labelled stretch of the run; an event belongs to the
// phase in which its publish call started, a received gap event to the
// phase in which it arrived.
type chaosPhase struct {
	kind       string
	start, end time.Duration
}

func (r *chaosRun) phase(kind string) {
	now := r.now()
	if n := len(r.phases); n > 0 {
		r.phases[n-1].end = now
	}
	r.phases = append(r.phases, chaosPhase{kind: kind, start: now, end: math.MaxInt64})
	r.t.Logf("chaos: %6.1fs phase %s", now.Seconds(), kind)
}

// phaseAt returns the kind of the phase running at at.
func (r *chaosRun) phaseAt(at time.Duration) string {
	kind := "setup"
	for _, p := range r.phases {
		if p.start > at {
			break
		}
		kind = p.kind
	}
	return kind
}

// setUp starts redis-server, the proxies, the nodes, the publishers and the
// sessions, and returns once every session holds a stream with an id and
// every publisher runs. Cleanups stop everything in the reverse order.
func (r *chaosRun) setUp() {
	t := r.t
	r.redis = redistest.Start(t)
	bin := chaosBuildNode(t)
	r.streams = &http.Client{Transport: &http.Transport{
		DisableKeepAlives:     true,
		DialContext:           (&net.Dialer{Timeout: time.Second}).DialContext,
		ResponseHeaderTimeout: 2 * time.Second,
	}}
	callTransport := &http.Transport{
		MaxIdleConnsPerHost: 4,
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
	}
	r.calls = &http.Client{Transport: callTransport, Timeout: 2 * time.Second}
	t.Cleanup(callTransport.CloseIdleConnections)

	for i := 0; i < r.cfg.nodes; i++ {
		p := chaosStartProxy(t, r.redis.Addr)
		r.proxies = append(r.proxies, p)
		n := &chaosNode{idx: i, bin: bin, redisAddr: p.addr(), logPath: filepath.Join(t.TempDir(), fmt.Sprintf("node%d.log", i)),
			lifetime: time.Duration(r.cfg.rounds)*2*chaosRoundLength + 10*time.Minute}
		n.start(t)
		t.Cleanup(func() { n.stop(t) })
		r.nodes = append(r.nodes, n)
	}
	r.probe = chaosHub(t, r.redis.Addr)
	for i := 0; i < r.cfg.hubPublishers; i++ {
		r.pubs = append(r.pubs, chaosHubPublisher(len(r.pubs), chaosHub(t, r.redis.Addr)))
	}
	for i := range r.nodes {
		r.pubs = append(r.pubs, r.nodePublisher(len(r.pubs), i))
	}
	for i := range r.pubs {
		r.pubs[i].rng = rand.New(rand.NewPCG(r.cfg.seed, uint64(1000+i)))
	}
	for i := 0; i < r.cfg.rooms; i++ {
		r.rooms = append(r.rooms, fmt.Sprintf("room%d", i))
	}
	for i := 0; i < r.cfg.users; i++ {
		r.users = append(r.users, fmt.Sprintf("u%02d", i))
	}
	for i := 0; i < r.cfg.users+r.cfg.tabs; i++ {
		u := i % r.cfg.users
		s := &chaosSession{idx: i, user: r.users[u], roomSet: map[string]bool{}, coveredFrom: -1,
			rng: rand.New(rand.NewPCG(r.cfg.seed, uint64(2000+i)))}
		s.name = s.user
		if i >= r.cfg.users {
			s.name += "#2"
		}
		// Two thirds of the users are in a room, a quarter in two.
		if u%3 != 2 {
			s.rooms = append(s.rooms, r.rooms[u%r.cfg.rooms])
		}
		if u%4 == 0 {
			s.rooms = append(s.rooms, r.rooms[(u+3)%r.cfg.rooms])
		}
		for _, room := range s.rooms {
			s.roomSet[room] = true
		}
		r.sessions = append(r.sessions, s)
	}

	for i := range r.nodes {
		if !r.delivering(i, chaosRecover) {
			t.Fatalf("chaos: node %d delivers no published event; its log:\n%s", i, r.nodes[i].logTail())
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.stopSessions = cancel
	for _, s := range r.sessions {
		r.sessionsDone.Add(1)
		go func() {
			defer r.sessionsDone.Done()
			s.run(ctx, r)
		}()
	}
	t.Cleanup(func() { cancel(); r.sessionsDone.Wait() })
	deadline := time.Now().Add(chaosRecover)
	for _, s := range r.sessions {
		for !s.ready.Load() {
			if time.Now().After(deadline) {
				t.Fatalf("chaos: session %s got no stream with an id within %v", s.name, chaosRecover)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	pctx, pcancel := context.WithCancel(context.Background())
	r.stopPubs = pcancel
	maxCalls := int((time.Duration(r.cfg.rounds)*2*chaosRoundLength + time.Minute) / r.cfg.interval)
	for _, p := range r.pubs {
		r.pubsDone.Add(1)
		go func() {
			defer r.pubsDone.Done()
			p.run(pctx, r, maxCalls)
		}()
	}
	t.Cleanup(func() { pcancel(); r.pubsDone.Wait() })
}

// schedule runs the fault phases, round after round.
func (r *chaosRun) schedule() {
	n := len(r.nodes)
	for round := 0; round < r.cfg.rounds; round++ {
		if round == 0 {
			r.phase("steady")
			time.Sleep(chaosSteady)
		}

		r.phase("churn")
		r.churn(chaosChurn)
		r.phase("quiet")
		time.Sleep(chaosQuiet)

		victim := r.nodes[round%n]
		r.phase("kill-node")
		time.Sleep(chaosLead)
		victim.kill()
		r.t.Logf("chaos: node %d killed", victim.idx)
		time.Sleep(chaosKillDown)
		victim.start(r.t)
		r.t.Logf("chaos: node %d started again on %s", victim.idx, victim.addr())
		r.recover("kill-node")
		time.Sleep(chaosSettle)
		r.phase("quiet")
		time.Sleep(chaosQuiet)

		r.phase("redis-reset")
		time.Sleep(chaosLead)
		r.redis.Kill()
		r.t.Logf("chaos: redis-server killed")
		time.Sleep(chaosResetDown)
		r.redis.Restart(r.t)
		r.t.Logf("chaos: redis-server started again, empty, on %s", r.redis.Addr)
		r.recover("redis-reset")
		time.Sleep(chaosSettle)
		r.phase("quiet")
		time.Sleep(chaosQuiet)

		cut := (round + 1) % n
		r.phase("redis-cut")
		time.Sleep(chaosLead)
		r.proxies[cut].cutOff()
		r.t.Logf("chaos: node %d cut off Redis", cut)
		time.Sleep(chaosCut)
		r.proxies[cut].heal()
		r.t.Logf("chaos: node %d reaches Redis again (%d connections cut or refused)", cut, r.proxies[cut].cuts.Load())
		r.recover("redis-cut")
		time.Sleep(chaosSettle)
		r.phase("quiet")
		time.Sleep(chaosQuiet)
	}
}

// churn cuts a random session's stream about every second per session,
// for d: it reconnects at once to a random instance with its Last-Event-ID.
func (r *chaosRun) churn(d time.Duration) {
	every := time.Second / time.Duration(len(r.sessions))
	tick := time.NewTicker(every)
	defer tick.Stop()
	for end := time.Now().Add(d); time.Now().Before(end); {
		<-tick.C
		r.sessions[r.rng.IntN(len(r.sessions))].cut()
	}
}

// recover waits until every instance delivers published events again.
func (r *chaosRun) recover(after string) {
	start := time.Now()
	for i := range r.nodes {
		if !r.delivering(i, chaosRecover) {
			r.t.Errorf("chaos: %s: node %d delivers no published event %v after the fault; its log:\n%s",
				after, i, chaosRecover, r.nodes[i].logTail())
		}
	}
	r.t.Logf("chaos: every node delivers again (%v)", time.Since(start).Round(10*time.Millisecond))
}

// delivering reports, within d, whether node i delivers to a new stream an
// event published by another instance: it opens a stream of a probe user
// and publishes probes to it until one arrives.
func (r *chaosRun) delivering(i int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for try := 0; try < 100 && time.Now().Before(deadline); try++ {
		if r.probeOnce(i, deadline) {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func (r *chaosRun) probeOnce(i int, deadline time.Time) bool {
	user := fmt.Sprintf("chaos-probe-%d", i)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	s, err := ssetest.Connect(ctx, r.streams, r.nodes[i].url()+"/sse?user="+user, nil)
	if err != nil {
		return false
	}
	defer s.Close()
	for k := 0; k < 10 && time.Now().Before(deadline); k++ {
		r.probes++
		nonce := strconv.Itoa(r.probes)
		pctx, pcancel := context.WithTimeout(ctx, chaosCallTimeout)
		err := r.probe.PublishToUser(pctx, user, ssekify.Event{Name: "probe", Data: nonce})
		pcancel()
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
			ev, err := s.Next(time.Until(end))
			if errors.Is(err, ssetest.ErrTimeout) {
				break
			}
			if err != nil {
				return false // the stream ended: open another
			}
			if ev.Type == "probe" && ev.Data == strconv.Quote(nonce) {
				return true
			}
		}
	}
	return false
}

// finish stops the publishers, lets every session receive what it still
// can, and stops the sessions.
func (r *chaosRun) finish() {
	r.stopPubs()
	r.pubsDone.Wait()
	r.phase("drain")
	total := func() (n int64) {
		for _, s := range r.sessions {
			n += s.received.Load()
		}
		return n
	}
	last, still := total(), time.Now()
	for end := time.Now().Add(chaosDrainMax); time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
		if n := total(); n != last {
			last, still = n, time.Now()
			continue
		}
		live := true
		for _, s := range r.sessions {
			live = live && s.live.Load()
		}
		if live && time.Since(still) >= chaosDrainStill {
			break
		}
	}
	for i, n := range r.nodes {
		if !n.running() {
			r.t.Errorf("chaos: node %d is not running at the end; its log:\n%s", i, n.logTail())
			continue
		}
		r.nodeStats = append(r.nodeStats, fmt.Sprintf("node %d: %s", i, r.stats(n)))
	}
	r.phases[len(r.phases)-1].end = r.now()
	r.stopSessions()
	r.sessionsDone.Wait()
}

// stats returns the non-zero counters of a node's hub.Stats.
func (r *chaosRun) stats(n *chaosNode) string {
	resp, err := r.calls.Get(n.url() + "/stats")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return err.Error()
	}
	var parts []string
	for k, v := range m {
		if f, ok := v.(float64); ok && f != 0 {
			parts = append(parts, fmt.Sprintf("%s=%v", k, f))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// chaosBuildNode builds internal/chaosnode into a temporary directory, with
// the race detector when this test runs with it (the packages are then
// already compiled that way).
func chaosBuildNode(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("chaos: the go command is needed to build internal/chaosnode: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "chaosnode")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goBin, append(args, "./internal/chaosnode")...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chaos: go build ./internal/chaosnode: %v\n%s", err, out)
	}
	t.Logf("chaos: built chaosnode in %v", time.Since(start).Round(100*time.Millisecond))
	return bin
}

// chaosHub returns a PublishOnly hub on its own go-redis client of addr,
// shut down when the test ends. The client does not retry: a command whose
// reply was lost may have run, and go-redis running it again would publish
// an event twice behind the hub's back.
func chaosHub(t *testing.T, addr string) *ssekify.Hub {
	rc := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second, DialerRetries: 1})
	t.Cleanup(func() { _ = rc.Close() })
	h, err := ssekify.New(&ssekify.Options{Redis: ssekify.NewRedisBroker(rc), PublishOnly: true})
	if err != nil {
		t.Fatalf("chaos: New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.Shutdown(ctx, ssekify.ShutdownOptions{Grace: -1, NoAnnounce: true}); err != nil {
			t.Errorf("chaos: Shutdown: %v", err)
		}
	})
	return h
}

// ---- publishers

// chaosAttempt is one publish call: its target, when it started and
// returned (since the start of the run), and whether it returned nil. Its
// sequence number is its index in the publisher's attempts plus one.
type chaosAttempt struct {
	kind       byte // 'u' user, 'r' room, 'a' everyone
	target     string
	start, end time.Duration
	ok         bool
}

// chaosPublisher calls its send every interval, one call at a time (a call
// returns before the next starts, so its successful calls are ordered), with
// the data {"p": idx, "s": seq}.
type chaosPublisher struct {
	idx      int
	name     string
	rng      *rand.Rand
	send     func(ctx context.Context, kind byte, target string, data []byte) error
	attempts []chaosAttempt
	errs     map[string]int // error texts, clipped
}

func chaosHubPublisher(idx int, h *ssekify.Hub) *chaosPublisher {
	return &chaosPublisher{idx: idx, name: fmt.Sprintf("hub%d", idx), errs: map[string]int{},
		send: func(ctx context.Context, kind byte, target string, data []byte) error {
			ev := ssekify.Event{Name: "chaos", Data: json.RawMessage(data)}
			switch kind {
			case 'u':
				return h.PublishToUser(ctx, target, ev)
			case 'r':
				return h.PublishToRoom(ctx, target, ev)
			default:
				return h.Publish(ctx, ev)
			}
		}}
}

// nodePublisher publishes through node i's POST /publish: 204 means its
// Publish* returned nil.
func (r *chaosRun) nodePublisher(idx, i int) *chaosPublisher {
	kinds := map[byte]string{'u': "user", 'r': "room", 'a': "all"}
	return &chaosPublisher{idx: idx, name: fmt.Sprintf("node%d", i), errs: map[string]int{},
		send: func(ctx context.Context, kind byte, target string, data []byte) error {
			q := url.Values{"kind": {kinds[kind]}, "target": {target}}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.nodes[i].url()+"/publish?"+q.Encode(), bytes.NewReader(data))
			if err != nil {
				return err
			}
			resp, err := r.calls.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			if resp.StatusCode != http.StatusNoContent {
				return fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(body))
			}
			return nil
		}}
}

func (p *chaosPublisher) run(ctx context.Context, r *chaosRun, maxCalls int) {
	tick := time.NewTicker(r.cfg.interval)
	defer tick.Stop()
	for len(p.attempts) < maxCalls {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a := chaosAttempt{kind: 'a'}
		switch x := p.rng.IntN(100); {
		case x < 50:
			a.kind, a.target = 'u', r.users[p.rng.IntN(len(r.users))]
		case x < 80:
			a.kind, a.target = 'r', r.rooms[p.rng.IntN(len(r.rooms))]
		}
		data := fmt.Appendf(nil, `{"p":%d,"s":%d}`, p.idx, len(p.attempts)+1)
		cctx, cancel := context.WithTimeout(context.Background(), chaosCallTimeout)
		a.start = r.now()
		err := p.send(cctx, a.kind, a.target, data)
		a.end = r.now()
		cancel()
		a.ok = err == nil
		if err != nil {
			msg := err.Error()
			if len(msg) > 90 {
				msg = msg[:90] + "…"
			}
			p.errs[msg]++
		}
		p.attempts = append(p.attempts, a)
	}
}

// ---- sessions

// chaosSession is one SSE client (a browser tab) of a user: it holds one
// stream at a time, on an instance chosen at random at every connect (a load
// balancer without sticky sessions), and reconnects with the last event id
// it saw, as EventSource does.
type chaosSession struct {
	idx     int
	name    string
	user    string
	rooms   []string
	roomSet map[string]bool
	rng     *rand.Rand

	// Written by the session's goroutine only.
	items       []chaosItem
	gaps        []chaosGap
	lastID      string
	coveredFrom time.Duration // when it first had a Last-Event-ID; -1 before
	connects    int
	failures    int // connection attempts that got no stream
	malformed   []string

	received atomic.Int64 // items
	ready    atomic.Bool  // coveredFrom is set
	live     atomic.Bool  // a stream is open

	mu     sync.Mutex
	cancel context.CancelFunc // of the open stream
}

// chaosItem is one event a session received, in the order received: a
// published event (pub, seq) or the gap event gaps[gap].
type chaosItem struct {
	at       time.Duration
	pub, seq int32
	gap      int32 // -1 for a published event
}

// chaosGap is the data of a gap event (see replay.go gapData).
type chaosGap struct {
	Reason string `json:"reason"`
	Missed int    `json:"missed"`
	Exact  bool   `json:"exact"`
	First  string `json:"first"`
	Last   string `json:"last"`
	raw    string
}

// cut ends the session's open stream, if any; it reconnects at once.
func (s *chaosSession) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
}

func (s *chaosSession) run(ctx context.Context, r *chaosRun) {
	n := len(r.nodes)
	avoid := -1 // the node whose stream just broke or refused us
	for attempt := 0; attempt < chaosMaxConnects && ctx.Err() == nil; attempt++ {
		node := s.rng.IntN(n)
		if node == avoid {
			node = (node + 1 + s.rng.IntN(n-1)) % n
		}
		opened, cut := s.stream(ctx, r, node)
		avoid = -1
		if !cut {
			avoid = node
		}
		if !opened {
			chaosPause(ctx, time.Duration(20+s.rng.IntN(100))*time.Millisecond)
		}
	}
}

// stream holds one stream on node until it ends, and reports whether it
// opened and whether it ended by cut.
func (s *chaosSession) stream(ctx context.Context, r *chaosRun, node int) (opened, cut bool) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.cancel = cancel
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.cancel = nil
		s.mu.Unlock()
		cut = sctx.Err() != nil && ctx.Err() == nil
	}()

	q := url.Values{"user": {s.user}}
	if len(s.rooms) > 0 {
		q.Set("rooms", strings.Join(s.rooms, ","))
	}
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, r.nodes[node].url()+"/sse?"+q.Encode(), nil)
	if err != nil {
		s.failures++
		return false, false
	}
	req.Header.Set("Accept", "text/event-stream")
	if s.lastID != "" {
		req.Header.Set("Last-Event-ID", s.lastID)
	}
	resp, err := r.streams.Do(req)
	if err != nil {
		s.failures++
		return false, false
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		s.failures++
		return false, false
	}
	s.connects++
	s.live.Store(true)
	defer s.live.Store(false)
	p := ssetest.NewParser()
	buf := make([]byte, 32<<10)
	var evs []ssetest.Event
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			evs = p.Feed(evs[:0], buf[:n])
			at := r.now()
			for _, ev := range evs {
				s.handle(at, ev)
			}
			// What the parser took in is handled: its last id is what an
			// EventSource would send back. A new stream without id lines
			// keeps the previous one.
			if id := p.LastEventID(); id != "" {
				s.lastID = id
				if s.coveredFrom < 0 {
					s.coveredFrom = at
					s.ready.Store(true)
				}
			}
		}
		if err != nil {
			return true, false
		}
	}
}

func (s *chaosSession) handle(at time.Duration, ev ssetest.Event) {
	switch ev.Type {
	case "chaos":
		var d struct {
			P *int32 `json:"p"`
			S *int32 `json:"s"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || d.P == nil || d.S == nil {
			s.malformed = append(s.malformed, ev.Data)
			return
		}
		s.items = append(s.items, chaosItem{at: at, pub: *d.P, seq: *d.S, gap: -1})
		s.received.Add(1)
	case ssekify.DefaultGapEvent:
		g := chaosGap{raw: ev.Data}
		if err := json.Unmarshal([]byte(ev.Data), &g); err != nil {
			s.malformed = append(s.malformed, ev.Data)
			return
		}
		s.items = append(s.items, chaosItem{at: at, pub: -1, seq: -1, gap: int32(len(s.gaps))})
		s.gaps = append(s.gaps, g)
		s.received.Add(1)
	}
}

// chaosPause sleeps d or until ctx ends.
func chaosPause(ctx context.Context, d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}

// ---- nodes

// chaosNode is one chaosnode process, restarted on the same port when it
// can be.
type chaosNode struct {
	idx       int
	bin       string
	redisAddr string
	logPath   string
	lifetime  time.Duration // the process exits after it, whatever happens

	mu      sync.Mutex
	address string     // 127.0.0.1:port
	proc    *chaosProc // the current process
	killed  bool       // the current process was killed on purpose
}

// chaosProc is one process of a node; err is set before done is closed.
type chaosProc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func (n *chaosNode) addr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.address
}

func (n *chaosNode) url() string { return "http://" + n.addr() }

// start launches the node on its port (a free one the first time, or when
// its port was taken meanwhile) and waits until it listens.
func (n *chaosNode) start(t *testing.T) {
	t.Helper()
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		addr := n.addr()
		if addr == "" || attempt > 0 {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t)))
		}
		if err = n.launch(addr); err == nil {
			return
		}
	}
	t.Fatalf("chaos: starting node %d: %v", n.idx, err)
}

func (n *chaosNode) launch(addr string) error {
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	offset := info.Size()
	// A short route grace: a session that comes back to a node after it
	// finds its user's channel dropped, and subscribed again meanwhile.
	cmd := exec.Command(n.bin, "-redis", n.redisAddr, "-addr", addr, "-id", fmt.Sprintf("n%d", n.idx), "-lifetime", n.lifetime.String(),
		"-route-grace", chaosRouteGrace.String())
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return err
	}
	p := &chaosProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.mu.Lock()
	n.proc, n.killed = p, false
	n.mu.Unlock()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(n.logPath); err == nil && int64(len(b)) > offset {
			for _, line := range strings.Split(string(b[offset:]), "\n") {
				if a, ok := strings.CutPrefix(line, "listening "); ok {
					n.mu.Lock()
					n.address = strings.TrimSpace(a)
					n.mu.Unlock()
					return nil
				}
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited (%v) before listening on %s:\n%s", p.err, addr, n.logTail())
		default:
		}
	}
	_ = cmd.Process.Kill()
	<-p.done
	return fmt.Errorf("not listening on %s after 10s:\n%s", addr, n.logTail())
}

func (n *chaosNode) current() (*chaosProc, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc, n.killed
}

func (n *chaosNode) running() bool {
	p, _ := n.current()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the exit.
func (n *chaosNode) kill() {
	n.mu.Lock()
	p := n.proc
	n.killed = true
	n.mu.Unlock()
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM, waits at most 5 s (then kills), and fails the test
// when the node had exited by itself, exited with an error, or found a race.
func (n *chaosNode) stop(t *testing.T) {
	p, killed := n.current()
	if p == nil {
		return
	}
	select {
	case <-p.done:
		if !killed {
			t.Errorf("chaos: node %d had exited by itself (%v); its log:\n%s", n.idx, p.err, n.logTail())
		}
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
			if p.err != nil {
				t.Errorf("chaos: node %d exited with %v after SIGTERM; its log:\n%s", n.idx, p.err, n.logTail())
			}
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("chaos: node %d did not exit within 5s of SIGTERM; its log:\n%s", n.idx, n.logTail())
		}
	}
	if b, err := os.ReadFile(n.logPath); err == nil && bytes.Contains(b, []byte("DATA RACE")) {
		t.Errorf("chaos: node %d found a data race; its log:\n%s", n.idx, n.logTail())
	}
}

// logTail returns the end of the node's log (every process of it).
func (n *chaosNode) logTail() string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

// ---- the proxy of a node's Redis connections

// chaosProxy forwards TCP connections to target. Cut off, it resets every
// connection it carries and resets new ones at once, as a network cut
// seen by both ends does; healed, it forwards again.
type chaosProxy struct {
	ln     net.Listener
	target string
	off    atomic.Bool
	cuts   atomic.Int64 // connections reset

	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func chaosStartProxy(t *testing.T, target string) *chaosProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("chaos: proxy: %v", err)
	}
	p := &chaosProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.resetAll()
		p.wg.Wait()
	})
	return p
}

func (p *chaosProxy) addr() string { return p.ln.Addr().String() }

func (p *chaosProxy) cutOff() {
	p.off.Store(true)
	p.resetAll()
}

func (p *chaosProxy) heal() { p.off.Store(false) }

func (p *chaosProxy) resetAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		chaosReset(c)
		p.cuts.Add(1)
	}
	clear(p.conns)
}

// chaosReset closes c with a TCP reset.
func chaosReset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

func (p *chaosProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.off.Load() {
			chaosReset(c)
			p.cuts.Add(1)
			continue
		}
		u, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			chaosReset(c)
			continue
		}
		p.mu.Lock()
		if p.off.Load() {
			p.mu.Unlock()
			chaosReset(c)
			chaosReset(u)
			p.cuts.Add(1)
			continue
		}
		p.conns[c], p.conns[u] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(u, c)
		go p.pipe(c, u)
	}
}

// pipe copies src to dst; when either ends, both are closed.
func (p *chaosProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(dst, src)
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
	_ = dst.Close()
	_ = src.Close()
}

// ---- analysis

// trace logs what session name received, in order.
func (r *chaosRun) trace(name string) {
	for _, s := range r.sessions {
		if name == "" || s.name != name {
			continue
		}
		var b strings.Builder
		for _, it := range s.items {
			if it.gap >= 0 {
				fmt.Fprintf(&b, "%8.3fs  gap event %s\n", it.at.Seconds(), s.gaps[it.gap].raw)
				continue
			}
			if it.pub < 0 || int(it.pub) >= len(r.pubs) || it.seq < 1 || int(it.seq) > len(r.pubs[it.pub].attempts) {
				fmt.Fprintf(&b, "%8.3fs  unknown p=%d s=%d\n", it.at.Seconds(), it.pub, it.seq)
				continue
			}
			p := r.pubs[it.pub]
			a := p.attempts[it.seq-1]
			fmt.Fprintf(&b, "%8.3fs  %s#%d to %c:%s, call %.3fs-%.3fs ok=%v (%s)\n", it.at.Seconds(), p.name, it.seq,
				a.kind, a.target, a.start.Seconds(), a.end.Seconds(), a.ok, r.phaseAt(a.start))
		}
		r.t.Logf("chaos: session %s (rooms %v): first id at %.3fs, %d streams; received:\n%s",
			s.name, s.rooms, s.coveredFrom.Seconds(), s.connects, b.String())
	}
}

// chaosRow counts, for one kind of phase, the publish calls that started in
// it and what became of their events at every session.
type chaosRow struct {
	kind                string
	okCalls, failed     int // publish calls
	expected, delivered int // (event, session) pairs
	silent, covered     int
	dups, reorders      int
	failedDelivered     int            // events of failed calls that arrived anyway (allowed, once)
	gaps                map[string]int // gap events received in the phase, by reason
}

type chaosResult struct {
	rows      map[string]*chaosRow
	misrouted int // events that arrived at a session they do not address
	unknown   int // events no publisher made
	malformed int
	badGaps   int // gap events outside a redis-reset phase or with another reason
	examples  map[string][]string
	connects  int
	failures  int
}

// chaosKinds orders the rows of the table.
var chaosKinds = []string{"setup", "steady", "churn", "kill-node", "redis-reset", "redis-cut", "quiet", "drain"}

func (res *chaosResult) row(kind string) *chaosRow {
	if res.rows[kind] == nil {
		res.rows[kind] = &chaosRow{kind: kind, gaps: map[string]int{}}
	}
	return res.rows[kind]
}

func (res *chaosResult) example(what, format string, args ...any) {
	if len(res.examples[what]) < 6 {
		res.examples[what] = append(res.examples[what], fmt.Sprintf(format, args...))
	}
}

// chaosExpected reports whether session s must get the event of attempt a.
// Precisely, and conservatively (an event is expected only when its fate
// is certain):
//
//  1. a's Publish* call returned nil: for a node publisher, the node
//     answered 204, so its Publish* returned nil. A call that returned an
//     error, timed out or whose answer was lost may or may not have
//     published: its event is never expected; if it arrives it must
//     arrive once (duplicates are counted for every event).
//  2. a addresses s: its target is s's user, one of s's rooms (the rooms
//     are fixed for the run and sent on every connect), or everyone.
//  3. a's call started after s first had a Last-Event-ID (the id line
//     that opens its first stream, or its first event with an id): from
//     then on, until the end of the drain, s is at every moment either
//     holding a stream or reconnecting with that id; it never gives up.
//
// Times are those of this process, which bracket the publish on the node.
func chaosExpected(s *chaosSession, a chaosAttempt) bool {
	return a.ok && chaosAddresses(s, a) && a.start > s.coveredFrom
}

func chaosAddresses(s *chaosSession, a chaosAttempt) bool {
	switch a.kind {
	case 'u':
		return a.target == s.user
	case 'r':
		return s.roomSet[a.target]
	default:
		return true
	}
}

// chaosWindow is the range of publish times a gap event may cover.
type chaosWindow struct{ lo, hi time.Duration }

// chaosCovered reports whether an expected event a that s did not get is
// covered by one of s's gap events. A gap event G covers the expected
// events that may lie, in the global order, between the last event s got
// before G and the first it got after G (in s's order of receipt across its
// streams; none before or after: unbounded). Only events of successful
// calls serve as these neighbours, since a call's event is published
// within its call. a may lie between the neighbours b (before) and c (after)
// unless its call ended before b's started or started after c's ended:
// coverage is generous to the hub, the opposite of chaosExpected, so a
// silent loss is certain.
func chaosCovered(a chaosAttempt, wins []chaosWindow) bool {
	for _, w := range wins {
		if a.end >= w.lo && a.start <= w.hi {
			return true
		}
	}
	return false
}

func (r *chaosRun) analyze() *chaosResult {
	res := &chaosResult{rows: map[string]*chaosRow{}, examples: map[string][]string{}}
	for _, p := range r.pubs {
		for _, a := range p.attempts {
			row := res.row(r.phaseAt(a.start))
			if a.ok {
				row.okCalls++
			} else {
				row.failed++
			}
		}
	}
	for _, s := range r.sessions {
		res.connects += s.connects
		res.failures += s.failures
		res.malformed += len(s.malformed)
		for _, m := range s.malformed {
			res.example("malformed", "%s: %q", s.name, m)
		}
		seen := make([][]uint8, len(r.pubs))
		last := make([]int32, len(r.pubs)) // highest seq received per publisher, of successful calls
		for i, p := range r.pubs {
			seen[i] = make([]uint8, len(p.attempts)+1)
		}
		var wins, open []chaosWindow // open: gap windows waiting for their upper bound
		lo := time.Duration(math.MinInt64)
		for _, it := range s.items {
			if it.gap >= 0 {
				g := s.gaps[it.gap]
				kind := r.phaseAt(it.at)
				res.row(kind).gaps[g.Reason]++
				if kind != "redis-reset" || g.Reason != "reset" {
					res.badGaps++
					res.example("gap events outside redis-reset or not \"reset\"", "%s at %.1fs (%s): %s", s.name, it.at.Seconds(), kind, g.raw)
				}
				open = append(open, chaosWindow{lo: lo, hi: math.MaxInt64})
				continue
			}
			if it.pub < 0 || int(it.pub) >= len(r.pubs) || it.seq < 1 || int(it.seq) > len(r.pubs[it.pub].attempts) {
				res.unknown++
				res.example("unknown", "%s at %.1fs: p=%d s=%d", s.name, it.at.Seconds(), it.pub, it.seq)
				continue
			}
			p := r.pubs[it.pub]
			a := p.attempts[it.seq-1]
			row := res.row(r.phaseAt(a.start))
			if !chaosAddresses(s, a) {
				res.misrouted++
				res.example("misrouted", "%s (rooms %v) got %s#%d to %c:%s", s.name, s.rooms, p.name, it.seq, a.kind, a.target)
			}
			seen[it.pub][it.seq]++
			if seen[it.pub][it.seq] > 1 {
				if seen[it.pub][it.seq] == 2 {
					row.dups++
					res.example("duplicates", "%s got %s#%d (%s, published %.2fs) again at %.2fs", s.name, p.name, it.seq, row.kind, a.start.Seconds(), it.at.Seconds())
				}
				seen[it.pub][it.seq] = 2
				continue
			}
			if !a.ok {
				row.failedDelivered++
				continue
			}
			for _, w := range open {
				w.hi = a.end
				wins = append(wins, w)
			}
			open = open[:0]
			lo = a.start
			if it.seq < last[it.pub] {
				row.reorders++
				res.example("reorders", "%s got %s#%d (%s) at %.2fs after #%d", s.name, p.name, it.seq, row.kind, it.at.Seconds(), last[it.pub])
			} else {
				last[it.pub] = it.seq
			}
		}
		wins = append(wins, open...)
		for pi, p := range r.pubs {
			for i, a := range p.attempts {
				if !chaosExpected(s, a) {
					continue
				}
				row := res.row(r.phaseAt(a.start))
				row.expected++
				switch {
				case seen[pi][i+1] > 0:
					row.delivered++
				case chaosCovered(a, wins):
					row.covered++
				default:
					row.silent++
					res.example("silent losses", "%s missed %s#%d to %c:%s (%s, call %.2fs-%.2fs)", s.name, p.name, i+1, a.kind, a.target, row.kind, a.start.Seconds(), a.end.Seconds())
				}
			}
		}
	}
	return res
}

// log writes the table, the publishers' errors, the nodes' counters and
// examples of every failure.
func (res *chaosResult) log(t *testing.T, r *chaosRun) {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\tcalls ok\tfailed\texpected\tdelivered\tsilent loss\tduplicate\treorder\tgap-covered\tfailed, arrived\tgap events received\t")
	for _, kind := range chaosKinds {
		row := res.rows[kind]
		if row == nil {
			continue
		}
		var gaps []string
		for reason, n := range row.gaps {
			gaps = append(gaps, fmt.Sprintf("%s:%d", reason, n))
		}
		slices.Sort(gaps)
		g := strings.Join(gaps, " ")
		if g == "" {
			g = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", row.kind, row.okCalls, row.failed, row.expected,
			row.delivered, row.silent, row.dups, row.reorders, row.covered, row.failedDelivered, g)
	}
	_ = tw.Flush()
	t.Logf("chaos: events by the phase their publish call started in (gap events: by the phase they arrived in)\n%s", b.String())
	t.Logf("chaos: %d sessions, %d streams opened, %d connection attempts without a stream; misrouted %d, unknown %d, malformed %d",
		len(r.sessions), res.connects, res.failures, res.misrouted, res.unknown, res.malformed)
	for _, p := range r.pubs {
		var errs []string
		for msg, n := range p.errs {
			errs = append(errs, fmt.Sprintf("%d× %s", n, msg))
		}
		slices.Sort(errs)
		if len(errs) > 4 {
			errs = append(errs[:4], "…")
		}
		t.Logf("chaos: publisher %s: %d calls; errors: %s", p.name, len(p.attempts), strings.Join(errs, "; "))
	}
	for _, s := range r.nodeStats {
		t.Logf("chaos: %s", s)
	}
	whats := make([]string, 0, len(res.examples))
	for what := range res.examples {
		whats = append(whats, what)
	}
	slices.Sort(whats)
	for _, what := range whats {
		t.Logf("chaos: first %s:\n  %s", what, strings.Join(res.examples[what], "\n  "))
	}
}

// check asserts what the table must show.
func (res *chaosResult) check(t *testing.T) {
	var silent, dups, reorders, covered, expected int
	for _, row := range res.rows {
		silent += row.silent
		dups += row.dups
		reorders += row.reorders
		expected += row.expected
		if row.kind != "redis-reset" {
			covered += row.covered
		}
	}
	for _, kind := range []string{"steady", "churn", "kill-node", "redis-reset", "redis-cut", "quiet"} {
		if row := res.rows[kind]; row == nil || row.okCalls == 0 || row.expected == 0 {
			t.Errorf("chaos: phase %s published nothing that was expected: the run proves nothing there", kind)
		}
	}
	if silent+dups+reorders+covered+res.misrouted+res.unknown+res.malformed+res.badGaps > 0 {
		t.Errorf("chaos: of %d expected deliveries: %d silent losses, %d duplicates, %d reorders, %d gap-covered outside redis-reset; "+
			"%d misrouted, %d unknown, %d malformed events; %d gap events outside redis-reset or with a reason other than \"reset\"",
			expected, silent, dups, reorders, covered, res.misrouted, res.unknown, res.malformed, res.badGaps)
	}
}
