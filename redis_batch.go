package ssekify

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Concurrent publishes share round trips and scripts. Up to
// maxPublishesInFlight scripts are in flight at once: a publish that finds
// fewer and nothing queued runs the publish script for itself at once, on
// its own goroutine; publishes that come meanwhile queue. When a script
// ends and the queue is not empty, the queue's events are sent together,
// in the order they came, from a goroutine that goes on while there is a
// queue: one script per channel holds all of that channel's queued events
// (log_redis.go, publishScript), and the scripts go out as one pipeline.
// So a lone publisher pays one round trip and one script call, and many
// pay about one of each per batch: Redis spends its per-call cost once
// per batch, not once per event, and while Redis runs one batch the
// publishers of another prepare their next events. A publish waits at
// most for the batches in flight and its own. The events of one publisher
// keep their order: each publish returns before the next one starts.

// maxPublishesInFlight bounds the scripts (alone or batches) in flight:
// enough that Redis has the next batch while a reply travels back and its
// publishers prepare their next events, few enough that the queue grows
// into batches that spread the script's cost. Measured with 64 publishers
// on 2 cores (cmd/redislog, users no stream holds, five runs each): 3 gave
// about 104 k events/s, 2 about 92 k and 4 about 100 k.
const maxPublishesInFlight = 3

// maxPublishBatch bounds the events of one batch: small enough that many
// publishers keep several batches in flight (while Redis runs one, the
// publishers of another prepare their next events), large enough to
// spread the script's cost (on Redis 7.0, measured with redis-benchmark:
// about 20 µs for a lone event, 8 µs per event in a batch of 32).
const maxPublishBatch = 32

// minPublishBatch is the batch below which the goroutine that sends the
// queue, while other scripts are in flight, first yields once to the
// publishers that may be about to queue (64 publishers on 2 cores,
// cmd/redislog, five runs each: about +3 % events/s to users, +5-10 % to a
// room, +20-25 % to everyone; latency the same).
const minPublishBatch = maxPublishBatch / 4

// maxPublishBatchBytes bounds the envelope bytes of one batch (a batch
// holds one event, whatever its size, at least).
const maxPublishBatchBytes = 1 << 20

// publishBatchTimeout bounds one pipeline of queued publishes, which no
// single caller's context can bound (each caller still stops waiting when
// its own context ends).
const publishBatchTimeout = 5 * time.Second

// pubBatcher is a RedisBroker's queue of publishes.
type pubBatcher struct {
	mu       sync.Mutex
	queue    []*pubCall
	inFlight int // publishes or batches in flight

	pipelines, pipelined atomic.Int64 // batches sent, and the events they held
}

// pubCall is one event to append and publish.
type pubCall struct {
	channel    string // Options.Channel of the publishing hub
	log        string // the key of the target's log
	env        []byte // the framed envelope (encodeLoggedEnvelope)
	r          logRetention
	seq        scriptSeq // the seq number the script takes, when used
	epoch, pos uint64
	err        error
	done       chan struct{} // closed when the result is in
}

// runPublish runs the publish script for c, alone or in a batch.
func (b *RedisBroker) runPublish(ctx context.Context, c *pubCall) (uint64, uint64, error) {
	pb := &b.pub
	pb.mu.Lock()
	if pb.inFlight < maxPublishesInFlight && len(pb.queue) == 0 {
		pb.inFlight++
		pb.mu.Unlock()
		s := b.newScriptCall([]*pubCall{c})
		s.result(publishScript.Run(ctx, b.client, s.keys, s.args...))
		b.sent()
		return c.epoch, c.pos, c.err
	}
	c.done = make(chan struct{})
	pb.queue = append(pb.queue, c)
	pb.mu.Unlock()
	select {
	case <-c.done:
		return c.epoch, c.pos, c.err
	case <-ctx.Done():
		// The script may still run: the caller learns it is not known
		// to be published.
		return 0, 0, ctx.Err()
	}
}

