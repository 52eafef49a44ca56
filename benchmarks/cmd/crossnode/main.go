// Command crossnode measures, in one run and side by side, the
// cross-instance publish-to-deliver latency of ssekify and of centrifuge,
// each with its own Redis broker, through one redis-server that it starts
// itself on a free loopback port (no persistence).
//
// Per library, two nodes run in this process: node A publishes, node B
// serves one SSE client over HTTP on 127.0.0.1, which this tool parses line
// by line. ssekify runs two hubs, each with its own go-redis client and
// ssekify.NewRedisBroker; the client is a user stream and A calls
// PublishToUser. centrifuge runs two nodes, each with a RedisBroker on its
// own RedisShard; the client is subscribed on the server side to a
// personal channel and A calls node.Publish. Payloads are wire's format
// (send time in ns and a sequence number), 256 bytes by default.
//
// Scenarios, per library, Redis flushed between libraries:
//
//   - latency at fixed offered rates (1,000/s with one publisher goroutine,
//     10,000/s with four), 5 s each: p50, p99 and max publish-to-receive,
//     achieved rate, received, lost (not received within 5 s after the
//     end), duplicates and reorders;
//   - throughput: 64 publisher goroutines on A, at most 100,000 events or
//     5 s, to 100 users (channels) in turn with nobody subscribed: events/s
//     and the publish call's p50 and p99.
//
// Before each scenario it waits (up to 20 s) for the machine to be quiet,
// and it reports the other processes' CPU share during each. Every loop is
// bounded in count and time, and -timeout bounds the whole run. The report
// is markdown on stdout; -out FILE appends it to FILE.
//
// Run it from the benchmarks directory:
//
//	go run ./cmd/crossnode -out results/crossnode.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify/benchmarks/internal/cpuload"
	"github.com/ssekify/ssekify/benchmarks/internal/redisproc"

	"github.com/ssekify/ssekify/benchmarks/internal/mdfmt"

	"github.com/ssekify/ssekify/benchmarks/internal/sseclient"
)

// config holds the command's flags.
type config struct {
	out         string
	libs        []string
	size        int
	latRuns     []latRun
	latTime     time.Duration
	tpPubs      int
	tpEvents    int
	tpTime      time.Duration
	redisServer string
	timeout     time.Duration
	busy        float64
	commit      string
}

// latRun is one run of the latency scenario: an offered rate and the
// publisher goroutines sharing it.
type latRun struct{ rate, pubs int }

// allLibs lists the libraries in the order they run by default.
var allLibs = []string{"ssekify", "centrifuge", "centrifuge-history"}

// env is what every library's run shares: the flags, the Redis server, an
// admin client of it (INFO, FLUSHALL; never used by a library) and the
// HTTP client of the streams.
type env struct {
	cfg   config
	redis *redisproc.Server
	admin *redis.Client
	hc    *http.Client
}

// main parses the flags, runs both libraries and prints (and appends) the
// report.
func main() {
	log.SetFlags(log.Ltime)
	log.SetPrefix("crossnode: ")
	var c config
	var libs, latRuns string
	flag.StringVar(&c.out, "out", "", "append the report to this markdown file (created with a title if missing)")
	flag.StringVar(&libs, "libs", strings.Join(allLibs, ","), "libraries to run, in this order: a comma-separated subset of "+strings.Join(allLibs, ","))
	flag.IntVar(&c.size, "size", 256, "payload bytes of every published event (a JSON string)")
	flag.StringVar(&latRuns, "lat-runs", "1000x1,10000x4", "latency: runs as RATExPUBLISHERS (events/s offered to one stream, publisher goroutines sharing them)")
	flag.DurationVar(&c.latTime, "lat-time", 5*time.Second, "latency: how long each run offers its rate")
	flag.IntVar(&c.tpPubs, "tp-publishers", 64, "throughput: publisher goroutines")
	flag.IntVar(&c.tpEvents, "tp-events", 100_000, "throughput: at most this many events")
	flag.DurationVar(&c.tpTime, "tp-time", 5*time.Second, "throughput: at most this long")
	flag.StringVar(&c.redisServer, "redis-server", "redis-server", "redis-server binary")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Minute, "hard limit on the whole run")
	flag.Float64Var(&c.busy, "busy", 20, "before each scenario, wait (up to 20 s) until other processes take less than this % of the machine's CPU; 0: don't wait")
	flag.StringVar(&c.commit, "commit", "", "commit to name in the report when the root module is not a git checkout")
	flag.Parse()

	var err error
	if c.libs, err = parseList(libs, allLibs); err == nil {
		c.latRuns, err = parseLatRuns(latRuns)
	}
	if err == nil && (c.size < 34 || c.tpPubs < 1 || c.tpPubs > 1024 || c.tpEvents < 1 || c.latTime <= 0 || c.tpTime <= 0 || c.timeout <= 0) {
		err = errors.New("-size must be at least 34, -tp-publishers 1…1024, -tp-events at least 1, durations positive")
	}
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rep, err := run(ctx, c)
	if err != nil {
		log.Print(err)
		if rep == nil {
			os.Exit(1)
		}
	}
	text := rep.markdown()
	fmt.Print(text)
	if c.out != "" {
		if werr := mdfmt.Append(c.out, fileTitle, text); werr != nil {
			log.Print(werr)
			os.Exit(1)
		}
		log.Printf("appended the report to %s", c.out)
	}
	if err != nil {
		os.Exit(1)
	}
}

