package main

import (
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/mdfmt"
)

// report is everything one run measured.
type report struct {
	cfg          config
	started      time.Time
	elapsed      time.Duration
	machine      mdfmt.Machine
	versions     []string // "module version" of the libraries under test
	redisVersion string
	latency      []latResult
	throughput   []tpResult
	failed       []string // libraries that could not be set up, and why
}

// moduleVersions returns the versions this binary was built with of the
// libraries under test and their Redis clients, from its build info.
func moduleVersions() []string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	want := []string{"github.com/ssekify/ssekify", "github.com/redis/go-redis/v9", "github.com/centrifugal/centrifuge", "github.com/redis/rueidis"}
	var out []string
	for _, path := range want {
		for _, d := range bi.Deps {
			if d.Path != path {
				continue
			}
			v := d.Version
			if d.Replace != nil {
				v = "replaced by " + d.Replace.Path
				if d.Replace.Version != "" {
					v += " " + d.Replace.Version
				}
			}
			out = append(out, path+" "+v)
		}
	}
	return out
}

// fileTitle opens a results file the tool creates.
const fileTitle = `# Cross-node latency: ssekify against centrifuge

Written by ` + "`go run ./cmd/crossnode`" + ` (see benchmarks/README.md, "Cross-node latency against
centrifuge"). One process starts its own redis-server on loopback and, for each library in turn
(Redis flushed between them), two nodes on it, each with its own Redis connection and the
library's Redis broker: node A publishes, node B serves one SSE client over HTTP on 127.0.0.1.
Every run appends a section; compare rows of the same section, and look at more than one run
before reading a small difference.
`

// markdown renders the report as one section headed by its start time.
func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	m := r.machine
	p("## Run of %s\n\n", r.started.Format("2006-01-02 15:04 MST"))
	code, cpu := m.Code(), m.CPU()
	p("Root module at %s; %s; %s; redis-server %s (loopback, no persistence, shared by both libraries, FLUSHALL before each); "+
		"payload %d B; run took %s.\n\n", code, m.GoVersion, cpu, r.redisVersion, r.cfg.size, r.elapsed.Round(time.Second))
	if r.cfg.busy > 0 {
		p("Before each scenario the tool waited (at most 20 s) until other processes took under %.0f%% of the machine's CPU; "+
			"the *others* columns give their share during the scenario (? when it was too short to measure).\n\n", r.cfg.busy)
	} else {
		p("No wait for a quiet machine (-busy 0); the *others* columns give the other processes' CPU share during each scenario.\n\n")
	}
	if len(r.versions) > 0 {
		p("Libraries: `%s`.\n\n", strings.Join(r.versions, "`, `"))
	}
	for _, f := range r.failed {
		p("**Failed:** %s\n\n", mdfmt.Clip(f, 300))
	}
	if len(r.latency) > 0 {
		r.renderLatency(&b)
	}
	if len(r.throughput) > 0 {
		r.renderThroughput(&b)
	}
	r.renderRatios(&b)
	return b.String()
}

