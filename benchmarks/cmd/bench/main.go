// Command bench builds every benchmark server and the load client, runs
// every scenario against every library in fresh server processes, in each
// configuration (tuned: the same queue bounds for every library that has
// one; defaults: every library as shipped), for several rounds, and prints
// a markdown table of each figure per library and configuration with its
// ratio to ssekify's. A full run also writes the table to
// results/latest.md; every raw report goes to results/latest.raw (or
// results/quick.raw with -quick).
//
// Run it from the benchmarks directory:
//
//	go run ./cmd/bench            # full run, both configurations, 2 rounds
//	go run ./cmd/bench -quick     # smoke run at reduced sizes, 1 round
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// allLibs lists the libraries in report order; ssekify is the reference.
var allLibs = []string{"ssekify", leanLib, "baseline", "r3labs", "tmaxmax", "centrifuge"}

const refLib = "ssekify"

// leanLib is ssekify with lean streams (Options.Lean): the same server
// with -lean, compared with the handler path in every table.
const leanLib = "ssekify-lean"

// serverOf returns the server a library runs (servers/<name>, built as
// bin/<name>) and the flags that make it that library.
func serverOf(lib string) (name string, args []string) {
	if lib == leanLib {
		return refLib, []string{"-lean"}
	}
	return lib, nil
}

// allConfigs lists the configurations in report order: "tuned" gives every
// library that has a per-connection queue bound the same one (-queue-items,
// -queue-bytes); "defaults" runs every library as shipped, with no queue
// flag at all.
var allConfigs = []string{"tuned", "defaults"}

type options struct {
	libs       []string
	scenarios  []string
	configs    []string
	rounds     int
	quick      bool
	pin        bool
	out        string
	raw        string
	queueItems int
	queueBytes int
	busy       float64
}

