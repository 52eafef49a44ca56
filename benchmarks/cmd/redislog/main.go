// Command redislog measures cross-instance publishing through Redis with
// ssekify's public API only: it starts its own redis-server on a free
// loopback port, runs two hubs in this process ("A" publishes, "B" serves
// streams over real HTTP on 127.0.0.1), each with its own go-redis client
// and ssekify.NewRedisBroker, and measures
//
//   - publish throughput from A, with 1 and with 64 publisher goroutines;
//   - publish-to-receive latency on an SSE client of B at fixed offered rates;
//   - replay after a reconnect to B with Last-Event-ID, from a stream that
//     was on B and from one that was on A (cross-instance);
//   - the Redis memory each published event leaves behind (INFO memory);
//   - for reference, redis-benchmark's plain PUBLISH rate on the same server, and its rate
//     for a 4-command publish script (HINCRBY, XADD, PEXPIRE, PUBLISH).
//
// Every scenario is bounded in count and in time. The report is a markdown
// section printed on stdout; -out FILE appends it to FILE (creating it with
// a title when it does not exist), under the heading given by -label.
//
// Run it from the benchmarks directory:
//
//	go run ./cmd/redislog -label before -out results/redislog.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/cpuload"
	"github.com/ssekify/ssekify/benchmarks/internal/redisproc"

	"github.com/ssekify/ssekify/benchmarks/internal/mdfmt"
)

// config holds the command's flags.
type config struct {
	label        string
	out          string
	scenarios    []string
	size         int
	tpEvents     int
	tpTime       time.Duration
	latRuns      []latRun
	latTime      time.Duration
	replayReps   int
	replayK      []int
	memEvents    int
	memUsers     int
	redisServer  string
	redisBench   string
	benchN       int
	totalTimeout time.Duration
	commit       string
	busy         float64
}

// allScenarios lists the scenarios in the order they run.
var allScenarios = []string{"throughput", "latency", "replay", "memory", "reference"}

// main parses the flags, runs the scenarios and prints (and appends) the report.
func main() {
	log.SetFlags(0)
	log.SetPrefix("redislog: ")
	var c config
	var scens, latRuns, ks string
	flag.StringVar(&c.label, "label", "run", "heading of the report section (e.g. before, after)")
	flag.StringVar(&c.out, "out", "", "append the report to this markdown file (created with a title if missing)")
	flag.StringVar(&scens, "scenarios", strings.Join(allScenarios, ","), "comma-separated subset of "+strings.Join(allScenarios, ","))
	flag.IntVar(&c.size, "size", 256, "payload bytes of every published event (a JSON string)")
	flag.IntVar(&c.tpEvents, "tp-events", 100_000, "throughput: at most this many events per row")
	flag.DurationVar(&c.tpTime, "tp-time", 5*time.Second, "throughput: at most this long per row")
	flag.StringVar(&latRuns, "lat-runs", "1000x1,10000x1,10000x4", "latency: runs as RATExPUBLISHERS: events/s offered to one user, publisher goroutines sharing them")
	flag.DurationVar(&c.latTime, "lat-time", 5*time.Second, "latency: how long each run offers its rate")
	flag.IntVar(&c.replayReps, "replay-reps", 20, "replay: repetitions per row")
	flag.StringVar(&ks, "replay-k", "0,10,1000", "replay: events published while the client is away")
	flag.IntVar(&c.memEvents, "mem-events", 10_000, "memory: events published")
	flag.IntVar(&c.memUsers, "mem-users", 100, "memory: users they are spread over")
	flag.StringVar(&c.redisServer, "redis-server", "redis-server", "redis-server binary")
	flag.StringVar(&c.redisBench, "redis-benchmark", "redis-benchmark", "redis-benchmark binary for the reference figure (- to skip)")
	flag.IntVar(&c.benchN, "bench-requests", 200_000, "reference: redis-benchmark -n")
	flag.DurationVar(&c.totalTimeout, "timeout", 5*time.Minute, "hard limit on the whole run")
	flag.StringVar(&c.commit, "commit", "", "commit to name in the report when the root module is not a git checkout (a tree exported with git archive)")
	flag.Float64Var(&c.busy, "busy", 20, "before each scenario, wait (up to 20 s) until other processes take less than this % of the machine's CPU; 0: don't wait")
	var cpuProfile string
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()

	var err error
	if c.scenarios, err = parseList(scens, allScenarios); err == nil {
		if c.latRuns, err = parseLatRuns(latRuns); err == nil {
			c.replayK, err = parseInts(ks, 0)
		}
	}
	if err == nil && (c.size < 34 || c.tpEvents < 1 || c.replayReps < 1 || c.memEvents < 1 || c.memUsers < 1) {
		err = errors.New("-size must be at least 34, -tp-events, -replay-reps, -mem-events and -mem-users at least 1")
	}
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.totalTimeout)
	defer cancel()
	if cpuProfile != "" {
		f, perr := os.Create(cpuProfile)
		if perr == nil {
			perr = pprof.StartCPUProfile(f)
		}
		if perr != nil {
			log.Fatal(perr)
		}
		defer pprof.StopCPUProfile()
	}
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
		log.Printf("appended section %q to %s", c.label, c.out)
	}
	if err != nil {
		os.Exit(1)
	}
}

