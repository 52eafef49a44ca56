package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ssekify/ssekify"

	"github.com/ssekify/ssekify/benchmarks/internal/mdfmt"
)

// report is everything one run measured.
type report struct {
	cfg          config
	started      time.Time
	elapsed      time.Duration
	machine      mdfmt.Machine
	redisVersion string
	throughput   []tpResult
	latency      []latResult
	replay       []replayResult
	memory       *memResult
	bench        []benchResult // pipelines 16 and 1
	others       []scenarioCPU
	statsA       ssekify.Stats
	statsB       ssekify.Stats
}

// scenarioCPU is the share of the machine's CPU other processes used
// during one scenario.
type scenarioCPU struct {
	name   string
	share  float64
	waited time.Duration // waiting for a quiet machine before it
}

// fileTitle opens a results file the tool creates.
const fileTitle = `# Cross-instance publishing through Redis

Written by ` + "`go run ./cmd/redislog`" + ` (see benchmarks/README.md, "Cross-instance publishing
through Redis"). One process runs its own redis-server on loopback and two hubs, each with its
own go-redis client and ` + "`ssekify.NewRedisBroker`" + `: instance A publishes, instance B serves
streams over HTTP on 127.0.0.1 to an SSE client in the same process. Every run appends a
section; compare sections of the same machine, and look at both runs of a label before reading
a small difference.
`

// markdown renders the report as one section headed by its label.
func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.machine
	p("## %s — %s\n\n", r.cfg.label, r.started.Format("2006-01-02 15:04 MST"))
	code, cpu := m.Code(), m.CPU()
	p("Root module at %s; %s, %s, redis-server %s (loopback, no persistence); payload %d B; run took %s.",
		code, m.GoVersion, cpu, r.redisVersion, r.cfg.size, r.elapsed.Round(time.Second))
	if len(r.others) > 0 {
		var wait time.Duration
		parts := make([]string, len(r.others))
		for i, o := range r.others {
			wait += o.waited
			parts[i] = fmt.Sprintf("%s %.0f%%", o.name, 100*o.share)
		}
		p(" Other processes' share of the machine's CPU during each scenario: %s; %s spent waiting for a quiet machine (-busy %.0f).",
			strings.Join(parts, ", "), wait.Round(time.Second), r.cfg.busy)
	}
	p("\n\n")
	if len(r.throughput) > 0 {
		r.renderThroughput(&b)
	}
	if len(r.latency) > 0 {
		r.renderLatency(&b)
	}
	if len(r.replay) > 0 {
		r.renderReplay(&b)
	}
	if r.memory != nil {
		r.renderMemory(&b)
	}
	if len(r.bench) > 0 {
		p("### Reference: redis-benchmark on the same server\n\n")
		for _, x := range r.bench {
			if x.ran {
				p("- `%s`: **%s %s/s**, p50 %s.\n", mdfmt.Clip(x.cmd, 400), mdfmt.Count(x.rps), x.what, x.p50)
			} else {
				p("- redis-benchmark %s, pipeline %d: %s.\n", x.what, x.pipeline, x.skipped)
			}
		}
		p("\n")
	}
	a, bb := r.statsA, r.statsB
	p("Hub counters at the end: A published %d envelopes, %d publish errors, %d errors reported; "+
		"B received %d envelopes, %d invalid, %d broker reconnects, %d gap events, %d replay hits, %d replay misses, %d events replayed.\n\n",
		a.Published, a.PublishErrors, a.ErrorCount, bb.Received, bb.InvalidEnvelopes, bb.BrokerReconnects, bb.GapEvents, bb.ReplayHits, bb.ReplayMisses, bb.ReplayedEvents)
	return b.String()
}

