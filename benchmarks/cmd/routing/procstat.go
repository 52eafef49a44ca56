package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/cpuload"
	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// cpuSample is the machine's busy and total CPU time (/proc/stat) and
// that of the run's own processes (this one, redis-server and the
// children), in clock ticks. cpuload measures the same for one process
// and redis-server only; here the children count as the run's own.
type cpuSample struct {
	busy, total, ours int64
	ok                bool
}

// takeCPU reads /proc/stat and the CPU time of pids and of this process.
func takeCPU(pids []int) cpuSample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuSample{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuSample{}
	}
	s := cpuSample{ok: true}
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, _ := strconv.ParseInt(v, 10, 64)
		s.total += n
		if i != 3 && i != 4 {
			s.busy += n
		}
	}
	for _, pid := range append([]int{os.Getpid()}, pids...) {
		s.ours += int64(wire.ProcessCPU(pid) * wire.ClockTicks / time.Second)
	}
	return s
}

// cpuShare is what the report says of the other processes around a
// measured phase: how long it waited for a quiet machine, whether it got
// one, and their share of the machine's CPU during the phase.
type cpuShare struct {
	waited time.Duration
	quiet  bool
	share  float64
	known  bool
}

// measured returns w with the other processes' share between a and b;
// unknown when less than 0.2 s of the machine's CPU time passed.
func (w cpuShare) measured(a, b cpuSample) cpuShare {
	if !a.ok || !b.ok || b.total-a.total < 40 {
		return w
	}
	others := max(0, (b.busy-a.busy)-(b.ours-a.ours))
	w.share, w.known = float64(others)/float64(b.total-a.total), true
	return w
}

// String formats the share, with the wait before it when there was one.
func (w cpuShare) String() string {
	s := "?"
	if w.known {
		s = fmt.Sprintf("%.0f%%", 100*w.share)
	}
	if w.waited >= 1500*time.Millisecond || !w.quiet {
		s += fmt.Sprintf(" (waited %s", w.waited.Round(time.Second))
		if !w.quiet {
			s += ", not quiet"
		}
		s += ")"
	}
	return s
}

// quiet waits, unless -busy is 0, until the machine is quiet before the
// phase what (at most 20 s; the children are idle then, so cpuload's
// account of the run's own processes is enough), and logs it when it was
// not.
func (e *env) quiet(ctx context.Context, what string) cpuShare {
	if e.cfg.busy <= 0 {
		return cpuShare{quiet: true}
	}
	waited, ok := cpuload.WaitQuiet(ctx, e.redis.PID(), e.cfg.busy/100, 20*time.Second)
	if !ok {
		log.Printf("other processes still take more than %.0f%% of the CPU after %v: running %s anyway", e.cfg.busy, waited.Round(time.Second), what)
	}
	return cpuShare{waited: waited, quiet: ok}
}
