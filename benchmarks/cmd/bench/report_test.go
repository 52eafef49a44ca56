package main

import (
	"strings"
	"testing"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// TestRenderShowsConfigsAndChecks renders a stalled-burst table from made-up
// reports: a row per library and configuration, the delivery checks, and
// ssekify's lead over the best other library.
func TestRenderShowsConfigsAndChecks(t *testing.T) {
	o := options{libs: []string{"ssekify", "baseline", "r3labs"}, configs: allConfigs, rounds: 1, queueItems: 1024, queueBytes: 1 << 20}
	z := quickSizes()
	var sc scenario
	for _, s := range scenarios(z) {
		if s.name == "stall1k" {
			sc = s
		}
	}
	if sc.name == "" {
		t.Fatal("no stall1k scenario")
	}
	rep := func(rate float64, lost int64) *wire.Report {
		c := &wire.Check{Streams: 10, Expected: 100, Received: 100 - lost, Lost: lost}
		return &wire.Report{OK: true, DeliveriesPerSec: rate, Healthy: c, StalledCheck: c,
			RSSBefore: 10 << 20, RSSStall: 12 << 20, RSSPeak: 13 << 20, RSSDrained: 11 << 20, Publish: &wire.BurstResult{MaxPublishNs: 1e6}}
	}
	results := map[resultKey][]result{}
	for _, conf := range o.configs {
		for _, key := range []string{"ref", "stall"} {
			results[resultKey{conf, "stall1k", key, "ssekify"}] = []result{{Report: rep(900e3, 0), Tries: 1}}
			results[resultKey{conf, "stall1k", key, "baseline"}] = []result{{Report: rep(400e3, 3), Tries: 1}}
			results[resultKey{conf, "stall1k", key, "r3labs"}] = []result{{Report: rep(300e3, 0), Tries: 1}}
		}
	}
	md := render(o, z, []scenario{sc}, results, time.Second)
	for _, want := range []string{
		"| ssekify | tuned | 900 k | 900 k |",
		"| baseline | defaults | 400 k (×0.44) |",
		"| 3/0/0/0 |",
		"| 0/0/0/0 |",
		"defaults ×3.00 over the best other library (r3labs), ×2.25 over the net/http baseline",
		"| 2.0 | 3.0 | 1.0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

func TestCheckText(t *testing.T) {
	_, got := checkText(&wire.Check{Streams: 2, Lost: 12345, GapCovered: 7, Duplicates: 1, Reordered: 0, BadIDs: 2, Closed: 1}, true)
	if want := "12k/7/1/0 (2 bad ids, 1 closed, run ended early)"; got != want {
		t.Fatalf("checkText = %q, want %q", got, want)
	}
}