// renderThroughput writes the throughput table.
func (r *report) renderThroughput(b *strings.Builder) {
	fmt.Fprintf(b, "### Publish throughput from A\n\n")
	fmt.Fprintf(b, "At most %s events or %s per row, back to back; B holds one stream of each target (100 users, the first in the room), which reads and drops what it gets; the last row publishes to 100 other users, whom no stream holds (with interest routing no instance receives them: the publish path alone). "+
		"*Received by B*: B's `Stats().Received` within 5 s after the last publish; *B caught up after*: from the last publish until B had them all.\n\n", mdfmt.Count(float64(r.cfg.tpEvents)), r.cfg.tpTime)
	fmt.Fprintf(b, "| publishers | call | published | errors | events/s ↑ | of redis-benchmark: PUBLISH -P 16 / -P 1 / 4-command script -P 16 | call p50 µs | call p99 µs | received by B | B caught up after |\n")
	fmt.Fprintf(b, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range r.throughput {
		rate := float64(t.ok) / t.elapsed.Seconds()
		caught := mdfmt.Ms(t.drain) + " ms"
		if !t.drained {
			caught = "not: " + mdfmt.Count(float64(t.ok-t.receivedB)) + " missing"
		}
		errs := fmt.Sprint(t.errs)
		if t.firstErr != "" {
			errs += " (" + mdfmt.Clip(t.firstErr, 60) + ")"
		}
		fmt.Fprintf(b, "| %d | %s | %s | %s | **%s** | %s | %s | %s | %s | %s |\n",
			t.publishers, t.target, mdfmt.Count(float64(t.ok)), errs, mdfmt.Count(rate), r.ofPublish(rate),
			mdfmt.Us(mdfmt.Pct(t.calls, 50)), mdfmt.Us(mdfmt.Pct(t.calls, 99)), mdfmt.Count(float64(t.receivedB)), caught)
	}
	b.WriteString("\n")
}

// renderLatency writes the latency table.
func (r *report) renderLatency(b *strings.Builder) {
	fmt.Fprintf(b, "### Publish-to-receive latency, A → Redis → SSE client on B\n\n")
	fmt.Fprintf(b, "One user, one stream on B; %s per run, paced by a 1 ms ticker (what is due is handed to the publisher goroutines on A). "+
		"Latency: from the start of the publish call (its time is in the payload) to the event's blank line on the client. "+
		"*Late*: how far publish calls started behind schedule (p99 / max): a single publisher that can not keep up falls behind. "+
		"*Lost*: neither received nor announced by a gap event. *Reord*: received after a later-numbered event (one publisher only: concurrent publishers have no order).\n\n",
		r.cfg.latTime)
	fmt.Fprintf(b, "| offered /s | publishers | achieved /s | published | errors | received | gap events (missed) | lost | dup | reord | p50 ms ↓ | p99 ms ↓ | max ms ↓ | late p99 / max ms |\n")
	fmt.Fprintf(b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range r.latency {
		if l.err != "" {
			fmt.Fprintf(b, "| %s | %d | failed: %s ||||||||||||\n", mdfmt.Count(float64(l.rate)), l.pubs, mdfmt.Clip(l.err, 80))
			continue
		}
		gaps := fmt.Sprintf("%d (%d)", l.gapEvents, l.gapMissed)
		if len(l.gapReasons) > 0 {
			gaps += " " + reasons(l.gapReasons)
		}
		reord := "n/a"
		if l.pubs == 1 {
			reord = fmt.Sprint(l.reordered)
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %d | %s | %s | %d | %d | %s | **%s** | **%s** | %s | %s / %s |\n",
			mdfmt.Count(float64(l.rate)), l.pubs, mdfmt.Count(l.achieved), mdfmt.Count(float64(l.sent)), l.errs, mdfmt.Count(float64(l.received)), gaps,
			l.lost, l.dups, reord, mdfmt.Ms(mdfmt.Pct(l.lat, 50)), mdfmt.Ms(mdfmt.Pct(l.lat, 99)), mdfmt.Ms(mdfmt.Pct(l.lat, 100)),
			mdfmt.Ms(mdfmt.Pct(l.lag, 99)), mdfmt.Ms(mdfmt.Pct(l.lag, 100)))
	}
	b.WriteString("\n")
}

// renderReplay writes the replay table.
func (r *report) renderReplay(b *strings.Builder) {
	fmt.Fprintf(b, "### Replay after a reconnect to B (Last-Event-ID)\n\n")
	fmt.Fprintf(b, "Per repetition a new user: a stream on the first instance gets one event and keeps its id, closes; A publishes K events for the user; "+
		"once B received them, a new stream on B sends the id. *Ready*: from the request to the K-th event (K = 0: to the stream's first line), "+
		"or to the gap event (`%s`) when one came; with 20 repetitions p99 is the slowest. *Events got*: the K events received, summed over the repetitions.\n\n", gapEventName)
	fmt.Fprintf(b, "| first stream on | K | reps | got the K exactly | gap event instead | neither | events got | ready p50 ms ↓ | p99 ms ↓ | max ms ↓ | gap reasons (missed) |\n")
	fmt.Fprintf(b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, x := range r.replay {
		from := "B (same instance)"
		if x.from == "A" {
			from = "A (cross-instance)"
		}
		neither := fmt.Sprint(x.partial)
		if x.failed > 0 {
			neither += fmt.Sprintf(" + %d failed (%s)", x.failed, mdfmt.Clip(x.firstErr, 60))
		}
		rs := "—"
		if len(x.reasons) > 0 {
			rs = reasons(x.reasons) + fmt.Sprintf(" (%d)", x.missed)
		}
		fmt.Fprintf(b, "| %s | %s | %d | %d | %d | %s | %s of %s | %s | %s | %s | %s |\n",
			from, mdfmt.Count(float64(x.k)), x.reps, x.exact, x.gap, neither, mdfmt.Count(float64(x.gotK)), mdfmt.Count(float64(x.k*(x.reps-x.failed))),
			mdfmt.Ms(mdfmt.Pct(x.ready, 50)), mdfmt.Ms(mdfmt.Pct(x.ready, 99)), mdfmt.Ms(mdfmt.Pct(x.ready, 100)), rs)
	}
	b.WriteString("\n")
}

// renderMemory writes the memory table.
func (r *report) renderMemory(b *strings.Builder) {
	m := r.memory
	fmt.Fprintf(b, "### Redis memory per published event\n\n")
	if m.err != "" {
		fmt.Fprintf(b, "failed: %s\n\n", m.err)
		return
	}
	fmt.Fprintf(b, "INFO memory before and after publishing %s events from A to %d users in turn (8 goroutines), read once B received them, plus 500 ms. "+
		"`used_memory` counts everything Redis allocated (client buffers too), `used_memory_dataset` what it holds for keys.\n\n",
		mdfmt.Count(float64(m.events)), m.users)
	fmt.Fprintf(b, "| events published | errors | received by B | used_memory before → after | Δ bytes per event | used_memory_dataset before → after | Δ bytes per event | keys before → after |\n")
	fmt.Fprintf(b, "|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	per := func(a, b int64) string {
		if m.ok == 0 {
			return "—"
		}
		return fmt.Sprintf("**%.1f**", float64(b-a)/float64(m.ok))
	}
	fmt.Fprintf(b, "| %s | %d | %s | %s → %s | %s | %s → %s | %s | %d → %d |\n\n",
		mdfmt.Count(float64(m.ok)), m.errs, mdfmt.Count(float64(m.receivedB)),
		bytesText(m.before.used), bytesText(m.after.used), per(m.before.used, m.after.used),
		bytesText(m.before.dataset), bytesText(m.after.dataset), per(m.before.dataset, m.after.dataset),
		m.before.keys, m.after.keys)
}

// bytesText formats a byte count: "1.13 MiB", "812 KiB", "512 B".
func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// ofPublish returns rate as a share of each redis-benchmark rate: PUBLISH
// with 16 commands per pipeline and with none, the 4-command script with 16.
func (r *report) ofPublish(rate float64) string {
	var parts []string
	for _, x := range r.bench {
		if x.ran && x.rps > 0 {
			parts = append(parts, fmt.Sprintf("×%.3f", rate/x.rps))
		}
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, " / ")
}

// reasons formats a reason count map as "a×2, b×1", sorted by reason.
func reasons(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}