// renderLatency writes the latency table, one row per library and run.
func (r *report) renderLatency(b *strings.Builder) {
	fmt.Fprintf(b, "### Publish-to-receive latency, node A → Redis → SSE client on node B\n\n")
	fmt.Fprintf(b, "One stream on B (ssekify: a user stream, A calls `PublishToUser`; centrifuge: a server-side subscription to a personal channel, A calls `node.Publish`); "+
		"%s per run, paced by a 1 ms ticker that hands what is due to the publisher goroutines. "+
		"Latency: from just before the publish call (its time is in the payload) to the event's blank line on the client. "+
		"*Lost*: not received within 5 s after the last publish (ssekify gap events, if any, are counted apart). "+
		"*Reord*: received after a later-numbered event, with one publisher only. *Late*: how far publish calls started behind schedule (p99 / max). "+
		"*Others*: the other processes' share of the machine's CPU during the run.\n\n", r.cfg.latTime)
	fmt.Fprintf(b, "| library | offered /s | publishers | achieved /s | published | errors | received | lost | dup | reord | p50 ms ↓ | p99 ms ↓ | max ms ↓ | late p99 / max ms | others |\n")
	fmt.Fprintf(b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range r.latency {
		if l.err != "" {
			fmt.Fprintf(b, "| %s | %s | %d | failed: %s |||||||||||| %s |\n", l.lib, mdfmt.Count(float64(l.rate)), l.pubs, mdfmt.Clip(l.err, 100), l.others)
			continue
		}
		reord := "n/a"
		if l.pubs == 1 {
			reord = fmt.Sprint(l.reordered)
		}
		errs := fmt.Sprint(l.errs)
		if l.firstErr != "" {
			errs += " (" + mdfmt.Clip(l.firstErr, 60) + ")"
		}
		lost := fmt.Sprint(l.lost)
		if l.gapEvents > 0 {
			lost += fmt.Sprintf(" + %d announced by %d gap events", l.gapMissed, l.gapEvents)
		}
		fmt.Fprintf(b, "| %s | %s | %d | %s | %s | %s | %s | %s | %d | %s | **%s** | **%s** | %s | %s / %s | %s |\n",
			l.lib, mdfmt.Count(float64(l.rate)), l.pubs, mdfmt.Count(l.achieved), mdfmt.Count(float64(l.sent)), errs, mdfmt.Count(float64(l.received)),
			lost, l.dups, reord, mdfmt.Ms(mdfmt.Pct(l.lat, 50)), mdfmt.Ms(mdfmt.Pct(l.lat, 99)), mdfmt.Ms(mdfmt.Pct(l.lat, 100)),
			mdfmt.Ms(mdfmt.Pct(l.lag, 99)), mdfmt.Ms(mdfmt.Pct(l.lag, 100)), l.others)
	}
	b.WriteString("\n")
}

// renderThroughput writes the throughput table, one row per library.
func (r *report) renderThroughput(b *strings.Builder) {
	fmt.Fprintf(b, "### Publish throughput from node A\n\n")
	fmt.Fprintf(b, "At most %s events or %s, to 100 users (centrifuge: their personal channels) in turn, nobody subscribed. "+
		"ssekify's `PublishToUser` returns once its Redis publish script ran (the event XADDed to the user's replay log and PUBLISHed; concurrent calls may share a script run); "+
		"centrifuge's `node.Publish` once the broker's PUBLISH was answered (`centrifuge`: no history), "+
		"or once its history script (the publication added to the channel's stream, 4096 kept for 30 min, as ssekify's logs by default) ran (`centrifuge-history`). "+
		"Both subscribe per channel (ssekify: interest routing, since it was built; before, hub B received and discarded these events), "+
		"so these PUBLISHes reach no subscriber.\n\n", mdfmt.Count(float64(r.cfg.tpEvents)), r.cfg.tpTime)
	fmt.Fprintf(b, "| library | publishers | published | errors | elapsed | events/s ↑ | call p50 µs ↓ | call p99 µs ↓ | others |\n")
	fmt.Fprintf(b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, t := range r.throughput {
		errs := fmt.Sprint(t.errs)
		if t.firstErr != "" {
			errs += " (" + mdfmt.Clip(t.firstErr, 60) + ")"
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | **%s** | %s | %s | %s |\n",
			t.lib, t.publishers, mdfmt.Count(float64(t.ok)), errs, t.elapsed.Round(time.Millisecond),
			mdfmt.Count(t.rate()), mdfmt.Us(mdfmt.Pct(t.calls, 50)), mdfmt.Us(mdfmt.Pct(t.calls, 99)), t.others)
	}
	b.WriteString("\n")
}

// rate is the successful publish calls per second.
func (t tpResult) rate() float64 {
	if t.elapsed <= 0 {
		return 0
	}
	return float64(t.ok) / t.elapsed.Seconds()
}

// renderRatios writes ssekify ÷ each centrifuge variant for the headline
// figures, when both ran.
func (r *report) renderRatios(b *strings.Builder) {
	var parts []string
	for _, s := range r.latency {
		if s.lib != "ssekify" || s.err != "" {
			continue
		}
		for _, c := range r.latency {
			if strings.HasPrefix(c.lib, "centrifuge") && c.err == "" && c.rate == s.rate && c.pubs == s.pubs {
				parts = append(parts, fmt.Sprintf("÷ %s, latency at %s/s (%d publisher(s)): p50 ×%s, p99 ×%s",
					c.lib, mdfmt.Count(float64(s.rate)), s.pubs, ratio(mdfmt.Pct(s.lat, 50), mdfmt.Pct(c.lat, 50)), ratio(mdfmt.Pct(s.lat, 99), mdfmt.Pct(c.lat, 99))))
			}
		}
	}
	for _, s := range r.throughput {
		for _, c := range r.throughput {
			if s.lib == "ssekify" && strings.HasPrefix(c.lib, "centrifuge") && c.publishers == s.publishers {
				parts = append(parts, fmt.Sprintf("÷ %s, throughput with %d publishers: events/s ×%s, call p50 ×%s, call p99 ×%s",
					c.lib, s.publishers, ratioF(s.rate(), c.rate()), ratio(mdfmt.Pct(s.calls, 50), mdfmt.Pct(c.calls, 50)), ratio(mdfmt.Pct(s.calls, 99), mdfmt.Pct(c.calls, 99))))
			}
		}
	}
	if len(parts) == 0 {
		return
	}
	fmt.Fprintf(b, "### ssekify ÷ centrifuge\n\n")
	for _, s := range parts {
		fmt.Fprintf(b, "- %s\n", s)
	}
	b.WriteString("\n")
}

// ratio formats a ÷ b with two decimals, "—" when b is zero.
func ratio(a, b time.Duration) string { return ratioF(float64(a), float64(b)) }

// ratioF formats a ÷ b with two decimals, "—" when b is zero.
func ratioF(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}
