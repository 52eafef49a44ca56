package main

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/cpuload"
)

// shareOpenRate is how fast the share scenario opens its streams.
const shareOpenRate = 5_000

// warmEvents is how many warm-up events the share scenario publishes
// before its baseline, so that the publisher's scripts are loaded and its
// connections dialed, and every subscription is seen to deliver.
const warmEvents = 100

// shareResult is what the share scenario measured.
type shareResult struct {
	err      string
	notes    []string
	streams  []int   // per instance: the streams the plan put on it
	expected []int64 // per instance: the measured events for its users
	// before and after are the instances' stats around the measured phase.
	before, after []instanceStats
	redisBefore   redisInfo
	redisAfter    redisInfo
	pub           publishResult
	routed        bool          // some instance counted routes
	openTime      time.Duration // from the first dial until every stream was held
	status        clientsStatus // the clients' counts at the end
	check         deliveryCheck
	others        cpuload.Share
	cpuA, cpuB    cpuSample // the machine's CPU around the measured phase
	// idle is each instance's CPU ms per second while it waited for a
	// quiet machine, just before the phase (nil when it was under 0.5 s).
	idle []float64
}

// share runs the share scenario on a fresh cluster: every user's stream
// on a random instance, then -events PublishToUser events to random
// users from instance 0, with the instances' stats and Redis's INFO read
// around them.
func (e *env) share(ctx context.Context) *shareResult {
	r := &shareResult{}
	if err := e.runShare(ctx, r); err != nil {
		r.err = err.Error()
		log.Printf("share: %v", err)
	}
	return r
}

// runShare is share's body; an error ends the scenario.
func (e *env) runShare(ctx context.Context, r *shareResult) error {
	cl, err := e.startCluster(ctx)
	if err != nil {
		return err
	}
	defer cl.stop()
	rng := rand.New(rand.NewPCG(uint64(e.cfg.seed), 13))
	users, place := placeUsers(rng, e.cfg.streams, e.cfg.instances, true)
	r.streams = perInstance(place, e.cfg.instances)
	if r.openTime, err = e.openStreams(ctx, cl, users, place, shareOpenRate, &r.notes); err != nil {
		return err
	}
	if r.routed, err = waitRoutes(ctx, cl, r.streams, &r.notes); err != nil {
		return err
	}
	if err := e.warmUp(ctx, cl, rng, users, &r.notes); err != nil {
		return err
	}

	targets := make([]string, e.cfg.events)
	expect := make(map[string][]int64)
	r.expected = make([]int64, e.cfg.instances)
	for i := range targets {
		k := rng.IntN(len(users))
		targets[i] = users[k]
		expect[users[k]] = append(expect[users[k]], int64(i+1))
		r.expected[place[k]]++
	}
	idleA, err := cl.stats(ctx)
	if err != nil {
		return err
	}
	w := e.quiet(ctx, "share")
	idleB, err := cl.stats(ctx)
	if err != nil {
		return err
	}
	r.idle = idleCPU(idleA, idleB)
	if err := e.measureShare(ctx, cl, targets, r); err != nil {
		return err
	}
	r.others = measured(w, r.cpuA, r.cpuB)
	var rep clientsReport
	if err := cl.clients.call(ctx, pathReport, nil, &rep, 20*time.Second); err != nil {
		return err
	}
	r.check = checkDeliveries(expect, rep.Seqs)
	r.status, err = cl.status(ctx)
	log.Printf("share: %d events published (%d errors); streams got %d, missing %d, duplicates %d, misrouted %d",
		r.pub.Published, r.pub.Errors, r.check.received, r.check.missing, r.check.dups, r.check.misrouted)
	return err
}

