package cpuload

import (
	"context"
	"fmt"
	"log"
	"time"
)

// Share is what a report says of the other processes around one measured
// phase: how long the tool waited for a quiet machine before it, whether
// it got one, and the other processes' share of the machine's CPU during
// the phase. How that share is measured is the tool's own (OthersShare,
// or a sampler of several processes); QuietBefore fills Waited and Quiet.
type Share struct {
	// Waited is how long the tool waited for a quiet machine.
	Waited time.Duration
	// Quiet is whether the machine was quiet (or no wait was asked for).
	Quiet bool
	// Others is the other processes' share (0..1) of the machine's CPU
	// during the phase, when Known.
	Others float64
	// Known is whether Others could be measured.
	Known bool
}

// String formats the other processes' share of the phase ("12%", "?"
// when unknown), with the wait for a quiet machine before it when there
// was one: "3% (waited 4s)", "40% (waited 20s, not quiet)".
func (w Share) String() string {
	s := "?"
	if w.Known {
		s = fmt.Sprintf("%.0f%%", 100*w.Others)
	}
	if w.Waited >= 1500*time.Millisecond || !w.Quiet {
		s += fmt.Sprintf(" (waited %s", w.Waited.Round(time.Second))
		if !w.Quiet {
			s += ", not quiet"
		}
		s += ")"
	}
	return s
}

// QuietBefore waits, unless busy (a percentage, a tool's -busy flag) is 0
// or less, until other processes take less than busy% of the machine's CPU
// (WaitQuiet, at most 20 s, with redisPID counted as the run's own), and
// logs it when they did not before the phase what. It returns the wait as
// a Share whose Others is yet to be measured.
func QuietBefore(ctx context.Context, redisPID int, busy float64, what string) Share {
	if busy <= 0 {
		return Share{Quiet: true}
	}
	waited, ok := WaitQuiet(ctx, redisPID, busy/100, 20*time.Second)
	if !ok {
		log.Printf("other processes still take more than %.0f%% of the CPU after %v: running %s anyway", busy, waited.Round(time.Second), what)
	}
	return Share{Waited: waited, Quiet: ok}
}
