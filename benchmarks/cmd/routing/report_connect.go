package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/mdfmt"
)

// renderConnect writes the connect scenario's tables.
func (r *report) renderConnect(b *strings.Builder) {
	s, c := r.connect, r.cfg
	where := "instance 0"
	if c.connectSpread {
		where = fmt.Sprintf("the %d instances", c.instances)
	}
	fmt.Fprintf(b, "### Connect: %s streams within %s on %s\n\n", thousands(c.streams), c.connectTime, where)
	notesLine(b, s.err, s.notes)
	if s.opened == nil {
		return
	}
	fmt.Fprintf(b, "%d fresh instance processes, one stream per user; the client process dials them evenly over %s (%s/s offered), "+
		"each on its own connection, while the tool reads the instances' stats every 10 ms. Times run from the first dial. "+
		"*Open*: the client had the response headers of every stream (p50 / p99 / max of dial to headers per stream). "+
		"*Held*: the instances' `Stats.Connections` counted every stream. "+
		"*Routed*: `Stats.Routes` reached one per stream with `RoutesPending` 0. "+
		"*Commands*: what Redis ran meanwhile (Δ INFO commandstats calls; one SUBSCRIBE of several channels is one call), "+
		"and Δ `Stats.RouteCommands` (the SUBSCRIBE and UNSUBSCRIBE commands the hubs sent for routes). "+
		"*CPU*: the instances' user+system time from before the first dial until the wait ended.\n\n",
		c.instances, c.connectTime, thousands(s.rate))
	st := s.status
	since := func(at int64) string {
		if at == 0 || st.FirstDialNs == 0 {
			return "—"
		}
		return mdfmt.Ms(time.Duration(at-st.FirstDialNs)) + " ms"
	}
	routed := since(s.routedAt)
	if !s.routed {
		routed = "— (no routes: Routes stayed 0; all held " + since(s.heldAt) + ")"
	} else if s.routedAt == 0 {
		routed = fmt.Sprintf("not within 60 s (routes %d, pending %d)", s.routes, s.pending)
	}
	calls := s.redisOpened.callsSince(s.redisBefore)
	fmt.Fprintf(b, "| streams | open / failed | dials took | all open | all held | all routed ↓ | open p50 / p99 / max ms | RouteCommands | SUBSCRIBE | SSUBSCRIBE | channels after | CPU ms | others |\n")
	fmt.Fprintf(b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(b, "| %s | %s / %d | %s ms | %s | %s | **%s** | %s / %s / %s | %d | %d | %d | %d | %s | %s |\n\n",
		thousands(c.streams), thousands(int(st.Opened)), st.Failed, mdfmt.Ms(time.Duration(st.LastDialNs-st.FirstDialNs)),
		since(st.LastOpenNs), since(s.heldAt), routed,
		mdfmt.Ms(nsPct(s.openNs, 50)), mdfmt.Ms(nsPct(s.openNs, 99)), mdfmt.Ms(nsPct(s.openNs, 100)),
		routeCommands(s.before, s.opened), calls["subscribe"], calls["ssubscribe"], channels(s.redisOpened),
		mdfmt.Sig3(float64(cpuSince(s.before, s.opened))/1e6), s.others)
	fmt.Fprintf(b, "Commands Redis ran while the streams opened: %s.\n\n", callsLine(calls))
	r.renderClose(b)
}

// renderClose writes the close that follows the connect wave.
func (r *report) renderClose(b *strings.Builder) {
	s := r.connect
	if s.closed == nil {
		return
	}
	since := func(at int64) string {
		if at == 0 {
			return "—"
		}
		return mdfmt.Ms(time.Duration(at-s.closeAt)) + " ms"
	}
	calls := s.redisClosed.callsSince(s.redisOpened)
	fmt.Fprintf(b, "Then the client process closes every stream at once; times from the close. *Gone*: `Stats.Connections` 0; *unrouted*: `Routes` and `RoutesPending` 0 (waited at most 15 s).\n\n")
	fmt.Fprintf(b, "| all gone | all unrouted | routes / pending left | RouteCommands | UNSUBSCRIBE | SUNSUBSCRIBE | channels after | CPU ms |\n")
	fmt.Fprintf(b, "|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(b, "| %s | %s | %d / %d | %d | %d | %d | %d | %s |\n\n",
		since(s.closedAt), since(s.unroutedAt), s.closeRoutes, s.closePending, routeCommands(s.opened, s.closed),
		calls["unsubscribe"], calls["sunsubscribe"], channels(s.redisClosed), mdfmt.Sig3(float64(cpuSince(s.opened, s.closed))/1e6))
	fmt.Fprintf(b, "Commands Redis ran while the streams closed: %s.\n\n", callsLine(calls))
}

// routeCommands is Δ RouteCommands over the instances from a to b.
func routeCommands(a, b []instanceStats) int64 {
	var n int64
	for i := range b {
		if i < len(a) {
			n += b[i].Hub.RouteCommands - a[i].Hub.RouteCommands
		}
	}
	return n
}

// cpuSince is the instances' CPU time from a to b.
func cpuSince(a, b []instanceStats) time.Duration {
	var n int64
	for i := range b {
		if i < len(a) {
			n += b[i].CPUNs - a[i].CPUNs
		}
	}
	return time.Duration(n)
}

// channels is how many channels, shard channels included, had
// subscribers.
func channels(ri redisInfo) int64 { return ri.pubsubChannels + ri.shardChannels }

// nsPct is the p-th percentile (nearest rank) of sorted ns, as a
// duration.
func nsPct(sorted []int64, p float64) time.Duration {
	d := make([]time.Duration, len(sorted))
	for i, v := range sorted {
		d[i] = time.Duration(v)
	}
	return mdfmt.Pct(d, p)
}
