package ssekify

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// With a broker that keeps logs (log_redis.go), an instance follows its
// channel's log: it delivers every Publish* event, its own included, in
// position order, from its subscription. The subscription is not the
// truth, the log is: when a position is skipped (an envelope Redis did not
// deliver), or when the subscription comes back after an outage, the
// instance reads what it missed from the logs of the targets it holds
// streams for, and delivers it in order before anything newer. A new
// epoch (Redis lost its data) or a log that went back (a failover that
// lost writes) can not be recovered: every stream is told, by the gap
// event (reason "reset").
//
// Only the subscription goroutine changes the follower; it does so under
// h.mu, which Register holds while it reads where the instance stands.
type follower struct {
	epoch uint64 // the log's epoch; 0 until the first sync (h.mu)
	last  uint64 // the newest position delivered here (h.mu)
	to    uint64 // while recovering: the position it recovers up to (h.mu)
	live  uint64 // the newest position received live by this subscription (its goroutine)

	synced   chan struct{} // closed by the first sync
	syncOnce sync.Once
	epochNow atomic.Uint64 // epoch, for writers, without h.mu
}

// Bounds of reading the logs on Redis.
const (
	// recoverWindow is how many positions one read of a recovery spans.
	recoverWindow = 4096
	// recoverMax is the most positions an instance recovers: beyond, its
	// streams get the gap event rather than a read of the whole history.
	recoverMax = 1 << 20
	// keysPerRead bounds the logs one read script names.
	keysPerRead = 128
	// redisCallTimeout bounds one call to Redis from a writer or the
	// follower.
	redisCallTimeout = 2 * time.Second
)

// upto is the position up to which a stream registering now must read the
// logs itself: what this instance delivered, or will have delivered once
// its recovery ends. h.mu held.
func (f *follower) upto() uint64 { return max(f.last, f.to) }

// syncLog reads the head of the log and brings this instance to it: the
// first time, it starts there; after an outage, it recovers what its
// streams missed. The subscription calls it each time it is (again)
// active, before it reads any envelope.
func (h *Hub) syncLog(ctx context.Context) error {
	epoch, pos, base, err := h.lb.logHead(ctx, h.opts.Channel, randomEpoch(), h.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("read the head of the log: %w", err)
	}
	f := &h.fol
	// A new subscription: Redis delivers each message once to it, some
	// of them published before this read (dropped as recovered).
	f.live = 0
	if f.epoch == 0 {
		h.setHead(epoch, pos, false)
		return nil
	}
	// The recovery below delivers to the streams here: the memory logs
	// no stream reads miss what was published while the subscription
	// was down.
	h.mu.Lock()
	h.logs.partialOffline(h.pos)
	h.mu.Unlock()
	switch {
	case epoch != f.epoch:
		// The streams are told of the reset; what the new epoch holds
		// already (published before this instance noticed) is delivered.
		h.setHead(epoch, base, true)
		return h.recover(ctx, base, pos)
	case pos < f.last:
		return h.renewEpoch(ctx)
	}
	return h.recover(ctx, f.last, pos)
}

// catchUp brings this instance to the log's head now, recovering what it
// holds for the streams here: after a message it could not read whole.
func (h *Hub) catchUp(ctx context.Context) error {
	epoch, pos, _, err := h.lb.logHead(ctx, h.opts.Channel, randomEpoch(), h.now().UnixMilli())
	switch f := &h.fol; {
	case err != nil:
		return fmt.Errorf("read the head of the log: %w", err)
	case epoch != f.epoch:
		return h.syncLog(ctx)
	case pos > f.last:
		return h.recover(ctx, f.last, pos)
	}
	return nil
}

// renewEpoch gives the log a new epoch: its positions went back, so a
// position named again would be taken for one delivered already. The
// counter is raised above every position this instance saw, so that the
// next ones are new in the logs too.
func (h *Hub) renewEpoch(ctx context.Context) error {
	f := &h.fol
	floor := max(f.last, f.live)
	epoch, pos, err := h.lb.renewEpoch(ctx, h.opts.Channel, f.epoch, randomEpoch(), floor, h.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("renew the epoch of the log: %w", err)
	}
	h.opts.Logger.Warn("ssekify: the log on Redis went back (a failover or a restore that lost writes); new epoch",
		slog.String("channel", h.opts.Channel), slog.Uint64("position", pos))
	h.setHead(epoch, pos, true)
	return nil
}

