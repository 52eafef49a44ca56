// Command routing measures what interest routing changes for a cluster of
// ssekify instances on one Redis: how many of the cluster's envelopes each
// instance reads, the bytes Redis sends, each instance's CPU per delivered
// event, and how fast a wave of new streams gets routed (issue 13).
//
// It runs as several processes, since 10,000 client connections and
// 10,000 server connections do not fit in one process's file limit. The
// coordinator (the default role) starts its own redis-server on a free
// loopback port, then re-executes itself:
//
//   - -role instance -i N: one hub, ssekify.New with a RedisBroker on a
//     go-redis client whose dialer counts the bytes read from Redis (the
//     subscription's connections apart), an HTTP server of user streams
//     (GET /sse?user=<id>, hub.Register) and a control endpoint (GET
//     /stats, POST /publish);
//   - -role clients: every SSE stream of a scenario, each read by its own
//     goroutine over a raw connection, counting the events it receives;
//     control endpoint POST /open, GET /status, GET /report, POST /close.
//
// Each child prints one line, "ready <streams URL> <control URL>", and
// exits when its standard input ends (and, on Linux, when the coordinator
// dies). Everything listens on 127.0.0.1 only.
//
// Scenarios, each on a fresh set of processes (Redis flushed before):
//
//   - share: -instances (4) instances, -streams (10,000) users with one
//     stream each, spread at random (a seeded shuffle, the same count per
//     instance); instance 0 publishes -events (4,000) PublishToUser events
//     to random users; per instance: envelopes read (Stats.BrokerEnvelopes)
//     against its share, bytes read from Redis, events delivered, CPU per
//     delivered event, and Redis's output bytes per published event; the
//     streams' exact account (missing, duplicate, misrouted);
//   - connect: -streams streams opened within -connect-time (1 s) on
//     instance 0 (or spread, -connect-spread): time until every stream is
//     open, held and routed (Stats.Routes, RoutesPending), the SUBSCRIBE
//     and UNSUBSCRIBE commands Redis ran for it (INFO commandstats) and
//     Stats.RouteCommands; then every stream closes, the same figures
//     again.
//
// A build without interest routing (Routes stays 0) is measured as well:
// the tables then say so, and the bytes show what every instance reads.
// Every loop is bounded in count and time, and -timeout bounds the run.
//
// Run it from the benchmarks directory:
//
//	go run ./cmd/routing -label after -out results/routing.md
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/mdfmt"
	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// config holds the command's flags, of every role.
type config struct {
	role      string        // "" (the coordinator), "instance" or "clients"
	index     int           // instance: its number
	redisAddr string        // instance: the Redis server
	life      time.Duration // children: the longest they run

	scenarios     []string
	instances     int
	streams       int
	events        int
	rate          int
	publishers    int
	size          int
	connectTime   time.Duration
	connectSpread bool
	lean          bool
	noHeartbeats  bool
	seed          int64
	redisServer   string
	out           string
	label         string
	commit        string
	busy          float64
	timeout       time.Duration
}

// allScenarios lists the scenarios in the order they run.
var allScenarios = []string{"share", "connect"}

// maxStreams bounds -streams: the clients process holds every stream of a
// scenario, and a process may open at most 20,000 files here.
const maxStreams = 18_000

// main parses the flags and runs the role they name.
func main() {
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	c, err := parseFlags()
	if err != nil {
		log.SetPrefix("routing: ")
		log.Fatal(err)
	}
	switch c.role {
	case "instance":
		log.SetPrefix("routing instance " + strconv.Itoa(c.index) + ": ")
		err = runInstance(c)
	case "clients":
		log.SetPrefix("routing clients: ")
		err = runClients(c.life)
	default:
		log.SetPrefix("routing: ")
		os.Exit(coordinate(c))
	}
	if err != nil {
		log.Fatal(err)
	}
}