func main() {
	var o options
	var libs, scens, configs string
	flag.StringVar(&libs, "libs", strings.Join(allLibs, ","), "comma-separated libraries to run")
	flag.StringVar(&configs, "configs", strings.Join(allConfigs, ","), "comma-separated configurations: tuned (the same queue bounds for every library that has one) and defaults (every library as shipped)")
	flag.StringVar(&scens, "scenarios", "burst,latency,idle,slow,stall,stall1k", "comma-separated scenarios to run")
	flag.IntVar(&o.rounds, "rounds", 2, "full rounds over every scenario and library (1 with -quick unless given)")
	flag.BoolVar(&o.quick, "quick", false, "scale every scenario down for a smoke run of one round")
	flag.BoolVar(&o.pin, "pin", false, "pin the server to CPU 1 and the load client to CPU 0 (taskset)")
	flag.StringVar(&o.out, "out", "auto", "markdown report file (empty: none; auto: results/latest.md, or none with -quick)")
	flag.StringVar(&o.raw, "raw", "auto", "raw JSON reports file (empty: none; auto: results/latest.raw, or results/quick.raw with -quick)")
	flag.IntVar(&o.queueItems, "queue-items", 1024, "per-connection queue bound in frames, for libraries with one")
	flag.IntVar(&o.queueBytes, "queue-bytes", 1<<20, "per-connection queue bound in bytes, for libraries with one")
	flag.Float64Var(&o.busy, "busy", 20, "repeat a run once when other processes used more than this percent of the machine's CPU during it (0: never)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench: ")
	if o.quick && !flagGiven("rounds") {
		o.rounds = 1
	}
	if o.out == "auto" {
		o.out = "results/latest.md"
		if o.quick {
			o.out = ""
		}
	}
	if o.raw == "auto" {
		o.raw = "results/latest.raw"
		if o.quick {
			o.raw = "results/quick.raw"
		}
	}
	o.libs = splitList(libs)
	o.scenarios = splitList(scens)
	o.configs = splitList(configs)
	for _, c := range o.configs {
		if !slices.Contains(allConfigs, c) {
			log.Fatalf("unknown configuration %q (have %s)", c, strings.Join(allConfigs, ", "))
		}
	}
	if len(o.configs) == 0 {
		log.Fatal("-configs names no configuration")
	}
	for _, l := range o.libs {
		if !slices.Contains(allLibs, l) {
			log.Fatalf("unknown library %q (have %s)", l, strings.Join(allLibs, ", "))
		}
	}
	if o.rounds < 1 {
		log.Fatal("-rounds must be at least 1")
	}
	if _, err := os.Stat("go.mod"); err != nil {
		log.Fatal("run from the benchmarks directory: go run ./cmd/bench")
	}
	if err := raiseNoFile(); err != nil {
		log.Printf("raise RLIMIT_NOFILE: %v", err)
	}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

// flagGiven reports whether the flag was set on the command line.
func flagGiven(name string) bool {
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func raiseNoFile() error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	lim.Cur = lim.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
}

// result is one run of one library in one round.
type result struct {
	Round    int          `json:"round"`
	Scenario string       `json:"scenario"`
	Key      string       `json:"key,omitempty"`
	Config   string       `json:"config"`
	Lib      string       `json:"lib"`
	Report   *wire.Report `json:"report,omitempty"`
	// Err is a failure of the runner's own: build, start, or a load client
	// that died or overran its limit.
	Err       string  `json:"err,omitempty"`
	ServerLog string  `json:"serverLog,omitempty"`
	WallSec   float64 `json:"wallSec"`
	// OtherCPU is the share of the machine's CPU time (all cores) that
	// processes other than the server and the load client used while the
	// load client ran, in percent.
	OtherCPU float64 `json:"otherCpu"`
	// Tries is 2 when the first try was repeated because OtherCPU was
	// above -busy.
	Tries int `json:"tries"`
}

type resultKey struct{ config, scenario, key, lib string }

func run(o options) error {
	start := time.Now()
	z := fullSizes()
	if o.quick {
		z = quickSizes()
	}
	var scens []scenario
	for _, s := range scenarios(z) {
		if slices.Contains(o.scenarios, s.name) {
			scens = append(scens, s)
		}
	}
	if len(scens) == 0 {
		return errors.New("no scenario selected")
	}

	if err := os.MkdirAll("bin", 0o755); err != nil {
		return err
	}
	log.Print("building the load client and the servers")
	if out, err := goBuild("bin/load", "./cmd/load"); err != nil {
		return fmt.Errorf("build load client: %v\n%s", err, out)
	}
	buildErr := map[string]string{}
	built := map[string]string{} // server → its build error, "" once built
	for _, l := range o.libs {
		name, _ := serverOf(l)
		msg, done := built[name]
		if !done {
			if out, err := goBuild("bin/"+name, "./servers/"+name); err != nil {
				msg = firstLine(out)
				log.Printf("build %s failed: %s", name, out)
			}
			built[name] = msg
		}
		if msg != "" {
			buildErr[l] = msg
		}
	}

	var rawOut *os.File
	if o.raw != "" {
		if err := os.MkdirAll(filepath.Dir(o.raw), 0o755); err != nil {
			return err
		}
		f, err := os.Create(o.raw)
		if err != nil {
			return err
		}
		defer f.Close()
		rawOut = f
	}

	results := map[resultKey][]result{}
	// At most maxRepeats runs are repeated for a busy machine, and the
	// runner waits for a quiet machine for maxQuietWait in all, so a
	// machine that stays busy does not double the run time.
	const maxRepeats = 10
	const maxQuietWait = 4 * time.Minute
	repeats := 0
	var waited time.Duration
	quiet := func(limit time.Duration) {
		if o.busy <= 0 {
			return
		}
		t := time.Now()
		waitQuiet(o.busy, min(limit, maxQuietWait-waited))
		waited += time.Since(t)
	}
	for round := 1; round <= o.rounds; round++ {
		libs := slices.Clone(o.libs)
		if round%2 == 0 {
			slices.Reverse(libs)
		}
		for _, sc := range scens {
			for _, sp := range sc.runs {
				for _, conf := range o.configs {
					for _, lib := range libs {
						var r result
						if msg, bad := buildErr[lib]; bad {
							r = result{Round: round, Scenario: sc.name, Key: sp.key, Config: conf, Lib: lib, Err: "build: " + msg}
						} else {
							quiet(30 * time.Second)
							r = runOne(o, round, sc, sp, conf, lib)
							r.Tries = 1
							if o.busy > 0 && r.OtherCPU > o.busy && repeats < maxRepeats {
								repeats++
								log.Printf("round %d %s%s %-8s %-10s other processes used %.0f%% of the CPU: once more", round, sc.name, suffix(sp.key), conf, lib, r.OtherCPU)
								quiet(30 * time.Second)
								r = runOne(o, round, sc, sp, conf, lib)
								r.Tries = 2
							}
						}
						log.Printf("round %d %s%s %-8s %-10s %s (%.1fs, other CPU %.0f%%)", round, sc.name, suffix(sp.key), conf, lib, summary(r), r.WallSec, r.OtherCPU)
						k := resultKey{conf, sc.name, sp.key, lib}
						results[k] = append(results[k], r)
						if rawOut != nil {
							b, _ := json.Marshal(r)
							_, _ = rawOut.Write(append(b, '\n'))
						}
					}
				}
			}
		}
	}

	md := render(o, z, scens, results, time.Since(start))
	fmt.Print(md)
	if o.out != "" {
		if err := os.MkdirAll(filepath.Dir(o.out), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.out, []byte(md), 0o644); err != nil {
			return err
		}
		log.Printf("wrote %s", o.out)
	}
	return nil
}

func suffix(key string) string {
	if key == "" {
		return ""
	}
	return "/" + key
}

func summary(r result) string {
	switch {
	case r.Err != "":
		return "FAIL " + r.Err
	case r.Report == nil:
		return "FAIL no report"
	case !r.Report.OK:
		return "NOT OK " + r.Report.Error
	}
	return "ok"
}

func goBuild(out, pkg string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := exec.CommandContext(ctx, "go", "build", "-o", out, pkg).CombinedOutput()
	return strings.TrimSpace(string(b)), err
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// runOne starts a fresh server for lib in configuration conf, runs the load
// client against it, and stops the server.
func runOne(o options, round int, sc scenario, sp spec, conf, lib string) (r result) {
	t0 := time.Now()
	r = result{Round: round, Scenario: sc.name, Key: sp.key, Config: conf, Lib: lib}
	defer func() { r.WallSec = time.Since(t0).Seconds() }()

	port, err := freePort()
	if err != nil {
		r.Err = err.Error()
		return r
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"-port", itoa(port)}
	if conf == "tuned" {
		args = append(args, "-queue-items", itoa(o.queueItems), "-queue-bytes", itoa(o.queueBytes))
	}
	args = append(args, sp.server...)
	name, libArgs := serverOf(lib)
	srv := command(o.pin, "1", "bin/"+name, append(args, libArgs...)...)
	slog := &tailBuffer{max: 4096}
	srv.Stdout, srv.Stderr = slog, slog
	if err := srv.Start(); err != nil {
		r.Err = "start server: " + err.Error()
		return r
	}
	exited := make(chan struct{})
	go func() { _ = srv.Wait(); close(exited) }()
	defer func() {
		stopServer(srv, exited)
		r.ServerLog = slog.String()
	}()
	if err := waitReady(addr, exited, 10*time.Second); err != nil {
		r.Err = err.Error()
		return r
	}

	ctx, cancel := context.WithTimeout(context.Background(), sp.timeout+15*time.Second)
	defer cancel()
	largs := append([]string{"-addr", addr, "-pid", itoa(srv.Process.Pid), "-timeout", sp.timeout.String()}, sp.load...)
	load := command(o.pin, "0", "bin/load", largs...)
	var stdout bytes.Buffer
	lerr := &tailBuffer{max: 4096}
	load.Stdout, load.Stderr = &stdout, lerr
	if err := load.Start(); err != nil {
		r.Err = "start load client: " + err.Error()
		return r
	}
	busy0, _ := machineCPU()
	srv0 := wire.ProcessCPU(srv.Process.Pid)
	loadStart := time.Now()
	done := make(chan error, 1)
	go func() { done <- load.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-ctx.Done():
		_ = load.Process.Kill()
		<-done
		r.Err = "timeout: load client overran its limit"
		return r
	}
	if busy1, ncpu := machineCPU(); ncpu > 0 && load.ProcessState != nil {
		own := wire.ProcessCPU(srv.Process.Pid) - srv0 + load.ProcessState.UserTime() + load.ProcessState.SystemTime()
		wall := time.Since(loadStart) * time.Duration(ncpu)
		r.OtherCPU = max(0, 100*float64(busy1-busy0-own)/float64(wall))
	}
	var rep wire.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		r.Err = fmt.Sprintf("load client: %v %s", werr, strings.TrimSpace(lerr.String()))
		return r
	}
	r.Report = &rep
	select {
	case <-exited:
		if rep.OK {
			r.Err = "server exited during the run"
		}
	default:
	}
	return r
}

// machineCPU returns the CPU time all cores spent busy since boot, from
// /proc/stat, and the number of cores.
func machineCPU() (time.Duration, int) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	var busy int64
	ncpu := 0
	for i, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if i > 0 {
			ncpu++
			continue
		}
		// user nice system idle iowait irq softirq steal
		for _, j := range []int{1, 2, 3, 6, 7, 8} {
			v, _ := strconv.ParseInt(f[j], 10, 64)
			busy += v
		}
	}
	return time.Duration(busy) * time.Second / wire.ClockTicks, ncpu
}

