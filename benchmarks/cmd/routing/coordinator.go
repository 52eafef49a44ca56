package main

import (
	"context"
	"fmt"
	"log"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify/benchmarks/internal/mdfmt"
	"github.com/ssekify/ssekify/benchmarks/internal/redisproc"
)

// env is what the scenarios share: the flags, the Redis server and the
// coordinator's own client of it (INFO, FLUSHALL; no hub uses it).
type env struct {
	cfg   config
	redis *redisproc.Server
	admin *redis.Client
}

// run starts Redis, runs every scenario on fresh processes (Redis flushed
// before each) and returns the report; an error returned with a report
// means the run was cut short. A watchdog kills Redis and exits (the
// children die with this process) if the run overstays its timeout by
// 30 s.
func run(ctx context.Context, c config) (*report, error) {
	started := time.Now()
	rep := &report{cfg: c, started: started.UTC(), machine: mdfmt.DescribeMachine(c.commit)}
	srv, err := redisproc.Start(ctx, c.redisServer, "routing")
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	watchdog := srv.Watchdog(c.timeout)
	defer watchdog.Stop()
	log.Printf("redis-server on %s (pid %d)", srv.Addr, srv.PID())
	e := &env{cfg: c, redis: srv, admin: redis.NewClient(&redis.Options{Addr: srv.Addr})}
	defer e.admin.Close()
	rep.redisVersion = redisproc.Version(ctx, e.admin)

	for _, sc := range c.scenarios {
		if ctx.Err() != nil {
			break
		}
		if err := redisproc.FlushAll(ctx, e.admin); err != nil {
			rep.failed = append(rep.failed, sc+": FLUSHALL: "+err.Error())
			continue
		}
		switch sc {
		case "share":
			rep.share = e.share(ctx)
		case "connect":
			rep.connect = e.connect(ctx)
		}
	}
	rep.elapsed = time.Since(started)
	if ctx.Err() != nil {
		return rep, fmt.Errorf("run cut short: %w", ctx.Err())
	}
	return rep, nil
}

// cluster is one scenario's processes: the instances and the clients.
type cluster struct {
	inst    []*child
	clients *child
}

// startCluster starts -instances instances and the clients process. On
// error, what was started is stopped.
func (e *env) startCluster(ctx context.Context) (*cluster, error) {
	cl := &cluster{}
	for i := range e.cfg.instances {
		args := []string{"-role", "instance", "-i", strconv.Itoa(i), "-redis", e.redis.Addr, "-life", e.life()}
		if e.cfg.lean {
			args = append(args, "-lean")
		}
		if e.cfg.noHeartbeats {
			args = append(args, "-no-heartbeats")
		}
		ch, err := startChild(ctx, "instance "+strconv.Itoa(i), args...)
		if err != nil {
			cl.stop()
			return nil, err
		}
		cl.inst = append(cl.inst, ch)
	}
	ch, err := startChild(ctx, "clients", "-role", "clients", "-life", e.life())
	if err != nil {
		cl.stop()
		return nil, err
	}
	cl.clients = ch
	log.Printf("started %d instances and the clients process", len(cl.inst))
	return cl, nil
}

// life is the -life of the children: the run's timeout and a minute.
func (e *env) life() string { return (e.cfg.timeout + time.Minute).String() }

// stop stops every process of the cluster.
func (cl *cluster) stop() {
	all := append([]*child(nil), cl.inst...)
	if cl.clients != nil {
		all = append(all, cl.clients)
	}
	stopAll(all)
}

// addrs are the instances' stream addresses, by number.
func (cl *cluster) addrs() []string {
	out := make([]string, len(cl.inst))
	for i, ch := range cl.inst {
		out[i] = ch.addr
	}
	return out
}

// pids are the process ids of the cluster's processes.
func (cl *cluster) pids() []int {
	out := []int{cl.clients.pid()}
	for _, ch := range cl.inst {
		out = append(out, ch.pid())
	}
	return out
}

// stats asks every instance for its stats, all at once (2 s each).
func (cl *cluster) stats(ctx context.Context) ([]instanceStats, error) {
	out := make([]instanceStats, len(cl.inst))
	errs := make(chan error, len(cl.inst))
	for i, ch := range cl.inst {
		go func() { errs <- ch.call(ctx, pathStats, nil, &out[i], 2*time.Second) }()
	}
	var first error
	for range cl.inst {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return out, first
}

// status asks the clients process for its counts (2 s).
func (cl *cluster) status(ctx context.Context) (clientsStatus, error) {
	var st clientsStatus
	err := cl.clients.call(ctx, pathStatus, nil, &st, 2*time.Second)
	return st, err
}

// poll calls cond every period until it reports done, fails, ctx ends or
// limit passes; it returns whether cond was done.
func poll(ctx context.Context, period, limit time.Duration, cond func() (bool, error)) (bool, error) {
	deadline := time.Now().Add(limit)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		done, err := cond()
		if done || err != nil {
			return done, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.C:
		}
	}
}
