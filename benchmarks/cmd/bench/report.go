package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// metric is one column of a scenario's table.
type metric struct {
	header string
	// key selects the run of the scenario the figure comes from.
	key string
	// better is +1 when higher is better, -1 when lower is, 0 for a
	// figure that gets no ratio.
	better int
	// partial lets the figure be read from a run that did not complete.
	partial bool
	// lead marks a deliveries/s figure whose lead over the other libraries
	// the line under the table tells.
	lead bool
	// value returns the figure, or a text to show instead of a number.
	value  func(r *wire.Report) (v float64, text string)
	format func(float64) string
}

func num(v float64) (float64, string) { return v, "" }

func perDelivery(v float64, r *wire.Report) float64 {
	if r.Deliveries == 0 {
		return math.NaN()
	}
	return v / float64(r.Deliveries)
}

func fmtK(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtF(prec int) func(float64) string {
	return func(v float64) string { return fmt.Sprintf("%.*f", prec, v) }
}

func fmtMs(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

func clientCPU(r *wire.Report) (float64, string) {
	if r.DurationNs <= 0 {
		return math.NaN(), ""
	}
	return 100 * float64(r.ClientCPUNs) / float64(r.DurationNs), ""
}

// deliveryRate reads deliveries/s, or says how far an incomplete run got.
func deliveryRate(r *wire.Report) (float64, string) {
	if !r.OK && r.Expected > 0 {
		what := "stuck"
		if !r.Stuck {
			what = "timeout"
		}
		return math.NaN(), fmt.Sprintf("%s %.0f%%", what, 100*float64(r.Deliveries)/float64(r.Expected))
	}
	return r.DeliveriesPerSec, ""
}

// checkText tells a delivery check as lost/gap/dup/reord: messages neither
// received nor covered by a gap event, covered by gap events, received
// twice, received out of order; then anything else amiss. In a run that
// ended early (stuck, time limit), "lost" holds what had not come yet.
func checkText(c *wire.Check, ended bool) (float64, string) {
	if c == nil || c.Streams == 0 {
		return math.NaN(), ""
	}
	t := fmt.Sprintf("%s/%s/%s/%s", count(c.Lost), count(c.GapCovered), count(c.Duplicates), count(c.Reordered))
	var extra []string
	if c.BadIDs > 0 {
		extra = append(extra, count(c.BadIDs)+" bad ids")
	}
	if c.OverAnnounced > 0 {
		extra = append(extra, count(c.OverAnnounced)+" over-announced")
	}
	if c.GapInexact > 0 {
		extra = append(extra, count(c.GapInexact)+" inexact gaps")
	}
	if c.Closed > 0 {
		extra = append(extra, itoa(c.Closed)+" closed")
	}
	if ended && c.Lost > 0 {
		extra = append(extra, "run ended early")
	}
	if len(extra) > 0 {
		t += " (" + strings.Join(extra, ", ") + ")"
	}
	return math.NaN(), t
}

// count formats a count compactly: 12, 3.4k, 1.2M.
func count(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.0fk", float64(n)/1e3)
	case n >= 1e3:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}

func healthyCheck(r *wire.Report) (float64, string) { return checkText(r.Healthy, !r.OK) }
func stalledCheck(r *wire.Report) (float64, string) { return checkText(r.StalledCheck, !r.OK) }

// stalledGot is the share of the messages the stalled streams received.
func stalledGot(r *wire.Report) (float64, string) {
	c := r.StalledCheck
	if c == nil || c.Expected == 0 {
		return math.NaN(), ""
	}
	return 100 * float64(c.Received) / float64(c.Expected), ""
}

// rssGrowth is a VmRSS figure of the report over RSSBefore, in MiB.
func rssGrowth(f func(r *wire.Report) int64) func(r *wire.Report) (float64, string) {
	return func(r *wire.Report) (float64, string) {
		v := f(r)
		if v == 0 || r.RSSBefore == 0 {
			return math.NaN(), ""
		}
		return float64(v-r.RSSBefore) / (1 << 20), ""
	}
}

func perStream(f func(s *wire.Stats) float64, div float64) func(r *wire.Report) (float64, string) {
	return func(r *wire.Report) (float64, string) {
		if r.Before == nil || r.After == nil || r.Conns == 0 {
			return math.NaN(), ""
		}
		return (f(r.After) - f(r.Before)) / float64(r.Conns) / div, ""
	}
}

func metrics(scenario string) []metric {
	switch scenario {
	case "burst":
		return []metric{
			{header: "deliveries/s ↑", better: 1, lead: true, value: deliveryRate, format: fmtK},
			{header: "server CPU µs/delivery ↓", better: -1, format: fmtF(2), value: func(r *wire.Report) (float64, string) {
				return perDelivery(float64(r.ServerCPUNs)/1e3, r), ""
			}},
			{header: "allocs/delivery ↓", better: -1, format: fmtF(2), value: func(r *wire.Report) (float64, string) {
				return perDelivery(float64(r.ServerMallocs), r), ""
			}},
			{header: "p99 latency ms ↓", better: -1, format: fmtMs, value: func(r *wire.Report) (float64, string) { return num(ms(r.LatP99Ns)) }},
			{header: "lost/gap/dup/reord", partial: true, format: fmtF(0), value: healthyCheck},
			{header: "load client CPU %", format: fmtF(0), value: clientCPU},
		}
	case "latency":
		return []metric{
			{header: "p50 ms ↓", better: -1, format: fmtMs, value: func(r *wire.Report) (float64, string) { return num(ms(r.LatP50Ns)) }},
			{header: "p99 ms ↓", better: -1, format: fmtMs, value: func(r *wire.Report) (float64, string) { return num(ms(r.LatP99Ns)) }},
			{header: "max ms ↓", better: -1, format: fmtMs, value: func(r *wire.Report) (float64, string) { return num(ms(r.LatMaxNs)) }},
			{header: "server CPU µs/delivery ↓", better: -1, format: fmtF(2), value: func(r *wire.Report) (float64, string) {
				return perDelivery(float64(r.ServerCPUNs)/1e3, r), ""
			}},
			{header: "lost/gap/dup/reord", partial: true, format: fmtF(0), value: healthyCheck},
			{header: "load client CPU %", format: fmtF(0), value: clientCPU},
		}
	case "idle":
		return []metric{
			{header: "RSS KiB/stream ↓", better: -1, format: fmtF(1), value: func(r *wire.Report) (float64, string) {
				if r.Conns == 0 {
					return math.NaN(), ""
				}
				return float64(r.RSSAfter-r.RSSBefore) / float64(r.Conns) / 1024, ""
			}},
			{header: "heap KiB/stream ↓", better: -1, format: fmtF(1), value: perStream(func(s *wire.Stats) float64 { return float64(s.HeapInuse) }, 1024)},
			{header: "stack KiB/stream ↓", better: -1, format: fmtF(1), value: perStream(func(s *wire.Stats) float64 { return float64(s.StackInuse) }, 1024)},
			{header: "goroutines/stream ↓", better: -1, format: fmtF(2), value: perStream(func(s *wire.Stats) float64 { return float64(s.Goroutines) }, 1)},
			{header: "RSS MiB total", format: fmtF(0), value: func(r *wire.Report) (float64, string) { return num(float64(r.RSSAfter) / (1 << 20)) }},
		}
	case "slow":
		return []metric{
			{header: "ref deliveries/s ↑", key: "ref", better: 1, partial: true, value: deliveryRate, format: fmtK},
			{header: "deliveries/s to the others ↑", key: "stall", better: 1, partial: true, value: deliveryRate, format: fmtK},
			{header: "ref p99 ms ↓", key: "ref", better: -1, format: fmtMs, value: func(r *wire.Report) (float64, string) { return num(ms(r.LatP99Ns)) }},
			{header: "others' p99 ms ↓", key: "stall", better: -1, format: fmtMs, value: func(r *wire.Report) (float64, string) { return num(ms(r.LatP99Ns)) }},
			{header: "memory growth MiB ↓", key: "stall", better: -1, partial: true, format: fmtF(1), value: func(r *wire.Report) (float64, string) {
				if r.RSSPeak == 0 {
					return math.NaN(), ""
				}
				return float64(r.RSSPeak-r.RSSBefore) / (1 << 20), ""
			}},
			{header: "publish total ms ↓", key: "stall", better: -1, partial: true, format: fmtMs, value: func(r *wire.Report) (float64, string) {
				if r.Publish == nil {
					return math.NaN(), "blocked"
				}
				return ms(r.Publish.TotalPublishNs), ""
			}},
			{header: "publish max ms ↓", key: "stall", better: -1, partial: true, format: fmtMs, value: func(r *wire.Report) (float64, string) {
				if r.Publish == nil {
					return math.NaN(), "blocked"
				}
				return ms(r.Publish.MaxPublishNs), ""
			}},
			{header: "others lost/gap/dup/reord", key: "stall", partial: true, format: fmtF(0), value: healthyCheck},
			{header: "stalled lost/gap/dup/reord", key: "stall", partial: true, format: fmtF(0), value: stalledCheck},
		}
	case "stall", "stall1k":
		return []metric{
			{header: "ref deliveries/s ↑", key: "ref", better: 1, partial: true, lead: true, value: deliveryRate, format: fmtK},
			{header: "deliveries/s to the others ↑", key: "stall", better: 1, partial: true, lead: true, value: deliveryRate, format: fmtK},
			{header: "others' p99 ms ↓", key: "stall", better: -1, format: fmtMs, value: func(r *wire.Report) (float64, string) { return num(ms(r.LatP99Ns)) }},
			{header: "ref lost/gap/dup/reord", key: "ref", partial: true, format: fmtF(0), value: healthyCheck},
			{header: "others lost/gap/dup/reord", key: "stall", partial: true, format: fmtF(0), value: healthyCheck},
			{header: "stalled got % ↑", key: "stall", better: 1, partial: true, format: fmtF(1), value: stalledGot},
			{header: "stalled lost/gap/dup/reord", key: "stall", partial: true, format: fmtF(0), value: stalledCheck},
			{header: "RSS MiB at resume ↓", key: "stall", better: -1, partial: true, format: fmtF(1), value: rssGrowth(func(r *wire.Report) int64 { return r.RSSStall })},
			{header: "RSS MiB peak ↓", key: "stall", better: -1, partial: true, format: fmtF(1), value: rssGrowth(func(r *wire.Report) int64 { return r.RSSPeak })},
			{header: "RSS MiB after ↓", key: "stall", better: -1, partial: true, format: fmtF(1), value: rssGrowth(func(r *wire.Report) int64 { return r.RSSDrained })},
			{header: "publish max ms ↓", key: "stall", better: -1, partial: true, format: fmtMs, value: func(r *wire.Report) (float64, string) {
				if r.Publish == nil {
					return math.NaN(), "blocked"
				}
				return ms(r.Publish.MaxPublishNs), ""
			}},
		}
	}
	return nil
}

// cell is one library's figure over the rounds.
type cell struct {
	texts []string
	vals  []float64
}

func (c cell) mean() (float64, bool) {
	s, n := 0.0, 0
	for _, v := range c.vals {
		if !math.IsNaN(v) {
			s += v
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return s / float64(n), true
}

func makeCell(m metric, rs []result) cell {
	var c cell
	for _, r := range rs {
		v, text := math.NaN(), ""
		switch {
		case r.Err != "":
			text = "fail"
			if strings.HasPrefix(r.Err, "timeout") {
				text = "timeout"
			}
		case r.Report == nil:
			text = "fail"
		case !r.Report.OK && !m.partial:
			text = "fail"
			if r.Report.Timeout {
				text = "timeout"
			}
		default:
			v, text = m.value(r.Report)
			if text == "" && math.IsNaN(v) {
				text = "–"
			}
		}
		if text == "" {
			text = m.format(v)
		}
		c.texts = append(c.texts, text)
		c.vals = append(c.vals, v)
	}
	return c
}

func render(o options, z sizes, scens []scenario, results map[resultKey][]result, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# SSE libraries side by side\n\n")
	fmt.Fprintf(&b, "Generated by `go run ./cmd/bench%s` on %s; %d round(s), %s in all.\n\n",
		flagsUsed(o), time.Now().UTC().Format("2006-01-02 15:04 MST"), o.rounds, took.Round(time.Second))
	fmt.Fprintf(&b, "Machine: %s. %s. Server and load client are separate processes on the same machine%s.\n\n",
		machine(), goVersion(), pinText(o.pin))
	fmt.Fprintf(&b, "Libraries: %s.\n\n", versions())
	fmt.Fprintf(&b, "Each cell is `round 1 · round 2`, then the ratio of the library's mean to ssekify's in the same configuration (`×2.0` = twice ssekify's figure); "+
		"↑ marks figures where higher is better, ↓ where lower is.\n\n")
	fmt.Fprintf(&b, "Configurations: %s.\n\n", configText(o))
	fmt.Fprintf(&b, "Delivery checks (`lost/gap/dup/reord`): per stream, from each payload's sequence number, the messages neither received nor announced by a gap event "+
		"(for a library without gap events, every one not received), those ssekify's gap event (`ssekify:gap`) announced at their place, "+
		"those received twice, and those received after a later one; ssekify's position ids (`v1.<epoch>.<pos>`) must also increase along every stream. "+
		"`0/0/0/0`: every stream got every message once, in order.\n\n")
	for _, sc := range scens {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", sc.title, sc.about)
		cols := metrics(sc.name)
		b.WriteString("| library | config |")
		for _, m := range cols {
			b.WriteString(" " + m.header + " |")
		}
		if sc.name == "slow" {
			b.WriteString(" what happens to the stalled streams |")
		}
		b.WriteString("\n|---|---|")
		for range cols {
			b.WriteString("---:|")
		}
		if sc.name == "slow" {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		for _, conf := range o.configs {
			for _, lib := range o.libs {
				fmt.Fprintf(&b, "| %s | %s |", lib, conf)
				for _, m := range cols {
					c := makeCell(m, results[resultKey{conf, sc.name, m.key, lib}])
					text := strings.Join(c.texts, " · ")
					if m.better != 0 && lib != refLib {
						ref := makeCell(m, results[resultKey{conf, sc.name, m.key, refLib}])
						lv, ok1 := c.mean()
						rv, ok2 := ref.mean()
						if ok1 && ok2 && rv != 0 {
							text += fmt.Sprintf(" (×%s)", ratio(lv/rv))
						}
					}
					b.WriteString(" " + text + " |")
				}
				if sc.name == "slow" {
					b.WriteString(" " + outcomes(results[resultKey{conf, sc.name, "stall", lib}]) + " |")
				}
				b.WriteString("\n")
			}
		}
		if lead := leads(o, sc, cols, results); lead != "" {
			b.WriteString("\n" + lead + "\n")
		}
		b.WriteString("\n" + noise(o, sc, results) + "\n\n")
	}
	if notes := failures(o, scens, results); notes != "" {
		b.WriteString("## Failures\n\n" + notes + "\n")
	}
	return b.String()
}

// configText describes the configurations of the report.
func configText(o options) string {
	var parts []string
	for _, c := range o.configs {
		switch c {
		case "tuned":
			parts = append(parts, fmt.Sprintf("`tuned` gives every library that has a per-connection queue bound the same one, %d frames and %d KiB "+
				"(ssekify MaxQueueItems/MaxQueueBytes, baseline's channel, centrifuge ClientQueueMaxSize; r3labs and tmaxmax take none)",
				o.queueItems, o.queueBytes>>10))
		case "defaults":
			parts = append(parts, "`defaults` runs every library as shipped, with no queue option: ssekify 100 frames / 256 KiB per queue, DropPolicy CatchUp, "+
				"logs of 4096 events per target and 64 MiB in all (RecentBufferSize, RecentMaxBytes); baseline's channel 1024 frames; centrifuge 1 MiB; "+
				"r3labs and tmaxmax as always")
		}
	}
	return strings.Join(parts, "; ")
}

// leads tells, for each deliveries/s column marked lead, ssekify's mean
// over the best other library's (the net/http baseline apart) and over the
// baseline's, per configuration.
func leads(o options, sc scenario, cols []metric, results map[resultKey][]result) string {
	if !slices.Contains(o.libs, refLib) {
		return ""
	}
	var lines []string
	for _, m := range cols {
		if !m.lead {
			continue
		}
		var parts []string
		for _, conf := range o.configs {
			rv, ok := makeCell(m, results[resultKey{conf, sc.name, m.key, refLib}]).mean()
			if !ok || rv == 0 {
				continue
			}
			best, bestLib := 0.0, ""
			var base string
			for _, lib := range o.libs {
				if lib == refLib || lib == leanLib {
					continue
				}
				v, ok := makeCell(m, results[resultKey{conf, sc.name, m.key, lib}]).mean()
				if !ok || v <= 0 {
					continue
				}
				if lib == "baseline" {
					base = fmt.Sprintf(", ×%s over the net/http baseline", ratio(rv/v))
					continue
				}
				if v > best {
					best, bestLib = v, lib
				}
			}
			if bestLib == "" {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s ×%s over the best other library (%s)%s", conf, ratio(rv/best), bestLib, base))
		}
		if len(parts) > 0 {
			lines = append(lines, fmt.Sprintf("ssekify's lead in *%s* (target ≥ ×3): %s.", strings.TrimSuffix(m.header, " ↑"), strings.Join(parts, "; ")))
		}
	}
	return strings.Join(lines, "\n")
}

// noise tells how much CPU other processes took during a scenario's runs.
func noise(o options, sc scenario, results map[resultKey][]result) string {
	var other []float64
	repeated := 0
	for _, sp := range sc.runs {
		for _, k := range runKeys(o, sc.name, sp.key) {
			for _, r := range results[k] {
				if r.Tries == 0 {
					continue
				}
				other = append(other, r.OtherCPU)
				if r.Tries > 1 {
					repeated++
				}
			}
		}
	}
	if len(other) == 0 {
		return ""
	}
	slices.Sort(other)
	return fmt.Sprintf("_Other processes used %.0f%% of the machine's CPU in the median run of this scenario, %.0f%% at most; %d run(s) were repeated for that._",
		other[len(other)/2], other[len(other)-1], repeated)
}

func ratio(r float64) string {
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	case r >= 10:
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.2f", r)
}

// outcomes says what the library did with the stalled streams and what
// that did to the others: round 1's account, and round 2's only where it
// differs in kind.
func outcomes(rs []result) string {
	var first, firstKind string
	var parts []string
	for i, r := range rs {
		text, kind := outcome(r)
		if i == 0 {
			first, firstKind = text, kind
			parts = append(parts, text)
			continue
		}
		if kind != firstKind {
			parts = append(parts, fmt.Sprintf("round %d: %s", r.Round, text))
		}
	}
	if len(parts) == 1 && len(rs) > 1 {
		return first + " (every round alike)"
	}
	return strings.Join(parts, " · ")
}

// outcome returns a round's account and its kind, without figures.
func outcome(r result) (text, kind string) {
	rep := r.Report
	if r.Err != "" || rep == nil {
		return "run failed", "failed"
	}
	var s, k []string
	readers := rep.Conns - rep.Stalled
	// Blocked: some of the others neither got everything nor were
	// disconnected, so they are waiting behind the stalled streams.
	blocked := (rep.PublishTimedOut || rep.Stuck || !rep.OK) && rep.Complete+rep.Closed < readers
	switch {
	case rep.PublishTimedOut:
		s = append(s, fmt.Sprintf("waits for them: publisher blocked, the others stopped at %.0f%%", pct(rep.Deliveries, rep.Expected)))
		k = append(k, "publisher blocked")
	case blocked:
		s = append(s, fmt.Sprintf("waits for them: the others stopped at %.0f%%", pct(rep.Deliveries, rep.Expected)))
		k = append(k, "others stopped")
	case rep.Complete == readers:
		s = append(s, "the others got everything")
		k = append(k, "others complete")
	case rep.Closed > 0:
		s = append(s, fmt.Sprintf("%d of the others disconnected, the rest got everything", rep.Closed))
		k = append(k, "others disconnected")
	default:
		s = append(s, fmt.Sprintf("%d of %d others complete", rep.Complete, readers))
		k = append(k, "others incomplete")
	}
	if blocked && rep.Closed > 0 {
		s = append(s, fmt.Sprintf("%d of the others disconnected", rep.Closed))
		k = append(k, "others disconnected")
	}
	want := int64(rep.Stalled) * int64(rep.Count)
	switch {
	case rep.Stalled == 0:
	case rep.StalledClosed > 0:
		s = append(s, fmt.Sprintf("%d of %d stalled disconnected (had got %.0f%%)", rep.StalledClosed, rep.Stalled, pct(rep.StalledReceived, want)))
		k = append(k, "stalled disconnected")
	case blocked:
		s = append(s, fmt.Sprintf("stalled got %.0f%% once they read", pct(rep.StalledReceived, want)))
	case rep.StalledReceived < want:
		s = append(s, fmt.Sprintf("stalled kept, got %.0f%% once they read (the rest dropped)", pct(rep.StalledReceived, want)))
		k = append(k, "stalled dropped")
	default:
		s = append(s, "stalled kept, got 100% once they read (all queued in memory)")
		k = append(k, "stalled queued")
	}
	if rep.Dropped > 0 {
		s = append(s, fmt.Sprintf("library reports %d frames dropped", rep.Dropped))
	}
	return strings.Join(s, "; "), strings.Join(k, ",")
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func failures(o options, scens []scenario, results map[resultKey][]result) string {
	var b strings.Builder
	for _, sc := range scens {
		for _, sp := range sc.runs {
			for _, k := range runKeys(o, sc.name, sp.key) {
				for _, r := range results[k] {
					msg := r.Err
					if msg == "" && r.Report != nil && !r.Report.OK {
						if sc.name == "slow" && sp.key == "stall" {
							continue // told in the table's last column
						}
						msg = r.Report.Error
					}
					if msg == "" {
						continue
					}
					fmt.Fprintf(&b, "- %s%s, %s, %s, round %d: %s\n", sc.name, suffix(sp.key), k.config, k.lib, r.Round, msg)
				}
			}
		}
	}
	return b.String()
}

// runKeys returns the result keys of one run of a scenario: every
// configuration and library.
func runKeys(o options, scenario, key string) []resultKey {
	var out []resultKey
	for _, conf := range o.configs {
		for _, lib := range o.libs {
			out = append(out, resultKey{conf, scenario, key, lib})
		}
	}
	return out
}

func flagsUsed(o options) string {
	var f []string
	if o.quick {
		f = append(f, "-quick")
	}
	if o.pin {
		f = append(f, "-pin")
	}
	if len(o.libs) != len(allLibs) {
		f = append(f, "-libs "+strings.Join(o.libs, ","))
	}
	if !slices.Equal(o.configs, allConfigs) {
		f = append(f, "-configs "+strings.Join(o.configs, ","))
	}
	if len(f) == 0 {
		return ""
	}
	return " " + strings.Join(f, " ")
}

func pinText(pin bool) string {
	if pin {
		return ", the server pinned to CPU 1 and the load client to CPU 0"
	}
	return ", sharing every core"
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB", float64(kb)/(1<<20))
		}
	}
	return fmt.Sprintf("%d × %s%s, %s/%s", runtime.NumCPU(), model, mem, runtime.GOOS, runtime.GOARCH)
}

func goVersion() string {
	b, err := exec.Command("go", "version").Output()
	if err != nil {
		return runtime.Version()
	}
	return strings.TrimSpace(string(b))
}

// versions lists the peer libraries' module versions from go list.
func versions() string {
	out := []string{"ssekify (this repository's working tree; ssekify-lean: the same with Options.Lean)", "baseline (net/http, in this directory)"}
	b, err := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Version}}",
		"github.com/r3labs/sse/v2", "github.com/tmaxmax/go-sse", "github.com/centrifugal/centrifuge").Output()
	if err != nil {
		return strings.Join(out, ", ")
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "" {
			out = append(out, "`"+line+"`")
		}
	}
	return strings.Join(out, ", ")
}
