package main

import (
	"context"
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

// measured returns w with the other processes' share between a and b,
// the run's own processes being every one whose time a and b count;
// unknown when less than 0.2 s of the machine's CPU time passed.
func measured(w cpuload.Share, a, b cpuSample) cpuload.Share {
	if !a.ok || !b.ok || b.total-a.total < 40 {
		return w
	}
	others := max(0, (b.busy-a.busy)-(b.ours-a.ours))
	w.Others, w.Known = float64(others)/float64(b.total-a.total), true
	return w
}

// quiet waits, unless -busy is 0, until the machine is quiet before the
// phase what (cpuload.QuietBefore: the children are idle then, so
// cpuload's account of the run's own processes is enough).
func (e *env) quiet(ctx context.Context, what string) cpuload.Share {
	return cpuload.QuietBefore(ctx, e.redis.PID(), e.cfg.busy, what)
}