// sent ends a publish in flight: the queue, if any, is sent by a goroutine
// that takes its place and runs while there is a queue.
func (b *RedisBroker) sent() {
	pb := &b.pub
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if len(pb.queue) == 0 {
		pb.inFlight--
		return
	}
	go b.drainPublishes()
}

// drainPublishes sends the queue in batches while there is one.
func (b *RedisBroker) drainPublishes() {
	pb := &b.pub
	for {
		pb.mu.Lock()
		if len(pb.queue) < minPublishBatch && pb.inFlight > 1 {
			// Other scripts are in flight, so Redis has work: let the
			// publishers that the last reply woke queue their next events
			// first, for a batch that spreads the script's cost.
			pb.mu.Unlock()
			runtime.Gosched()
			pb.mu.Lock()
		}
		n := batchLen(pb.queue)
		if n == 0 {
			pb.inFlight--
			pb.mu.Unlock()
			return
		}
		batch := pb.queue[:n:n]
		pb.queue = append([]*pubCall(nil), pb.queue[n:]...)
		pb.mu.Unlock()
		b.sendBatch(batch)
	}
}

// batchLen is how many of the queue's first calls the next batch takes.
func batchLen(queue []*pubCall) int {
	n, size := 0, 0
	for n < len(queue) && n < maxPublishBatch {
		size += len(queue[n].env)
		if n > 0 && size > maxPublishBatchBytes {
			break
		}
		n++
	}
	return n
}

// sendBatch runs one script per channel (and retention) for the calls of
// batch, in one pipeline (EVALSHA; after a Redis restart forgot the
// script, once more after loading it), and hands each call its result.
func (b *RedisBroker) sendBatch(batch []*pubCall) {
	ctx, cancel := context.WithTimeout(context.Background(), publishBatchTimeout)
	defer cancel()
	b.pub.pipelines.Add(1)
	b.pub.pipelined.Add(int64(len(batch)))
	scripts := b.groupScripts(batch)
	cmds := b.evalScripts(ctx, scripts)
	if noScript(cmds) {
		if err := publishScript.Load(ctx, b.client).Err(); err == nil {
			cmds = b.evalScripts(ctx, scripts)
		}
	}
	for i, s := range scripts {
		s.result(cmds[i])
	}
}

// groupScripts splits batch into one script call per channel and
// retention, each keeping its calls in the order they came.
func (b *RedisBroker) groupScripts(batch []*pubCall) []*scriptCall {
	type group struct {
		channel string
		r       logRetention
	}
	at := map[group]int{}
	var parts [][]*pubCall
	for _, c := range batch {
		g := group{c.channel, logRetention{maxLen: c.r.maxLen, ttlMs: c.r.ttlMs, clockLen: c.r.clockLen}}
		i, ok := at[g]
		if !ok {
			i = len(parts)
			at[g] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], c)
	}
	scripts := make([]*scriptCall, len(parts))
	for i, p := range parts {
		scripts[i] = b.newScriptCall(p)
	}
	return scripts
}

// evalScripts sends one pipeline of EVALSHA.
func (b *RedisBroker) evalScripts(ctx context.Context, scripts []*scriptCall) []*redis.Cmd {
	pipe := b.client.Pipeline()
	cmds := make([]*redis.Cmd, len(scripts))
	for i, s := range scripts {
		cmds[i] = publishScript.EvalSha(ctx, pipe, s.keys, s.args...)
	}
	_, _ = pipe.Exec(ctx) // each command holds its own error
	return cmds
}

// scriptCall is one run of publishScript: the events of one channel.
type scriptCall struct {
	calls []*pubCall
	keys  []string
	args  []any
	seqs  int // calls whose seq number the script takes
}

