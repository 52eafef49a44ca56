package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/mdfmt"
)

// shareRow is one instance's figures over the measured phase.
type shareRow struct {
	streams   int
	share     float64 // events for its users ÷ events
	envelopes int64   // Δ BrokerEnvelopes, or the estimate (estimated)
	estimated bool
	received  int64 // Δ Received
	subRead   int64 // Δ bytes read on the subscription connections
	allRead   int64 // Δ bytes read on every connection
	delivered int64 // Δ Sent
	cpu       time.Duration
	wall      time.Duration
}

// rows computes every instance's figures. When no instance counted
// BrokerEnvelopes (a build without it), the envelopes an instance read
// are estimated: Δ Received, plus Δ Published for the publisher, since
// then every envelope, one's own included, comes back on the one channel.
func (s *shareResult) rows(events int) []shareRow {
	counted := false
	for i := range s.after {
		counted = counted || s.after[i].Hub.BrokerEnvelopes > s.before[i].Hub.BrokerEnvelopes
	}
	out := make([]shareRow, len(s.after))
	for i := range s.after {
		a, b := s.before[i], s.after[i]
		r := shareRow{
			streams: s.streams[i], share: div(float64(s.expected[i]), float64(events)),
			envelopes: b.Hub.BrokerEnvelopes - a.Hub.BrokerEnvelopes,
			received:  b.Hub.Received - a.Hub.Received,
			subRead:   b.SubRead - a.SubRead, allRead: b.RedisRead - a.RedisRead,
			delivered: b.Hub.Sent - a.Hub.Sent,
			cpu:       time.Duration(b.CPUNs - a.CPUNs), wall: time.Duration(b.AtNs - a.AtNs),
		}
		if !counted {
			r.envelopes, r.estimated = r.received+(b.Hub.Published-a.Hub.Published), true
		}
		out[i] = r
	}
	return out
}

// renderShare writes the share scenario's table and the lines under it.
func (r *report) renderShare(b *strings.Builder) {
	s, c := r.share, r.cfg
	fmt.Fprintf(b, "### Share: %d instances × %s streams, %s user-targeted events\n\n", c.instances, thousands(c.streams/c.instances), thousands(c.events))
	notesLine(b, s.err, s.notes)
	if s.after == nil {
		return
	}
	rate := "back to back"
	if c.rate > 0 {
		rate = mdfmt.Count(float64(c.rate)) + "/s offered"
	}
	fmt.Fprintf(b, "Users u00000…u%05d, one stream each, dealt to the instances by a seeded shuffle (every stream open and held after %s). "+
		"Instance 0 publishes %s `PublishToUser` events to random users (%d goroutines, %s), after %d warm-up events that are not counted. "+
		"Figures are deltas over the measured phase: from just before the first publish until every stream had its events and the instances' counters stopped moving. "+
		"*Share*: the events for its users ÷ all events. *Envelopes read*: Δ `Stats.BrokerEnvelopes` (own and others', before dropping duplicates)%s. "+
		"*Of all*: envelopes read ÷ events published (1.00: it reads every envelope). "+
		"*÷ share*: envelopes read ÷ events for its users; issue 13's target is ≤ 1.1 (an instance reads at most 1.1 × its share). "+
		"*Sub bytes*: bytes read from Redis on its subscription connection(s), with *per event* ÷ events published and *of the %d* ÷ what the %d instances read on theirs "+
		"(and that ÷ its share: a balance, the same before and after when every instance reads the same). "+
		"*CPU*: the process's user+system time (getrusage) during the phase, ÷ events it delivered (Δ `Stats.Sent`).\n\n",
		c.streams-1, s.openTime.Round(time.Millisecond), thousands(c.events), c.publishers, rate, warmEvents,
		estimateNote(s.rows(c.events)), c.instances, c.instances)
	rows := s.rows(c.events)
	pub := float64(s.pub.Published)
	var subTotal, allTotal int64
	for _, row := range rows {
		subTotal += row.subRead
		allTotal += row.allRead
	}
	fmt.Fprintf(b, "| instance | streams | share | envelopes read | of all | ÷ share ↓ | received from others | sub bytes | per event ↓ | of the %d | ÷ share | all bytes read | delivered | CPU ms | CPU µs / delivered ↓ |\n", c.instances)
	fmt.Fprintf(b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for i, row := range rows {
		name := fmt.Sprint(i)
		if i == 0 {
			name += " (publishes)"
		}
		env := mdfmt.Count(float64(row.envelopes))
		if row.estimated {
			env += " †"
		}
		bytesShare := div(float64(row.subRead), float64(subTotal))
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %s | %s | **%s** |\n",
			name, row.streams, f2(row.share), env, f2(div(float64(row.envelopes), pub)), f2(div(div(float64(row.envelopes), pub), row.share)),
			mdfmt.Count(float64(row.received)), bytesFmt(row.subRead), sig(div(float64(row.subRead), pub)), f2(bytesShare), f2(div(bytesShare, row.share)),
			bytesFmt(row.allRead), mdfmt.Count(float64(row.delivered)), mdfmt.Sig3(float64(row.cpu)/1e6), sig(div(float64(row.cpu)/1e3, float64(row.delivered))))
	}
	b.WriteString("\n")
	r.renderShareTotals(b, rows, subTotal, allTotal)
}

