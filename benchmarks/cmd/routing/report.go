package main

import (
	"fmt"
	"math"
	"strconv"
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
	redisVersion string
	share        *shareResult
	connect      *connectResult
	failed       []string // scenarios that could not start, and why
}

// fileTitle opens a results file the tool creates.
const fileTitle = `# Interest routing: envelopes, bytes and CPU per instance; a wave of new streams

Written by ` + "`go run ./cmd/routing`" + ` (see benchmarks/README.md, "Interest routing"). The
tool starts its own redis-server on loopback, instance processes (one hub each, with a
RedisBroker) and one process holding every SSE stream. Every run appends a section headed by its
label; compare a "before" and an "after" section run on the same machine, and look at more than
one run before reading a small difference.
`

// markdown renders the report as one section headed by its label and the
// commit measured.
func (r *report) markdown() string {
	var b strings.Builder
	m := r.machine
	fmt.Fprintf(&b, "## %s (commit %s)\n\n", r.cfg.label, m.Commit)
	lean := ""
	if r.cfg.lean {
		lean = ", lean streams"
	}
	if r.cfg.noHeartbeats {
		lean += ", heartbeats off"
	}
	fmt.Fprintf(&b, "Run of %s: root module at %s; %s; %s; redis-server %s (loopback, no persistence, FLUSHALL before each scenario); "+
		"%d instance processes (`ssekify.New` with `NewRedisBroker`, default options%s) and one process holding every stream; "+
		"payload %d B; seed %d; run took %s.\n\n",
		r.started.Format("2006-01-02 15:04 MST"), m.Code(), m.GoVersion, m.CPU(), r.redisVersion,
		r.cfg.instances, lean, r.cfg.size, r.cfg.seed, r.elapsed.Round(time.Second))
	b.WriteString(r.routingLine())
	if r.cfg.busy > 0 {
		fmt.Fprintf(&b, "Before each measured phase the tool waited (at most 20 s) until other processes took under %.0f%% of the machine's CPU; "+
			"*others* is their share during the phase.\n\n", r.cfg.busy)
	}
	for _, f := range r.failed {
		fmt.Fprintf(&b, "**Failed:** %s\n\n", mdfmt.Clip(f, 300))
	}
	if r.share != nil {
		r.renderShare(&b)
	}
	if r.connect != nil {
		r.renderConnect(&b)
	}
	return b.String()
}

// routingLine says whether the build measured routes at all.
func (r *report) routingLine() string {
	seen, known := false, false
	if s := r.share; s != nil && s.before != nil {
		seen, known = seen || s.routed, true
	}
	if c := r.connect; c != nil && c.opened != nil {
		seen, known = seen || c.routed, true
	}
	switch {
	case !known:
		return ""
	case seen:
		return "Interest routing in this build: **yes** (the instances counted routes, `Stats.Routes`).\n\n"
	}
	return "Interest routing in this build: **no** (`Stats.Routes` and `RoutesPending` stayed 0 on every instance: " +
		"each instance subscribes to the one channel of the cluster and reads every envelope).\n\n"
}

// f2 formats v with two decimals, "—" when it is not a number.
func f2(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.2f", v)
}

// sig formats v with about three significant digits, "—" when it is not
// a number.
func sig(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return mdfmt.Sig3(v)
}

// div is a ÷ b, NaN when b is 0.
func div(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// thousands formats n with thousands separators: 10000 → "10,000".
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// bytesFmt formats n bytes briefly: 1234567 → "1.23 MB".
func bytesFmt(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2f MB", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}

// callsLine lists commands and their calls, largest first, "none" when
// empty.
func callsLine(calls map[string]int64) string {
	type kv struct {
		k string
		v int64
	}
	var l []kv
	for k, v := range calls {
		l = append(l, kv{k, v})
	}
	if len(l) == 0 {
		return "none"
	}
	for i := range l { // a few entries: insertion sort, largest first
		for j := i; j > 0 && (l[j].v > l[j-1].v || l[j].v == l[j-1].v && l[j].k < l[j-1].k); j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = fmt.Sprintf("`%s` %d", e.k, e.v)
	}
	return strings.Join(parts, ", ")
}

// notesLine renders a scenario's notes and error, if any.
func notesLine(b *strings.Builder, err string, notes []string) {
	if err != "" {
		fmt.Fprintf(b, "**Failed:** %s\n\n", mdfmt.Clip(err, 300))
	}
	for _, n := range notes {
		fmt.Fprintf(b, "**Note:** %s\n\n", mdfmt.Clip(n, 300))
	}
}