// newScriptCall builds the keys and arguments of publishScript for calls,
// which share a channel and retention; the newest clock of them is the
// script's. The seq counters of the calls the script numbers follow the
// logs' pairs among the keys.
func (b *RedisBroker) newScriptCall(calls []*pubCall) *scriptCall {
	first, now := calls[0], calls[0].r.nowMs
	for _, c := range calls {
		now = max(now, c.r.nowMs)
	}
	r := first.r
	s := &scriptCall{calls: calls, keys: []string{logMetaKey(first.channel), logClockKey(first.channel)}}
	numbers := make([]int, len(calls)) // the logs' pairs come first, then the seq counters
	for i, c := range calls {
		numbers[i] = s.logNumber(c)
		if c.seq.used() {
			s.seqs++
		}
	}
	s.args = append(make([]any, 0, 9+2*len(calls)+6*s.seqs),
		b.publishTo(first.channel), randomEpoch(), r.maxLen, r.ttlMs, r.clockLen, now, r.slack(), b.publishCommand(), len(calls))
	for i, c := range calls {
		if !c.seq.used() {
			s.args = append(s.args, numbers[i], c.env)
			continue
		}
		s.keys = append(s.keys, c.seq.key)
		s.args = c.seq.args(append(s.args, -numbers[i], c.env), len(s.keys))
	}
	return s
}

// logNumber returns the number (1-based) of c's log among the (log, trim)
// pairs of s's keys, adding the pair when it is new. A batch holds at most
// maxPublishBatch events, so a scan of the few logs beats a map.
func (s *scriptCall) logNumber(c *pubCall) int {
	for i := 2; i < len(s.keys); i += 2 {
		if s.keys[i] == c.log {
			return i / 2
		}
	}
	s.keys = append(s.keys, c.log, trimKey(c.channel, c.log))
	return len(s.keys)/2 - 1
}

// result hands each call of s its epoch and position from the script's
// reply, or the error, and wakes the queued ones.
func (s *scriptCall) result(cmd *redis.Cmd) {
	res, err := cmd.Slice()
	segs, err := publishSegments(res, err, len(s.calls), s.seqs)
	seq, at := 1+3*len(segs), -1 // the counters' values follow the segments
	for i, c := range s.calls {
		c.err = err
		if err == nil && c.seq.used() {
			c.err = c.seq.reply(res[seq])
			seq++
		}
		for at+1 < len(segs) && segs[at+1].first <= i {
			at++
		}
		if c.err == nil && at < 0 {
			c.err = fmt.Errorf("%w: no position for event %d in the publish reply", ErrBroker, i)
		}
		if c.err == nil {
			g := segs[at]
			c.epoch, c.pos = g.epoch, g.pos+uint64(i-g.first)
		}
		if c.done != nil {
			close(c.done)
		}
	}
}

// noScript reports whether Redis did not know the script.
func noScript(cmds []*redis.Cmd) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			return true
		}
	}
	return false
}

// publishSegment is where the positions of a script's events start again:
// from event first on, epoch and consecutive positions from pos.
type publishSegment struct {
	first      int
	epoch, pos uint64
}

// publishSegments reads the segments of publishScript's reply res for n
// events, seqs of them numbered by the script.
func publishSegments(res []any, err error, n, seqs int) ([]publishSegment, error) {
	if err != nil {
		return nil, err
	}
	var k int64
	if len(res) > 0 {
		k, _ = res[0].(int64)
	}
	if k < 0 || k > int64(n) || len(res) != 1+3*int(k)+seqs {
		return nil, fmt.Errorf("%w: unexpected publish reply of %d items for %d events", ErrBroker, len(res), n)
	}
	segs := make([]publishSegment, k)
	for j := range segs {
		r := res[1+3*j : 4+3*j]
		first, ok := r[0].(int64)
		if !ok || first < 0 || first >= int64(n) || j > 0 && int(first) <= segs[j-1].first {
			return nil, fmt.Errorf("%w: unexpected publish reply segment %v", ErrBroker, r)
		}
		epoch, pos, err := epochPos(r[1:])
		if err != nil {
			return nil, err
		}
		segs[j] = publishSegment{first: int(first), epoch: epoch, pos: pos}
	}
	return segs, nil
}
