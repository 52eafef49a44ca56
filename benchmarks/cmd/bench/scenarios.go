package main

import (
	"strconv"
	"time"
)

// spec is one load-client run against a fresh server process.
type spec struct {
	// key names the run inside its scenario ("ref", "stall", or "").
	key string
	// load holds the load client's scenario flags.
	load []string
	// server holds extra server flags.
	server []string
	// timeout is the load client's hard limit; the runner adds a grace.
	timeout time.Duration
}

// scenario is one section of the report.
type scenario struct {
	name  string
	title string
	// about describes the parameters in the report.
	about string
	runs  []spec
}

// sizes are the scenario parameters; quick scales them down.
type sizes struct {
	burstConns, burstCount, burstSize                   int
	latConns, latRate, latSeconds, latSize              int
	idleConns                                           int
	slowConns, slowStall, slowCount, slowSize, slowRate int
	slowSndBuf, slowRcvBuf                              int
	stallConns, stallStalled                            int
	stallCount, stallSize, stall1kCount, stall1kSize    int
	burstTimeout, latTimeout, idleTimeout, slowTimeout  time.Duration
	idleSettle, slowDrain, stuckAfter                   time.Duration
	stallFor, stallDrain, stallTimeout                  time.Duration
}

func fullSizes() sizes {
	return sizes{
		burstConns: 1000, burstCount: 200, burstSize: 256,
		latConns: 500, latRate: 100, latSeconds: 10, latSize: 256,
		idleConns: 5000,
		slowConns: 1000, slowStall: 50, slowCount: 250, slowSize: 8192, slowRate: 50,
		slowSndBuf: 64 << 10, slowRcvBuf: 16 << 10,
		burstTimeout: 60 * time.Second, latTimeout: 45 * time.Second,
		idleTimeout: 90 * time.Second, slowTimeout: 45 * time.Second,
		idleSettle: time.Second, slowDrain: 3 * time.Second, stuckAfter: 3 * time.Second,
		stallConns: 1000, stallStalled: 50,
		stallCount: 200, stallSize: 256, stall1kCount: 2000, stall1kSize: 1024,
		stallFor: 2 * time.Second, stallDrain: 3 * time.Second, stallTimeout: 90 * time.Second,
	}
}

func quickSizes() sizes {
	s := fullSizes()
	s.burstConns, s.burstCount = 200, 50
	s.latConns, s.latSeconds = 100, 2
	s.idleConns = 500
	s.slowConns, s.slowStall, s.slowCount, s.slowRate = 200, 10, 200, 100
	s.burstTimeout, s.latTimeout, s.idleTimeout, s.slowTimeout = 20*time.Second, 20*time.Second, 30*time.Second, 30*time.Second
	s.idleSettle, s.slowDrain, s.stuckAfter = 300*time.Millisecond, time.Second, 2*time.Second
	s.stallConns, s.stallStalled, s.stallCount, s.stall1kCount = 200, 10, 50, 400
	s.stallFor, s.stallDrain, s.stallTimeout = time.Second, time.Second, 20*time.Second
	return s
}

func itoa(i int) string { return strconv.Itoa(i) }

