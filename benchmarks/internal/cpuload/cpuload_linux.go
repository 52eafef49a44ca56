// Package cpuload measures what share of the machine's CPU other
// processes take while a benchmark runs (Linux: /proc), so that a report
// can say how quiet the machine was, and waits for a quiet machine.
package cpuload

import (
	"os"
	"strconv"
	"strings"
)

// Sample is the machine's busy and total CPU time and that of the
// processes of a run (this one, its waited-for children and the
// redis-server), in clock ticks.
type Sample struct {
	busy, total, ours int64
	ok                bool
}

// Take reads /proc/stat and the /proc/<pid>/stat of this process and
// of redisPID.
func Take(redisPID int) Sample {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Sample{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return Sample{}
	}
	var s Sample
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal
			s.total += n
			if i != 3 && i != 4 {
				s.busy += n
			}
		}
	}
	self, ok1 := procTicks("self", true)
	red, ok2 := procTicks(strconv.Itoa(redisPID), false)
	s.ours, s.ok = self+red, ok1 && ok2
	return s
}

// procTicks returns utime+stime of /proc/<pid>/stat, plus cutime+cstime
// (children waited for) when children is set.
func procTicks(pid string, children bool) (int64, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// After the command: state(0) ... utime(11) stime(12) cutime(13) cstime(14).
	if len(f) < 15 {
		return 0, false
	}
	var t int64
	idx := []int{11, 12}
	if children {
		idx = append(idx, 13, 14)
	}
	for _, k := range idx {
		n, _ := strconv.ParseInt(f[k], 10, 64)
		t += n
	}
	return t, true
}

// OthersShare returns the share (0..1) of the machine's CPU that other
// processes used between a and b, and whether it could be measured: not
// when fewer than minTicks clock ticks of all CPUs passed (100 is about
// 0.5 s of 2 CPUs).
func OthersShare(a, b Sample, minTicks int64) (float64, bool) {
	if !a.ok || !b.ok || b.total-a.total < minTicks {
		return 0, false
	}
	others := (b.busy - a.busy) - (b.ours - a.ours)
	if others < 0 {
		others = 0
	}
	return float64(others) / float64(b.total-a.total), true
}

// Model returns the CPU model name from /proc/cpuinfo, or "".
func Model() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return ""
}