// setHead makes (epoch, pos) where this instance stands. On a reset the
// streams are told, by the gap event, that what was published before may
// be missing; the first sync tells the streams that registered before it.
func (h *Hub) setHead(epoch, pos uint64, reset bool) {
	f := &h.fol
	var fx effects
	h.mu.Lock()
	first := f.epoch == 0
	f.epoch, f.last = epoch, pos
	f.epochNow.Store(epoch)
	reason := reasonReset
	if first {
		reason = reasonBroker
	}
	if (reset || first) && !h.opts.NoGapEvent {
		gap := &message{gap: &loss{reason: reason}, repoch: epoch, rpos: pos}
		for _, c := range h.all {
			if reset || c.unsynced {
				h.enqueue(c, gap, &fx)
			}
		}
	}
	for _, c := range h.all {
		c.unsynced = false
	}
	h.mu.Unlock()
	h.settle(&fx)
	if reset {
		h.stats.logResets.Add(1)
		h.opts.Logger.Warn("ssekify: the log on Redis has a new epoch; streams are told what may be missing",
			slog.String("channel", h.opts.Channel))
	}
	f.syncOnce.Do(func() { close(f.synced) })
}

// follow delivers one envelope of the log in position order: a position
// seen already is dropped, one that skips positions first recovers them
// from the logs. The subscription goroutine calls it; an error ends the
// subscription, which is then made again (and synced).
func (h *Hub) follow(ctx context.Context, m *message, meta envelopeMeta) error {
	f := &h.fol
	if meta.epoch != f.epoch {
		// Redis lost its data, or another instance renewed the epoch: the
		// head says where the log stands now.
		if err := h.syncLog(ctx); err != nil {
			return err
		}
		if meta.epoch != f.epoch {
			return nil // published before the reset, which the streams were told of
		}
	}
	p := meta.position
	switch {
	case p <= f.live:
		// Redis delivers a message once: a position seen live before
		// means the log went back.
		return h.renewEpoch(ctx)
	case p <= f.last:
		f.live = p // delivered by a recovery already
		return nil
	}
	f.live = p
	m.rpos, m.repoch, m.inRedis = p, meta.epoch, true
	h.deliverLogged(m, meta)
	return nil
}

// marked handles a mark (route.go): this instance has received every
// message published before it, so it stands at the mark's position, and
// the routes the mark was asked for are live from there.
func (h *Hub) marked(ctx context.Context, epoch, pos, seq uint64) error {
	f := &h.fol
	if epoch != f.epoch {
		// Redis lost its data, or another instance renewed the epoch: the
		// head says where the log stands now.
		if err := h.syncLog(ctx); err != nil || epoch != f.epoch {
			return err
		}
	}
	if pos < f.live {
		return h.renewEpoch(ctx) // Redis delivers in order: the log went back
	}
	f.live = pos
	h.mu.Lock()
	f.last = max(f.last, pos)
	h.mu.Unlock()
	if h.rt != nil {
		h.rt.marked(seq)
	}
	return nil
}

// deliverLogged delivers an event of the log and calls its hook.
func (h *Hub) deliverLogged(m *message, meta envelopeMeta) {
	n := h.deliver(m)
	if string(meta.origin) == h.opts.InstanceID {
		h.hookMessageSent(m, n)
		return
	}
	h.stats.received.Add(1)
	if h.opts.OnPublish != nil {
		info := m.info(n, string(meta.origin))
		h.callHook("OnPublish", func() { h.opts.OnPublish(info) })
	}
}