// run starts Redis, then runs every library in turn (Redis flushed before
// each) and returns the report. A library that can not be set up is
// reported as failed; an error returned with a report means the run was
// cut short. A watchdog kills Redis and exits if the run overstays its
// timeout by 30 s (a call that ignores its deadline).
func run(ctx context.Context, c config) (*report, error) {
	started := time.Now()
	rep := &report{cfg: c, started: started.UTC(), machine: mdfmt.DescribeMachine(c.commit), versions: moduleVersions()}
	srv, err := redisproc.Start(ctx, c.redisServer, "crossnode")
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	watchdog := srv.Watchdog(c.timeout)
	defer watchdog.Stop()
	log.Printf("redis-server on %s (pid %d)", srv.Addr, srv.PID())
	e := &env{cfg: c, redis: srv, admin: redis.NewClient(&redis.Options{Addr: srv.Addr}), hc: sseclient.NewHTTPClient()}
	defer e.admin.Close()
	rep.redisVersion = redisproc.Version(ctx, e.admin)

	var runErr error
	for _, lib := range c.libs {
		if ctx.Err() != nil {
			runErr = fmt.Errorf("run cut short before %s: %w", lib, ctx.Err())
			break
		}
		if err := redisproc.FlushAll(ctx, e.admin); err != nil {
			rep.failed = append(rep.failed, lib+": FLUSHALL: "+err.Error())
			continue
		}
		if err := e.runLib(ctx, lib, rep); err != nil {
			rep.failed = append(rep.failed, lib+": "+err.Error())
			log.Printf("%s: %v", lib, err)
		}
	}
	if runErr == nil && ctx.Err() != nil {
		runErr = fmt.Errorf("run cut short: %w", ctx.Err())
	}
	rep.elapsed = time.Since(started)
	return rep, runErr
}

// runLib sets up lib's two nodes, runs the scenarios on them (each after
// waiting for a quiet machine) into rep, and closes the nodes.
func (e *env) runLib(ctx context.Context, lib string, rep *report) error {
	var p pair
	var err error
	switch lib {
	case "ssekify":
		p, err = newSsekifyPair(e.redis.Addr)
	case "centrifuge":
		p, err = newCentrifugePair(e.redis.Addr, false)
	case "centrifuge-history":
		p, err = newCentrifugePair(e.redis.Addr, true)
	}
	if err != nil {
		return err
	}
	defer p.close()
	for _, r := range e.cfg.latRuns {
		if ctx.Err() != nil {
			return nil
		}
		w := cpuload.QuietBefore(ctx, e.redis.PID(), e.cfg.busy, fmt.Sprintf("%s latency %d/s", lib, r.rate))
		before := cpuload.Take(e.redis.PID())
		res := e.latency(ctx, lib, p, r.rate, e.cfg.latTime, r.pubs)
		res.others = measured(w, before, cpuload.Take(e.redis.PID()))
		log.Printf("%s latency %d/s ×%d: received %d of %d, p50 %s ms, p99 %s ms%s", lib, r.rate, r.pubs,
			res.received, res.sent, mdfmt.Ms(mdfmt.Pct(res.lat, 50)), mdfmt.Ms(mdfmt.Pct(res.lat, 99)), errNote(res.err))
		rep.latency = append(rep.latency, res)
	}
	if ctx.Err() != nil {
		return nil
	}
	w := cpuload.QuietBefore(ctx, e.redis.PID(), e.cfg.busy, lib+" throughput")
	before := cpuload.Take(e.redis.PID())
	res := e.throughput(ctx, lib, p, e.cfg.tpPubs, e.cfg.tpEvents, e.cfg.tpTime)
	res.others = measured(w, before, cpuload.Take(e.redis.PID()))
	log.Printf("%s throughput ×%d: %d events in %v, %d errors", lib, res.publishers, res.ok, res.elapsed.Round(time.Millisecond), res.errs)
	rep.throughput = append(rep.throughput, res)
	return nil
}

// errNote is ", failed: err" for a non-empty err, else "".
func errNote(err string) string {
	if err == "" {
		return ""
	}
	return ", failed: " + err
}

// measured returns w with the other processes' share between a and b
// (cpuload.OthersShare: this process and redis-server are the run's own);
// unknown when less than 0.2 s of the machine's CPU time passed.
func measured(w cpuload.Share, a, b cpuload.Sample) cpuload.Share {
	w.Others, w.Known = cpuload.OthersShare(a, b, 40)
	return w
}

// parseList splits a comma-separated list and checks every item is known
// and given once.
func parseList(s string, known []string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !slices.Contains(known, f) {
			return nil, fmt.Errorf("unknown library %q (known: %s)", f, strings.Join(known, ","))
		}
		if slices.Contains(out, f) {
			return nil, fmt.Errorf("library %q given twice", f)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, errors.New("-libs names no library")
	}
	return out, nil
}

// parseLatRuns parses "1000x1,10000x4".
func parseLatRuns(s string) ([]latRun, error) {
	var out []latRun
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		a, b, ok := strings.Cut(f, "x")
		rate, err1 := strconv.Atoi(strings.ReplaceAll(a, "_", ""))
		pubs, err2 := strconv.Atoi(b)
		if !ok || err1 != nil || err2 != nil || rate < 1 || rate > 1_000_000 || pubs < 1 || pubs > 256 {
			return nil, fmt.Errorf("-lat-runs: %q is not RATExPUBLISHERS (e.g. 10000x4)", f)
		}
		out = append(out, latRun{rate, pubs})
	}
	return out, nil
}