func scenarios(z sizes) []scenario {
	stuck := z.stuckAfter.String()
	slowLoad := func(stall int) []string {
		a := []string{"-scenario", "burst", "-conns", itoa(z.slowConns), "-stall", itoa(stall),
			"-count", itoa(z.slowCount), "-size", itoa(z.slowSize), "-rate", itoa(z.slowRate),
			"-stuck", stuck, "-drain", z.slowDrain.String(), "-stall-rcvbuf", itoa(z.slowRcvBuf)}
		return a
	}
	slowServer := []string{"-sndbuf", itoa(z.slowSndBuf)}
	// The stalled-client bursts: back to back, the stalled streams stop
	// reading for stallFor from the first publish call, then read again;
	// the sockets are those of the slow scenario, so the kernel holds
	// little of what they do not read and the library's policy decides.
	stallLoad := func(stall, count, size int) []string {
		return []string{"-scenario", "burst", "-conns", itoa(z.stallConns), "-stall", itoa(stall),
			"-count", itoa(count), "-size", itoa(size), "-rate", "0",
			"-stuck", (z.stallFor + z.stuckAfter).String(), "-stall-for", z.stallFor.String(),
			"-drain", z.stallDrain.String(), "-stall-rcvbuf", itoa(z.slowRcvBuf)}
	}
	stallAbout := func(count, size int) string {
		return itoa(z.stallConns) + " streams × " + itoa(count) + " messages × " + itoa(size) + " B (" +
			strconv.FormatFloat(float64(count*size)/(1<<20), 'f', 2, 64) + " MiB per stream), published back to back; " +
			itoa(z.stallStalled) + " of the streams stop reading for " + z.stallFor.String() +
			" from the first publish call, then read again and get " + z.stallDrain.String() +
			" to read the rest. Sockets as in the slow-consumer scenario (server SO_SNDBUF " + itoa(z.slowSndBuf>>10) +
			" KiB, stalled clients SO_RCVBUF " + itoa(z.slowRcvBuf>>10) + " KiB). \"ref\" is the same run with no stalled stream."
	}
	stallRuns := func(count, size int) []spec {
		return []spec{
			{key: "ref", load: stallLoad(0, count, size), server: slowServer, timeout: z.stallTimeout},
			{key: "stall", load: stallLoad(z.stallStalled, count, size), server: slowServer, timeout: z.stallTimeout},
		}
	}
	return []scenario{
		{
			name:  "burst",
			title: "Broadcast burst",
			about: itoa(z.burstConns) + " streams × " + itoa(z.burstCount) + " messages × " + itoa(z.burstSize) +
				" B, published back to back; from the first publish call to the last delivery.",
			runs: []spec{{
				load: []string{"-scenario", "burst", "-conns", itoa(z.burstConns), "-count", itoa(z.burstCount),
					"-size", itoa(z.burstSize), "-rate", "0", "-stuck", stuck},
				timeout: z.burstTimeout,
			}},
		},
		{
			name:  "latency",
			title: "Fixed-rate latency",
			about: itoa(z.latConns) + " streams, " + itoa(z.latRate) + " messages/s for " + itoa(z.latSeconds) +
				" s, " + itoa(z.latSize) + " B; publish-to-receive over every delivery.",
			runs: []spec{{
				load: []string{"-scenario", "burst", "-conns", itoa(z.latConns), "-count", itoa(z.latRate * z.latSeconds),
					"-size", itoa(z.latSize), "-rate", itoa(z.latRate), "-stuck", stuck},
				timeout: z.latTimeout,
			}},
		},
		{
			name:  "idle",
			title: "Idle memory",
			about: itoa(z.idleConns) + " idle streams (one warm-up message each), measured after " + z.idleSettle.String() +
				" and runtime.GC + debug.FreeOSMemory, over the same server with no stream.",
			runs: []spec{{
				load:    []string{"-scenario", "idle", "-conns", itoa(z.idleConns), "-settle", z.idleSettle.String()},
				timeout: z.idleTimeout,
			}},
		},
		{
			name:  "slow",
			title: "Slow consumers",
			about: itoa(z.slowConns) + " streams, " + itoa(z.slowStall) + " of which stop reading once subscribed; " +
				itoa(z.slowCount) + " messages × " + itoa(z.slowSize) + " B at " + itoa(z.slowRate) +
				" messages/s (" + strconv.FormatFloat(float64(z.slowCount*z.slowSize)/(1<<20), 'f', 1, 64) +
				" MiB per stream). Server sockets SO_SNDBUF " + itoa(z.slowSndBuf>>10) + " KiB, stalled clients SO_RCVBUF " +
				itoa(z.slowRcvBuf>>10) + " KiB, so their kernel buffers fill early. \"ref\" is the same run with no stalled stream.",
			runs: []spec{
				{key: "ref", load: slowLoad(0), server: slowServer, timeout: z.slowTimeout},
				{key: "stall", load: slowLoad(z.slowStall), server: slowServer, timeout: z.slowTimeout},
			},
		},
		{
			name:  "stall",
			title: "Burst with stalled clients, " + itoa(z.stallSize) + " B",
			about: stallAbout(z.stallCount, z.stallSize),
			runs:  stallRuns(z.stallCount, z.stallSize),
		},
		{
			name:  "stall1k",
			title: "Burst with stalled clients, " + itoa(z.stall1kSize) + " B",
			about: stallAbout(z.stall1kCount, z.stall1kSize),
			runs:  stallRuns(z.stall1kCount, z.stall1kSize),
		},
	}
}