// estimateNote explains the † of the envelopes column, when it is there.
func estimateNote(rows []shareRow) string {
	if len(rows) == 0 || !rows[0].estimated {
		return ""
	}
	return "; † this build counts none (`BrokerEnvelopes` stayed 0), so it is estimated as Δ `Received` (other instances' envelopes), " +
		"plus Δ `Published` for the publisher, whose own envelopes come back on the one channel too"
}

// renderShareTotals writes the lines under the share table: Redis's
// output, the publish, the streams' account, the other processes.
func (r *report) renderShareTotals(b *strings.Builder, rows []shareRow, subTotal, allTotal int64) {
	s := r.share
	pub := float64(s.pub.Published)
	out := s.redisAfter.netOut - s.redisBefore.netOut
	in := s.redisAfter.netIn - s.redisBefore.netIn
	var cpu time.Duration
	var delivered int64
	for _, row := range rows {
		cpu += row.cpu
		delivered += row.delivered
	}
	fmt.Fprintf(b, "- **Redis output: %s, %s B per published event** (Δ `total_net_output_bytes`); input %s (%s B per event); "+
		"the instances read %s on their subscriptions (%s B per event) and %s on all their connections; commands: %s.\n",
		bytesFmt(out), sig(div(float64(out), pub)), bytesFmt(in), sig(div(float64(in), pub)),
		bytesFmt(subTotal), sig(div(float64(subTotal), pub)), bytesFmt(allTotal), callsLine(s.redisAfter.callsSince(s.redisBefore)))
	fmt.Fprintf(b, "- All instances: %s CPU ms for %s events delivered, **%s µs per delivered event**; phase %s.\n",
		mdfmt.Sig3(float64(cpu)/1e6), mdfmt.Count(float64(delivered)), sig(div(float64(cpu)/1e3, float64(delivered))), rows[0].wall.Round(time.Millisecond))
	p := s.pub
	errs := fmt.Sprint(p.Errors)
	if p.FirstError != "" {
		errs += " (" + mdfmt.Clip(p.FirstError, 80) + ")"
	}
	elapsed := time.Duration(p.EndNs - p.StartNs)
	if len(s.idle) > 0 {
		parts := make([]string, len(s.idle))
		for i, v := range s.idle {
			parts[i] = mdfmt.Sig3(v)
		}
		fmt.Fprintf(b, "- Idle CPU of the instances just before the phase (while the tool waited for a quiet machine): %s ms/s.\n", strings.Join(parts, ", "))
	}
	fmt.Fprintf(b, "- Publish: %s published, %s errors, in %s (%s/s).\n",
		mdfmt.Count(pub), errs, elapsed.Round(time.Millisecond), sig(div(pub, elapsed.Seconds())))
	k := s.check
	verdict := "every event reached its user's stream once, and no other"
	if !k.exact() {
		verdict = "**not exact**"
	}
	fmt.Fprintf(b, "- Streams: %s events for %s users: received %s, missing %d, duplicates %d, misrouted %d (%s); "+
		"gap events %d, events without a payload %d, streams ended by the server %d.\n",
		mdfmt.Count(float64(k.expected)), mdfmt.Count(float64(k.users)), mdfmt.Count(float64(k.received)), k.missing, k.dups, k.misrouted, verdict,
		s.status.Gaps, s.status.Other, s.status.Ended)
	fmt.Fprintf(b, "- Others: %s.\n\n", s.others)
}