// recover delivers what the logs of the targets held here hold in (from,
// to], in position order, and moves this instance to to. A stream that
// registers meanwhile reads up to to itself (follower.upto), so nothing
// falls between the recovery and its start.
func (h *Hub) recover(ctx context.Context, from, to uint64) error {
	if to <= from {
		return nil
	}
	h.stats.logRecoveries.Add(1)
	if to-from > recoverMax {
		h.skipTo(to, loss{reason: reasonBroker, first: from + 1, last: to})
		return nil
	}
	h.mu.Lock()
	keys := h.heldLogs()
	h.fol.to = to
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.fol.to = 0
		h.mu.Unlock()
	}()
	for after := from; after < to; {
		end := min(to, after+recoverWindow)
		r, err := h.readRedis(ctx, keys, after, end, recoverWindow)
		if err != nil {
			return fmt.Errorf("recover positions %d to %d from the logs: %w", after+1, end, err)
		}
		if r.epoch != h.fol.epoch {
			return h.syncLog(ctx) // reset meanwhile
		}
		h.tellLosses(r.losses)
		for _, e := range r.msgs {
			h.deliverLogged(e.m, envelopeMeta{origin: []byte(e.origin)})
		}
		h.stats.recoveredEvents.Add(int64(len(r.msgs)))
		after = end
	}
	h.mu.Lock()
	h.fol.last = max(h.fol.last, to)
	h.mu.Unlock()
	return nil
}

// skipTo moves this instance to position to without reading the logs,
// telling every stream of the loss.
func (h *Hub) skipTo(to uint64, l loss) {
	var fx effects
	h.mu.Lock()
	h.fol.last = max(h.fol.last, to)
	if !h.opts.NoGapEvent {
		gap := &message{gap: &l}
		for _, c := range h.all {
			h.enqueue(c, gap, &fx)
		}
	}
	h.mu.Unlock()
	h.settle(&fx)
}

// tellLosses queues the gap event for the streams that read a log that no
// longer holds what a recovery needed.
func (h *Hub) tellLosses(losses []keyLoss) {
	if len(losses) == 0 || h.opts.NoGapEvent {
		return
	}
	var fx effects
	h.mu.Lock()
	for _, kl := range losses {
		l := kl.loss
		gap := &message{gap: &l}
		for _, c := range h.recipients(kl.key.kind, kl.key.target) {
			h.enqueue(c, gap, &fx)
		}
	}
	h.mu.Unlock()
	h.settle(&fx)
}

// heldLogs returns the keys of the logs the streams here read. h.mu held.
func (h *Hub) heldLogs() []logKey {
	keys := make([]logKey, 0, 1+len(h.users)+len(h.rooms))
	keys = append(keys, allLog)
	for u := range h.users {
		keys = append(keys, logKey{kindUser, u})
	}
	for r := range h.rooms {
		keys = append(keys, logKey{kindRoom, r})
	}
	return keys
}

// keyLoss is what one log lost.
type keyLoss struct {
	key  logKey
	loss loss
}

// redisRead is a read of several logs on Redis, merged.
type redisRead struct {
	epoch  uint64      // the log's epoch when read
	msgs   []loggedMsg // by position, every one at most end
	end    uint64      // the position up to which the logs were read
	losses []keyLoss
}

// readRedis reads the logs keys in (after, upto], at most limit events per
// log, keysPerRead logs per call. When a log had more, the read ends at the
// newest position every log was read to (end), and the events after it are
// left for the next read.
func (h *Hub) readRedis(ctx context.Context, keys []logKey, after, upto uint64, limit int) (redisRead, error) {
	r := redisRead{end: upto}
	now := h.now().UnixMilli()
	names := make([]string, 0, min(len(keys), keysPerRead))
	for start := 0; start < len(keys); start += keysPerRead {
		chunk := keys[start:min(len(keys), start+keysPerRead)]
		names = names[:0]
		for _, k := range chunk {
			names = append(names, redisLogKey(h.opts.Channel, k))
		}
		cctx, cancel := context.WithTimeout(ctx, redisCallTimeout)
		page, err := h.lb.readLogs(cctx, h.opts.Channel, names, after, upto, limit)
		cancel()
		if err != nil {
			return r, err
		}
		if start > 0 && page.epoch != r.epoch {
			r.epoch = 0 // reset between two calls: the caller syncs
			return r, nil
		}
		r.epoch = page.epoch
		for i, part := range page.logs {
			if l := h.logLoss(part, after, &page, now); l.any() {
				r.losses = append(r.losses, keyLoss{chunk[i], l})
			}
			if len(part.entries) == limit {
				r.end = min(r.end, part.entries[len(part.entries)-1].pos)
			}
			var bad loss
			r.msgs, bad = h.decodeEntries(r.msgs, part.entries)
			if bad.any() {
				r.losses = append(r.losses, keyLoss{chunk[i], bad})
			}
		}
	}
	slices.SortFunc(r.msgs, func(a, b loggedMsg) int { return cmpUint(a.m.rpos, b.m.rpos) })
	for i, e := range r.msgs {
		if e.m.rpos > r.end {
			clear(r.msgs[i:])
			r.msgs = r.msgs[:i]
			break
		}
		// A position after the epoch's base is of that epoch, whatever
		// its envelope says (published while the epoch was renewed).
		e.m.repoch = r.epoch
	}
	return r, nil
}