// waitQuiet waits, up to limit, for half a second in which the machine's
// CPU was busy less than pct percent.
func waitQuiet(pct float64, limit time.Duration) {
	const sample = 500 * time.Millisecond
	deadline := time.Now().Add(limit)
	for limit > 0 && time.Now().Before(deadline) {
		b0, n := machineCPU()
		time.Sleep(sample)
		b1, _ := machineCPU()
		if n == 0 || 100*float64(b1-b0)/float64(time.Duration(n)*sample) < pct {
			return
		}
	}
}

// command builds a command, pinned to cpu with taskset when pin is set.
func command(pin bool, cpu, name string, args ...string) *exec.Cmd {
	if pin {
		return exec.Command("taskset", append([]string{"-c", cpu, name}, args...)...)
	}
	return exec.Command(name, args...)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(addr string, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for limit > 0 && time.Now().Before(deadline) {
		select {
		case <-exited:
			return errors.New("server exited at start")
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = c.Write([]byte("GET " + wire.PathReady + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n"))
			buf := make([]byte, 64)
			n, _ := c.Read(buf)
			_ = c.Close()
			if bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 200")) {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("server not ready within " + limit.String())
}

// stopServer sends SIGTERM, and SIGKILL after 3 s.
func stopServer(srv *exec.Cmd, exited <-chan struct{}) {
	_ = srv.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(3 * time.Second):
		_ = srv.Process.Kill()
		<-exited
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
