package ssekify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// seqCounterTimeout bounds every Counter call (a sooner deadline of the
// caller's context applies), so a stalled Redis delays a send by at most
// this much before the local counter takes over.
const seqCounterTimeout = 2 * time.Second

// seqRetryAfter is how long the hub numbers locally, without calling the
// Counter, after a Counter call failed; then one send tries the Counter
// again. It is longer than seqCounterTimeout, so every call that was in
// flight when the outage began has ended before the first retry.
const seqRetryAfter = 3 * time.Second

// seqDigits is the length of the longest int64 in decimal: a sign and 19
// digits.
const seqDigits = 20

// seqAllocator hands out sequence numbers per scope key. One allocator per
// hub serves Send* and Publish* alike, so they share one counter per key.
//
// A number is reserved (reserve), then either committed once the message is
// built (commit: a final message ends its scope there) or given back when
// the send is refused after all (release). A refused send neither uses a
// number nor ends its scope.
//
// With a Counter (the broker's, set by setCounter) numbers come from it:
// INCR KeyPrefix+key, seq = StartAt + value - 1, one sequence for the whole
// cluster; a final message also deletes the key there. The local counter of
// the key mirrors the last number the Counter gave. When a Counter call
// fails, the message is numbered by the local counter, which goes on from
// that mirror, and the hub stays on the local counter for seqRetryAfter: no
// send waits on an unreachable Redis meanwhile. Then one send at a time
// tries the Counter again; the outage is reported (SEQ_KV_FALLBACK) once,
// when it begins, and its end is logged.
//
// Numbers handed out locally are never handed out again in their scope by
// this instance: the key is marked ahead, and the next Counter call passes
// the next local number as a floor (FloorCounter.IncrFloor), so that the
// shared counter resumes above them. A result below the floor (a call that
// was in flight while the hub numbered locally, or a Counter that can not
// take a floor) is not used: the call is repeated once with the floor, or
// the message is numbered locally. A final message numbered while the
// Counter is down ends the scope locally, and the Counter's key is deleted
// before its next use, so the next scope starts at StartAt there too. The
// mark (ahead, reset) lives in the local counter: a key evicted (MaxKeys)
// or swept (KeyTTL) during a long outage loses it.
//
// The local counters are a map bounded by Seq.MaxKeys (least recently used
// evicted in O(1): an intrusive list) and swept lazily: each allocation first
// drops the keys unused for Seq.KeyTTL from the list's tail. No goroutine or
// timer is involved.
type seqAllocator struct {
	h       *Hub
	start   int64
	prefix  string
	ttl     time.Duration // the Counter's key expiry
	maxKeys int
	keyTTL  time.Duration // < 0: no sweep
	// room is the length of the seq member at its largest: a comma, the
	// quoted field name, a colon and seqDigits.
	room int

	// counter is the broker's shared counter and floor its FloorCounter
	// methods (nil when it has none); nil counts in memory. Set before the
	// hub is used (setCounter), read-only afterwards.
	counter  Counter
	floor    FloorCounter
	warnOnce sync.Once
	// callTimeout and retryAfter are seqCounterTimeout and seqRetryAfter
	// (tests shorten them).
	callTimeout, retryAfter time.Duration

	mu   sync.Mutex
	keys map[string]*seqKey
	lru  lruList[seqKey, *seqKey] // most recently used first
	// The Counter's state (guarded by mu): down after a failed call, until
	// a call succeeds; while down, no call is made before retryAt (unix
	// nanoseconds), and then one at a time (probing).
	down      bool
	probing   bool
	retryAt   int64
	downSince time.Time
}

// seqKey is one scope's local counter.
type seqKey struct {
	key  string
	next int64 // the number the next message gets
	// ahead: numbers below next were handed out locally while the Counter
	// failed; it may not know them yet.
	ahead bool
	// reset: a final message ended the scope while the Counter was down;
	// its key is deleted before its next use.
	reset bool
	used  int64 // unix nanoseconds of the last use
	lru   lruLinks[seqKey]
}

// seqTicket is a number reserved for one message of scope key.
type seqTicket struct {
	key   string
	n     int64 // the number
	v     int64 // the Counter's value that gave n; 0 when counted locally
	final bool  // the message ends its scope
}

func newSeqAllocator(h *Hub) *seqAllocator {
	o := &h.opts.Seq
	return &seqAllocator{
		h:           h,
		start:       o.StartAt,
		prefix:      o.KeyPrefix,
		ttl:         o.RedisTTL,
		maxKeys:     o.MaxKeys,
		keyTTL:      o.KeyTTL,
		room:        len(",:") + len(appendJSONString(nil, o.FieldName)) + seqDigits,
		callTimeout: seqCounterTimeout,
		retryAfter:  seqRetryAfter,
		keys:        make(map[string]*seqKey),
	}
}