// measureShare is the measured phase: the baseline, the publish from
// instance 0, the wait until the streams got every event (at most 30 s
// after the publish returned) and until the instances' counters stopped
// moving (at most 5 s), and the figures after.
func (e *env) measureShare(ctx context.Context, cl *cluster, targets []string, r *shareResult) error {
	var err error
	if r.before, err = cl.stats(ctx); err != nil {
		return err
	}
	if r.redisBefore, err = readRedisInfo(ctx, e.admin); err != nil {
		return err
	}
	r.cpuA = takeCPU(append(cl.pids(), e.redis.PID()))
	st0, err := cl.status(ctx)
	if err != nil {
		return err
	}
	req := publishReq{Users: targets, FirstSeq: 1, Size: e.cfg.size, Rate: e.cfg.rate, Publishers: e.cfg.publishers}
	offered := time.Duration(0)
	if e.cfg.rate > 0 {
		offered = time.Duration(int64(len(targets)) * int64(time.Second) / int64(e.cfg.rate))
	}
	log.Printf("share: publishing %d events from instance 0", len(targets))
	if err := cl.inst[0].call(ctx, pathPublish, req, &r.pub, offered+45*time.Second); err != nil {
		return err
	}
	want := st0.Events + r.pub.Published
	got, err := poll(ctx, 20*time.Millisecond, 30*time.Second, func() (bool, error) {
		st, err := cl.status(ctx)
		return st.Events >= want, err
	})
	if err != nil {
		return err
	}
	if !got {
		r.notes = append(r.notes, "the streams did not get every event within 30 s of the last publish")
	}
	if r.after, err = settle(ctx, cl); err != nil {
		return err
	}
	r.cpuB = takeCPU(append(cl.pids(), e.redis.PID()))
	r.redisAfter, err = readRedisInfo(ctx, e.admin)
	return err
}

// settle reads the instances' stats every 200 ms until two readings in a
// row agree on what they read from Redis, received and sent (at most
// 5 s), and returns the last.
func settle(ctx context.Context, cl *cluster) ([]instanceStats, error) {
	var last []instanceStats
	_, err := poll(ctx, 200*time.Millisecond, 5*time.Second, func() (bool, error) {
		cur, err := cl.stats(ctx)
		if err != nil {
			return false, err
		}
		same := last != nil
		for i := range cur {
			if same && !sameCounts(last[i], cur[i]) {
				same = false
			}
		}
		last = cur
		return same, nil
	})
	return last, err
}

// sameCounts reports whether an instance read, received and sent nothing
// between a and b.
func sameCounts(a, b instanceStats) bool {
	return a.RedisRead == b.RedisRead && a.Hub.Received == b.Hub.Received &&
		a.Hub.BrokerEnvelopes == b.Hub.BrokerEnvelopes && a.Hub.Sent == b.Hub.Sent
}

// warmUp publishes warmEvents warm-up events (sequence 0) from instance 0
// to random users and waits (at most 15 s) until the streams got them.
func (e *env) warmUp(ctx context.Context, cl *cluster, rng *rand.Rand, users []string, notes *[]string) error {
	n := min(warmEvents, len(users))
	targets := make([]string, n)
	for i := range targets {
		targets[i] = users[rng.IntN(len(users))]
	}
	var res publishResult
	req := publishReq{Users: targets, Size: e.cfg.size, Rate: 0, Publishers: 1}
	if err := cl.inst[0].call(ctx, pathPublish, req, &res, 45*time.Second); err != nil {
		return err
	}
	got, err := poll(ctx, 20*time.Millisecond, 15*time.Second, func() (bool, error) {
		st, err := cl.status(ctx)
		return st.Warm >= res.Published, err
	})
	if err != nil {
		return err
	}
	if res.Errors > 0 {
		*notes = append(*notes, fmt.Sprintf("warm-up: %d of %d events published (first error: %s)", res.Published, n, res.FirstError))
	}
	if !got {
		*notes = append(*notes, "warm-up: the streams did not get every warm-up event within 15 s")
	}
	return nil
}

// idleCPU is each instance's CPU ms per second from a to b, nil when
// less than 0.5 s passed.
func idleCPU(a, b []instanceStats) []float64 {
	if len(a) == 0 || len(b) != len(a) || b[0].AtNs-a[0].AtNs < int64(500*time.Millisecond) {
		return nil
	}
	out := make([]float64, len(a))
	for i := range a {
		out[i] = float64(b[i].CPUNs-a[i].CPUNs) / 1e6 / (float64(b[i].AtNs-a[i].AtNs) / 1e9)
	}
	return out
}