// run starts Redis and the two hubs, runs the chosen scenarios in order and
// returns the report. A scenario that fails is reported in its section; an
// error returned with a report means the run was cut short.
func run(ctx context.Context, c config) (*report, error) {
	started := time.Now()
	rep := &report{cfg: c, started: started.UTC(), machine: mdfmt.DescribeMachine(c.commit)}
	e, err := setup(ctx, c)
	if err != nil {
		return nil, err
	}
	defer e.close()
	rep.redisVersion = redisproc.Version(ctx, e.admin)

	var runErr error
	for _, s := range c.scenarios {
		if ctx.Err() != nil {
			runErr = fmt.Errorf("run cut short before %s: %w", s, ctx.Err())
			break
		}
		waited := cpuload.QuietBefore(ctx, e.redis.PID(), c.busy, s).Waited
		log.Printf("scenario %s", s)
		before := cpuload.Take(e.redis.PID())
		switch s {
		case "throughput":
			stop, err := e.holdTargets(ctx, tpUsers)
			if err != nil {
				return rep, err
			}
			rep.throughput = append(rep.throughput,
				e.throughput(ctx, 1, targetUsers, c.tpEvents, c.tpTime),
				e.throughput(ctx, 64, targetUsers, c.tpEvents, c.tpTime),
				e.throughput(ctx, 64, targetRoom, c.tpEvents, c.tpTime),
				e.throughput(ctx, 64, targetAll, c.tpEvents, c.tpTime),
				e.throughput(ctx, 64, targetUnheld, c.tpEvents, c.tpTime))
			stop()
		case "latency":
			for _, r := range c.latRuns {
				rep.latency = append(rep.latency, e.latency(ctx, r.rate, c.latTime, r.pubs))
			}
		case "replay":
			for _, from := range []string{"B", "A"} {
				for _, k := range c.replayK {
					rep.replay = append(rep.replay, e.replay(ctx, from, k, c.replayReps))
				}
			}
		case "memory":
			m := e.memory(ctx, c.memEvents, c.memUsers)
			rep.memory = &m
		case "reference":
			for _, pl := range []int{16, 1} {
				rep.bench = append(rep.bench, redisBenchmark(ctx, c.redisBench, e.redis, c.benchN, pl, c.size, "PUBLISH", publishCommand))
			}
			rep.bench = append(rep.bench, redisBenchmark(ctx, c.redisBench, e.redis, c.benchN, 16, c.size, "4-command script", scriptCommand))
		}
		if sh, ok := cpuload.OthersShare(before, cpuload.Take(e.redis.PID()), 100); ok {
			rep.others = append(rep.others, scenarioCPU{name: s, share: sh, waited: waited})
		}
	}
	rep.statsA, rep.statsB = e.hubA.Stats(), e.hubB.Stats()
	rep.elapsed = time.Since(started)
	return rep, runErr
}

// parseList splits a comma-separated list and checks every item is known.
func parseList(s string, known []string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !slices.Contains(known, f) {
			return nil, fmt.Errorf("unknown scenario %q (known: %s)", f, strings.Join(known, ","))
		}
		out = append(out, f)
	}
	return out, nil
}

// latRun is one run of the latency scenario.
type latRun struct{ rate, pubs int }

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
		if !ok || err1 != nil || err2 != nil || rate < 1 || pubs < 1 || pubs > 256 {
			return nil, fmt.Errorf("-lat-runs: %q is not RATExPUBLISHERS (e.g. 10000x4)", f)
		}
		out = append(out, latRun{rate, pubs})
	}
	return out, nil
}

// parseInts splits a comma-separated list of integers of at least lo.
func parseInts(s string, lo int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(f, "_", ""))
		if err != nil || n < lo {
			return nil, fmt.Errorf("%q is not an integer of at least %d", f, lo)
		}
		out = append(out, n)
	}
	return out, nil
}
