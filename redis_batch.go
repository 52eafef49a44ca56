package ssekify

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Concurrent publishes share round trips: a publish that finds none in
// flight runs its script at once, on its own goroutine; publishes that
// come while one is in flight queue, and are sent together, in the order
// they came, as one pipeline, by a goroutine that runs while the queue is
// not empty. So a lone publisher pays one round trip, and many pay about
// one round trip per batch; a publish waits at most for the batch in
// flight and its own. The events of one publisher keep their order: each
// publish returns before the next one starts.

// maxPublishBatch bounds the scripts of one pipeline.
const maxPublishBatch = 256

// publishBatchTimeout bounds one pipeline of queued publishes, which no
// single caller's context can bound (each caller still stops waiting when
// its own context ends).
const publishBatchTimeout = 5 * time.Second

// pubBatcher is a RedisBroker's queue of publishes.
type pubBatcher struct {
	mu      sync.Mutex
	queue   []*pubCall
	sending bool // a publish or a pipeline is in flight

	pipelines, pipelined atomic.Int64 // pipelines sent, and the scripts they held
}

// pubCall is one publish script to run.
type pubCall struct {
	keys       []string
	args       []any
	epoch, pos uint64
	err        error
	done       chan struct{} // closed when the result is in
}

// runPublish runs the publish script of c, alone or in a pipeline.
func (b *RedisBroker) runPublish(ctx context.Context, c *pubCall) (uint64, uint64, error) {
	pb := &b.pub
	pb.mu.Lock()
	if !pb.sending {
		pb.sending = true
		pb.mu.Unlock()
		res, err := publishScript.Run(ctx, b.client, c.keys, c.args...).Slice()
		if err == nil {
			c.epoch, c.pos, err = epochPos(res)
		}
		b.sent()
		return c.epoch, c.pos, err
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
// that runs until it is empty.
func (b *RedisBroker) sent() {
	pb := &b.pub
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if len(pb.queue) == 0 {
		pb.sending = false
		return
	}
	go b.drainPublishes()
}

// drainPublishes sends the queue as pipelines until it is empty.
func (b *RedisBroker) drainPublishes() {
	pb := &b.pub
	for {
		pb.mu.Lock()
		n := min(len(pb.queue), maxPublishBatch)
		if n == 0 {
			pb.sending = false
			pb.mu.Unlock()
			return
		}
		batch := pb.queue[:n:n]
		pb.queue = append([]*pubCall(nil), pb.queue[n:]...)
		pb.mu.Unlock()
		b.pipelinePublishes(batch)
	}
}

// pipelinePublishes runs the scripts of batch in one pipeline (EVALSHA;
// after a Redis restart forgot the script, once more after loading it)
// and hands each call its result.
func (b *RedisBroker) pipelinePublishes(batch []*pubCall) {
	ctx, cancel := context.WithTimeout(context.Background(), publishBatchTimeout)
	defer cancel()
	b.pub.pipelines.Add(1)
	b.pub.pipelined.Add(int64(len(batch)))
	cmds := b.evalPublishes(ctx, batch)
	if noScript(cmds) {
		if err := publishScript.Load(ctx, b.client).Err(); err == nil {
			cmds = b.evalPublishes(ctx, batch)
		}
	}
	for i, c := range batch {
		res, err := cmds[i].Slice()
		if err == nil {
			c.epoch, c.pos, err = epochPos(res)
		}
		c.err = err
		close(c.done)
	}
}

// evalPublishes sends one pipeline of EVALSHA.
func (b *RedisBroker) evalPublishes(ctx context.Context, batch []*pubCall) []*redis.Cmd {
	pipe := b.client.Pipeline()
	cmds := make([]*redis.Cmd, len(batch))
	for i, c := range batch {
		cmds[i] = publishScript.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // each command holds its own error
	return cmds
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