// parseFlags reads and checks the flags.
func parseFlags() (config, error) {
	var c config
	var scen string
	flag.StringVar(&c.role, "role", "", "internal: instance or clients (the coordinator starts them)")
	flag.IntVar(&c.index, "i", 0, "internal: the instance's number")
	flag.StringVar(&c.redisAddr, "redis", "", "internal: the instance's Redis address")
	flag.DurationVar(&c.life, "life", 10*time.Minute, "internal: the longest an instance or the clients process runs")
	flag.StringVar(&scen, "scenario", "all", "scenarios to run: share, connect, or all (comma-separated)")
	flag.IntVar(&c.instances, "instances", 4, "instance processes")
	flag.IntVar(&c.streams, "streams", 10_000, "streams, one per user (share: spread over the instances; connect: opened at once)")
	flag.IntVar(&c.events, "events", 4_000, "share: PublishToUser events to random users")
	flag.IntVar(&c.rate, "rate", 2_000, "share: events/s offered by the publisher (0: back to back)")
	flag.IntVar(&c.publishers, "publishers", 4, "share: publisher goroutines on instance 0")
	flag.IntVar(&c.size, "size", 256, "payload bytes of every event (a JSON string)")
	flag.DurationVar(&c.connectTime, "connect-time", time.Second, "connect: the streams are opened evenly over this time")
	flag.BoolVar(&c.connectSpread, "connect-spread", false, "connect: spread the streams over the instances instead of all on instance 0")
	flag.BoolVar(&c.lean, "lean", false, "instances: lean streams (Options.Lean)")
	flag.BoolVar(&c.noHeartbeats, "no-heartbeats", false, "instances: heartbeats off (Options.KeepAlive -1), so idle streams cost no CPU in a phase; default: ssekify's defaults")
	flag.Int64Var(&c.seed, "seed", 13, "seed of the users' placement and of the events' users")
	flag.StringVar(&c.redisServer, "redis-server", "redis-server", "redis-server binary")
	flag.StringVar(&c.out, "out", "", "append the report to this markdown file (created with a title if missing)")
	flag.StringVar(&c.label, "label", "run", "the report section's heading, e.g. before or after")
	flag.StringVar(&c.commit, "commit", "", "commit to name in the report when the root module is not a git checkout")
	flag.Float64Var(&c.busy, "busy", 20, "before each measured phase, wait (up to 20 s) until other processes take less than this % of the machine's CPU; 0: don't wait")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Minute, "hard limit on the whole run")
	flag.Parse()
	if c.role != "" {
		if c.role != "instance" && c.role != "clients" {
			return c, fmt.Errorf("-role %q: want instance or clients", c.role)
		}
		if c.role == "instance" && c.redisAddr == "" {
			return c, errors.New("-role instance needs -redis")
		}
		return c, nil
	}
	var err error
	if c.scenarios, err = parseScenarios(scen); err != nil {
		return c, err
	}
	switch {
	case c.instances < 1 || c.instances > 16:
		return c, errors.New("-instances must be 1…16")
	case c.streams < c.instances || c.streams > maxStreams:
		return c, fmt.Errorf("-streams must be -instances…%d", maxStreams)
	case c.events < 1 || c.events > 1_000_000:
		return c, errors.New("-events must be 1…1,000,000")
	case c.rate < 0 || c.publishers < 1 || c.publishers > 64:
		return c, errors.New("-rate must be ≥ 0, -publishers 1…64")
	case c.size < wire.MinPayloadSize || c.size > 32<<10:
		return c, fmt.Errorf("-size must be %d…%d", wire.MinPayloadSize, 32<<10)
	case c.connectTime <= 0 || c.connectTime > time.Minute || c.timeout <= 0:
		return c, errors.New("-connect-time must be in (0, 1m], -timeout positive")
	}
	return c, nil
}

// parseScenarios splits "share,connect" (or "all").
func parseScenarios(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		switch f = strings.TrimSpace(f); {
		case f == "":
		case f == "all":
			return allScenarios, nil
		case !slices.Contains(allScenarios, f):
			return nil, fmt.Errorf("unknown scenario %q (known: %s, all)", f, strings.Join(allScenarios, ", "))
		case !slices.Contains(out, f):
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-scenario names no scenario")
	}
	return out, nil
}

// coordinate runs the scenarios, prints the report (and appends it to
// -out) and returns the exit code.
func coordinate(c config) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rep, err := run(ctx, c)
	if err != nil {
		log.Print(err)
		if rep == nil {
			return 1
		}
	}
	text := rep.markdown()
	fmt.Print(text)
	if c.out != "" {
		if werr := mdfmt.Append(c.out, fileTitle, text); werr != nil {
			log.Print(werr)
			return 1
		}
		log.Printf("appended the report to %s", c.out)
	}
	if err != nil {
		return 1
	}
	return 0
}
