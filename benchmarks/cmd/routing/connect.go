package main

import (
	"context"
	"log"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/cpuload"
)

// connectResult is what the connect scenario measured. Times are Unix
// ns, 0 when it did not happen within its bound.
type connectResult struct {
	err     string
	notes   []string
	streams []int // per instance
	rate    int   // streams/s offered
	status  clientsStatus
	openNs  []int64 // sorted: each stream's dial to response headers
	// heldAt: the instances counted every open stream; routedAt: and
	// every route was confirmed, none pending.
	heldAt, routedAt int64
	routed           bool  // some instance counted routes
	routes, pending  int64 // sums when the wait ended
	// The close: when it was asked, when no stream was held any more,
	// and when no route was left or pending.
	closeAt, closedAt, unroutedAt int64
	closeRoutes, closePending     int64

	before, opened, closed []instanceStats
	redisBefore            redisInfo
	redisOpened            redisInfo
	redisClosed            redisInfo
	others                 cpuload.Share
}

// connectWaitAfterHeld is how long the connect scenario waits, once every
// stream is held, for a route to show when none did yet: then the build
// is taken as one without routing.
const connectWaitAfterHeld = 2 * time.Second

// connect runs the connect scenario on a fresh cluster: -streams streams
// opened evenly over -connect-time on instance 0 (or spread), then all
// closed at once.
func (e *env) connect(ctx context.Context) *connectResult {
	r := &connectResult{}
	if err := e.runConnect(ctx, r); err != nil {
		r.err = err.Error()
		log.Printf("connect: %v", err)
	}
	return r
}

// runConnect is connect's body; an error ends the scenario.
func (e *env) runConnect(ctx context.Context, r *connectResult) error {
	cl, err := e.startCluster(ctx)
	if err != nil {
		return err
	}
	defer cl.stop()
	rng := rand.New(rand.NewPCG(uint64(e.cfg.seed), 17))
	users, place := placeUsers(rng, e.cfg.streams, e.cfg.instances, e.cfg.connectSpread)
	r.streams = perInstance(place, e.cfg.instances)
	r.rate = max(1, int(float64(len(users))/e.cfg.connectTime.Seconds()))

	w := e.quiet(ctx, "connect")
	if r.before, err = cl.stats(ctx); err != nil {
		return err
	}
	if r.redisBefore, err = readRedisInfo(ctx, e.admin); err != nil {
		return err
	}
	cpuA := takeCPU(append(cl.pids(), e.redis.PID()))
	log.Printf("connect: opening %d streams at %d/s", len(users), r.rate)
	req := openReq{Addrs: cl.addrs(), Users: users, Instance: place, Rate: r.rate}
	if err := cl.clients.call(ctx, pathOpen, req, nil, 20*time.Second); err != nil {
		return err
	}
	if err := r.waitOpened(ctx, cl); err != nil {
		return err
	}
	r.others = measured(w, cpuA, takeCPU(append(cl.pids(), e.redis.PID())))
	if r.redisOpened, err = readRedisInfo(ctx, e.admin); err != nil {
		return err
	}
	var rep clientsReport
	if err := cl.clients.call(ctx, pathReport, nil, &rep, 20*time.Second); err != nil {
		return err
	}
	r.openNs = rep.OpenNs
	slices.Sort(r.openNs)
	log.Printf("connect: %d streams open; closing them", r.status.Opened)
	if err := r.waitClosed(ctx, cl); err != nil {
		return err
	}
	// The instances count a route out when they decide to drop it; Redis
	// runs the UNSUBSCRIBE just after: wait (at most 5 s) until Redis holds
	// no channel beyond the tenant's and the instances' marks.
	_, err = poll(ctx, 10*time.Millisecond, 5*time.Second, func() (bool, error) {
		r.redisClosed, err = readRedisInfo(ctx, e.admin)
		return err == nil && channels(r.redisClosed) <= int64(1+e.cfg.instances), err
	})
	return err
}

// waitOpened polls the instances every 10 ms (the clients every 50 ms)
// for at most 60 s, until every stream is open or failed, the instances
// hold the open ones and, when they route, every route is confirmed; a
// build that shows no route within connectWaitAfterHeld of holding every
// stream is taken as one without routing.
func (r *connectResult) waitOpened(ctx context.Context, cl *cluster) error {
	tick := 0
	done, err := poll(ctx, 10*time.Millisecond, 60*time.Second, func() (bool, error) {
		if tick++; tick%5 == 1 {
			st, err := cl.status(ctx)
			if err != nil {
				return false, err
			}
			r.status = st
		}
		ss, err := cl.stats(ctx)
		if err != nil {
			return false, err
		}
		r.opened = ss
		return r.observeOpen(ss), nil
	})
	if err == nil && !done {
		r.notes = append(r.notes, "not every stream was open, held and routed within 60 s")
	}
	return err
}

// observeOpen records what one reading of the instances shows and
// reports whether the wait is over: every stream that did not fail is
// held (and routed), and the clients saw every stream open or fail.
func (r *connectResult) observeOpen(ss []instanceStats) bool {
	var conns, at int64
	r.routes, r.pending = 0, 0
	for _, s := range ss {
		conns += s.Hub.Connections
		r.routes += s.Hub.Routes
		r.pending += s.Hub.RoutesPending
		at = max(at, s.AtNs)
	}
	r.routed = r.routed || r.routes > 0 || r.pending > 0
	want := int64(sum(r.streams)) - r.status.Failed
	if conns < want {
		return false
	}
	if r.heldAt == 0 {
		r.heldAt = at
	}
	if r.routed && r.routedAt == 0 && r.pending == 0 && r.routes >= want {
		r.routedAt = at
	}
	if r.status.Opened+r.status.Failed < int64(r.status.Streams) {
		return false
	}
	return r.routedAt != 0 || (!r.routed && time.Duration(at-r.heldAt) >= connectWaitAfterHeld)
}

// waitClosed asks the clients to close every stream and polls the
// instances every 10 ms, for at most 15 s, until they hold no stream and
// no route.
func (r *connectResult) waitClosed(ctx context.Context, cl *cluster) error {
	r.closeAt = time.Now().UnixNano()
	if err := cl.clients.call(ctx, pathClose, struct{}{}, nil, 20*time.Second); err != nil {
		return err
	}
	done, err := poll(ctx, 10*time.Millisecond, 15*time.Second, func() (bool, error) {
		ss, err := cl.stats(ctx)
		if err != nil {
			return false, err
		}
		r.closed = ss
		var conns, at int64
		r.closeRoutes, r.closePending = 0, 0
		for _, s := range ss {
			conns += s.Hub.Connections
			r.closeRoutes += s.Hub.Routes
			r.closePending += s.Hub.RoutesPending
			at = max(at, s.AtNs)
		}
		if conns == 0 && r.closedAt == 0 {
			r.closedAt = at
		}
		if conns == 0 && r.closeRoutes == 0 && r.closePending == 0 && r.unroutedAt == 0 {
			r.unroutedAt = at
		}
		return r.unroutedAt != 0, nil
	})
	if err == nil && !done {
		r.notes = append(r.notes, "after the close, the instances still held streams or routes 15 s later")
	}
	return err
}

// sum adds the numbers up.
func sum(v []int) int {
	n := 0
	for _, x := range v {
		n += x
	}
	return n
}