// loggedMsg is an event read from a log, with the instance that sent it.
type loggedMsg struct {
	m      *message
	origin string
}

// decodeEntries appends the messages of a log's entries to dst. An entry
// that is not a valid envelope of its position is reported and skipped,
// and returned as lost, so that its readers are told.
func (h *Hub) decodeEntries(dst []loggedMsg, entries []logEntry) ([]loggedMsg, loss) {
	bad := noLoss
	for _, e := range entries {
		var m *message
		var meta envelopeMeta
		err := fmt.Errorf("%w: log entry %d is not an epoch and a framed envelope", ErrInvalidEnvelope, e.pos)
		if e.epoch != 0 && e.env != nil {
			m, meta, err = h.decodeEnvelope(e.env)
		}
		if err == nil && !meta.logged {
			err = fmt.Errorf("%w: log entry %d holds an envelope without the logged flag", ErrInvalidEnvelope, e.pos)
		}
		if err != nil {
			h.stats.invalidEnvelopes.Add(1)
			h.reportErr(&Error{Code: CodeInvalidEnvelope, Level: LevelWarn, Op: "read log", Target: h.opts.Channel, Err: err})
			bad.add(loss{reason: reasonRetention, missed: 1, exact: true, first: e.pos, last: e.pos})
			continue
		}
		m.rpos, m.repoch, m.inRedis = e.pos, e.epoch, true
		dst = append(dst, loggedMsg{m, string(meta.origin)})
	}
	return dst, bad
}

// logLoss is what one log lost after position after: events its count
// bound deleted (how many is unknown), and, when after is older than the
// logs' age bound, events of a log that expired since.
func (h *Hub) logLoss(p logPart, after uint64, page *logPage, nowMs int64) loss {
	l := noLoss
	if p.trimmed > after {
		l.add(loss{reason: reasonRetention, last: p.trimmed})
	}
	if ttl := h.opts.RecentTTL; ttl > 0 && (p.first == 0 || p.first > after+1) && aged(page, after, nowMs, ttl) {
		l.add(loss{reason: reasonRetention, last: page.pos})
	}
	return l
}

// aged reports whether position after may be older than ttl, so that a
// log written after it may have expired since: the clock's entry at or
// before it is older than ttl less a margin for the publishers' clocks.
// Without such an entry the position is older than the clock's retention,
// unless it is 0 (the epoch's start).
func aged(page *logPage, after uint64, nowMs int64, ttl time.Duration) bool {
	t := page.clockMs
	if t < 0 {
		if after > 0 {
			return true
		}
		t = page.born
	}
	margin := min(ttl/4, time.Minute)
	return time.Duration(nowMs-t)*time.Millisecond >= ttl-margin
}

// cmpUint compares two positions.
func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// retention is what the publish script keeps of each log.
func (h *Hub) retention() logRetention {
	r := logRetention{maxLen: max(h.opts.RecentBufferSize, 0), nowMs: h.now().UnixMilli()}
	if ttl := h.opts.RecentTTL; ttl > 0 {
		r.ttlMs = max(ttl.Milliseconds(), 1)
		r.clockLen = int(ttl/time.Second) + 64
	}
	return r
}