// setCounter makes the allocator number every scope with c.
func (s *seqAllocator) setCounter(c Counter) {
	s.counter = c
	s.floor, _ = c.(FloorCounter)
}

// brokerWithoutCounter reports, once, that the broker has no Counter, so
// sequence numbers are per instance.
func (s *seqAllocator) brokerWithoutCounter() {
	if s.h.opts.Seq.Disabled {
		return
	}
	s.warnOnce.Do(func() {
		s.h.stats.lastSeqKvFallbackAt.Store(s.h.now().UnixMilli())
		s.h.reportErr(&Error{Code: CodeSeqKVFallback, Level: LevelWarn, Op: "seq",
			Err: errors.New("the broker has no Counter: sequence numbers are counted per instance")})
	})
}

// reserve returns the number of the next message of scope key. It never
// fails: when the Counter does, the local counter numbers the message.
func (s *seqAllocator) reserve(ctx context.Context, key string, final bool) seqTicket {
	t := seqTicket{key: key, final: final}
	if s.counter != nil {
		if n, v, ok := s.shared(ctx, key); ok {
			t.n, t.v = n, v
			return t
		}
	}
	t.n = s.local(key)
	return t
}

// commit settles t once its message is built: it is counted, and a final
// message ends its scope (here, and on the Counter when it numbered it).
func (s *seqAllocator) commit(ctx context.Context, t seqTicket) {
	if t.v > 0 {
		s.h.stats.seqIncrsRedis.Add(1)
	} else {
		s.h.stats.seqIncrsLocal.Add(1)
	}
	if !t.final {
		return
	}
	if s.counter == nil {
		s.forget(t.key)
		return
	}
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if t.v == 0 && down {
		s.resetLater(t.key)
		return
	}
	s.forget(t.key)
	if err := s.reset(ctx, t.key); err != nil {
		s.resetLater(t.key)
		s.failed(ctx, false, t.key, fmt.Errorf("resetting %s after a final message: %w", s.prefix+t.key, err))
	}
}

// reset deletes the Counter's key of scope key.
func (s *seqAllocator) reset(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, s.callTimeout)
	defer cancel()
	return guard(func() error { return s.counter.Reset(ctx, s.prefix+key) })
}

// resetLater ends the scope of key locally and has the Counter's key
// deleted before its next use: a final message was numbered while the
// Counter could not delete it.
func (s *seqAllocator) resetLater(key string) {
	now := s.h.now().UnixNano()
	s.mu.Lock()
	k := s.touch(key, now)
	k.next, k.ahead, k.reset = s.start, false, true
	s.mu.Unlock()
}

// release gives back the number of a message that was not sent, so that
// the next message of the scope gets it: always with the local counter,
// and with a FloorCounter when nothing was counted on the key since (a
// compare-and-decrement). A number that can not be given back that way (a
// concurrent send of the scope took the next one, or a Counter without
// DecrIf) leaves a gap in the scope; never a duplicate.
func (s *seqAllocator) release(ctx context.Context, t seqTicket) {
	if t.v > 0 {
		if s.floor == nil {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, s.callTimeout)
		var ok bool
		err := guard(func() (err error) {
			ok, err = s.floor.DecrIf(cctx, s.prefix+t.key, t.v)
			return err
		})
		cancel()
		if err != nil {
			s.failed(ctx, false, t.key, fmt.Errorf("giving back %d of %s: %w", t.v, s.prefix+t.key, err))
			return
		}
		if !ok {
			return
		}
	}
	s.mu.Lock()
	if k := s.keys[t.key]; k != nil && k.next == t.n+1 {
		k.next = t.n
	}
	s.mu.Unlock()
}

// shared numbers a message of key with the Counter; ok is false when the
// local counter must number it (the Counter is down or failed, or its
// result was below what this instance handed out locally).
func (s *seqAllocator) shared(ctx context.Context, key string) (n, v int64, ok bool) {
	for attempt := 0; attempt < 2; attempt++ {
		floor, reset, probe, call := s.begin(key)
		if !call {
			return 0, 0, false
		}
		if reset {
			if err := s.reset(ctx, key); err != nil {
				s.resetLater(key)
				s.failed(ctx, probe, key, fmt.Errorf("resetting %s after a final message: %w", s.prefix+key, err))
				return 0, 0, false
			}
		}
		var err error
		v, err = s.incr(ctx, key, floor)
		if err != nil {
			s.failed(ctx, probe, key, fmt.Errorf("INCR %s failed, numbered locally: %w", s.prefix+key, err))
			return 0, 0, false
		}
		if n, ok = s.took(key, v, probe); ok {
			return n, v, true
		}
		if s.floor == nil {
			break // a plain Counter can not be raised to the floor
		}
	}
	return 0, 0, false
}

// begin decides whether a message of key is numbered by the Counter, with
// which floor (0: none), and whether the Counter's key must be deleted
// first (reset: this call takes that over); probe is true for the one call
// that tries a Counter that was down.
func (s *seqAllocator) begin(key string) (floor int64, reset, probe, call bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		if s.probing || s.h.now().UnixNano() < s.retryAt {
			return 0, false, false, false
		}
		s.probing, probe = true, true
	}
	if k := s.keys[key]; k != nil {
		floor = k.floor(s.start)
		reset, k.reset = k.reset, false
	}
	return floor, reset, probe, true
}

// floor is the least value the Counter may give for k's next number (0:
// any): the value of k's next local number, when numbers were handed out
// locally that the Counter may not know.
func (k *seqKey) floor(start int64) int64 {
	if !k.ahead {
		return 0
	}
	return k.next - start + 1
}

// incr calls the Counter, bounded by callTimeout.
func (s *seqAllocator) incr(ctx context.Context, key string, floor int64) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, s.callTimeout)
	defer cancel()
	var v int64
	err := guard(func() (err error) {
		if s.floor != nil {
			v, err = s.floor.IncrFloor(ctx, s.prefix+key, floor, s.ttl)
		} else {
			v, err = s.counter.Incr(ctx, s.prefix+key, s.ttl)
		}
		return err
	})
	if err == nil && v <= 0 {
		err = fmt.Errorf("the counter returned %d", v)
	}
	return v, err
}

// guard runs a call of the Counter, turning a panic into an error.
func guard(call func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the counter panicked: %v", p)
		}
	}()
	return call()
}

// took records that the Counter answered v for key: the Counter is up. The
// number is used (ok) unless it is below numbers handed out locally.
func (s *seqAllocator) took(key string, v int64, probe bool) (n int64, ok bool) {
	n = s.start + v - 1
	now := s.h.now()
	s.mu.Lock()
	if probe {
		s.probing = false
	}
	wasDown, since := s.down, s.downSince
	s.down = false
	k := s.touch(key, now.UnixNano())
	if ok = !k.ahead || n >= k.next; ok {
		k.ahead = false
		k.next = max(k.next, n+1)
	}
	s.mu.Unlock()
	if wasDown {
		s.h.opts.Logger.Info("ssekify: seq counter answers again; numbering with it",
			slog.Duration("outage", now.Sub(since)))
	}
	return n, ok
}

// failed records a failed Counter call made for a message of key: the hub
// numbers locally for retryAfter. The first failure of an outage is
// reported; a call that failed because the caller's context ended says
// nothing of the Counter.
func (s *seqAllocator) failed(ctx context.Context, probe bool, key string, err error) {
	now := s.h.now()
	s.mu.Lock()
	if probe {
		s.probing = false
	}
	if ctx.Err() != nil {
		s.mu.Unlock()
		return
	}
	first := !s.down
	if first {
		s.down, s.downSince = true, now
	}
	s.retryAt = now.Add(s.retryAfter).UnixNano()
	s.mu.Unlock()
	s.h.stats.lastSeqKvFallbackAt.Store(now.UnixMilli())
	if first {
		s.h.reportErr(&Error{Code: CodeSeqKVFallback, Level: LevelWarn, Op: "seq", Target: clip(key),
			Err: fmt.Errorf("%w: %w; numbering locally, trying the counter again every %v", ErrBroker, err, s.retryAfter)})
	}
}

// local numbers a message of key with the in-memory counter.
func (s *seqAllocator) local(key string) int64 {
	now := s.h.now().UnixNano()
	s.mu.Lock()
	k := s.touch(key, now)
	n := k.next
	k.next++
	k.ahead = s.counter != nil
	s.mu.Unlock()
	return n
}

// forget drops the local counter of key.
func (s *seqAllocator) forget(key string) {
	s.mu.Lock()
	if k := s.keys[key]; k != nil {
		s.remove(k)
	}
	s.mu.Unlock()
}

// touch returns the counter of key, created at StartAt when missing, as the
// most recently used; it sweeps expired keys and keeps the MaxKeys bound.
// s.mu held.
func (s *seqAllocator) touch(key string, now int64) *seqKey {
	if s.keyTTL >= 0 {
		for k := s.lru.tail; k != nil && now-k.used >= int64(s.keyTTL); k = s.lru.tail {
			s.remove(k)
		}
	}
	k := s.keys[key]
	if k == nil {
		k = &seqKey{key: key, next: s.start}
		s.keys[key] = k
		s.lru.pushFront(k)
		for len(s.keys) > s.maxKeys {
			s.remove(s.lru.tail)
		}
	} else {
		s.lru.moveToFront(k)
	}
	k.used = now
	return k
}

// remove drops k. s.mu held.
func (s *seqAllocator) remove(k *seqKey) {
	s.lru.remove(k)
	delete(s.keys, k.key)
}

func (k *seqKey) links() *lruLinks[seqKey] { return &k.lru }
