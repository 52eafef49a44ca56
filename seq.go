package ssekify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// seqCounterTimeout bounds a Counter call made with a context that has no
// deadline (Send* use context.Background()), so a stalled Redis delays a send
// by at most this much before the local counter takes over.
const seqCounterTimeout = 2 * time.Second

// seqAllocator hands out sequence numbers per scope key. One allocator per
// hub serves Send* and Publish* alike, so they share one counter per key.
//
// With a Counter (the broker's, set by setCounter) every number comes from
// it: INCR KeyPrefix+key, seq = StartAt + value - 1, one sequence for the
// whole cluster. A final message also resets the key there. When an INCR
// fails, that message is numbered by the local counter, which mirrors the
// last number the Counter gave, so a stream numbered by this instance goes on
// without a jump; the failure is counted and reported.
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

	// counter is the broker's shared counter; nil counts in memory. Set
	// before the hub is used (setCounter), read-only afterwards.
	counter  Counter
	warnOnce sync.Once

	mu   sync.Mutex
	keys map[string]*seqKey
	lru  lruList[seqKey, *seqKey] // most recently used first
}

// seqKey is one scope's local counter.
type seqKey struct {
	key  string
	next int64 // the number the next message gets
	used int64 // unix nanoseconds of the last use
	lru  lruLinks[seqKey]
}

func newSeqAllocator(h *Hub) *seqAllocator {
	o := &h.opts.Seq
	return &seqAllocator{
		h:       h,
		start:   o.StartAt,
		prefix:  o.KeyPrefix,
		ttl:     o.RedisTTL,
		maxKeys: o.MaxKeys,
		keyTTL:  o.KeyTTL,
		keys:    make(map[string]*seqKey),
	}
}

// setCounter makes the allocator number every scope with c.
func (s *seqAllocator) setCounter(c Counter) { s.counter = c }

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

// next returns the number of the next message of scope key. A final message
// gets its number and ends the scope: the next one starts at StartAt again.
func (s *seqAllocator) next(ctx context.Context, key string, final bool) int64 {
	if c := s.counter; c != nil {
		n, err := s.shared(ctx, c, key, final)
		if err == nil {
			return n
		}
		s.h.stats.lastSeqKvFallbackAt.Store(s.h.now().UnixMilli())
		s.h.reportErr(&Error{Code: CodeSeqKVFallback, Level: LevelWarn, Op: "seq", Target: key,
			Err: fmt.Errorf("%w: INCR %s failed, numbered locally: %w", ErrBroker, s.prefix+key, err)})
	}
	return s.local(key, final)
}

// shared numbers the message with the Counter.
func (s *seqAllocator) shared(ctx context.Context, c Counter, key string, final bool) (int64, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, seqCounterTimeout)
		defer cancel()
	}
	v, err := c.Incr(ctx, s.prefix+key, s.ttl)
	if err != nil {
		return 0, err
	}
	s.h.stats.seqIncrsRedis.Add(1)
	n := s.start + v - 1
	if !final {
		s.mirror(key, n+1)
		return n, nil
	}
	s.forget(key)
	if err := c.Reset(ctx, s.prefix+key); err != nil {
		s.h.reportErr(&Error{Code: CodeSeqKVFallback, Level: LevelWarn, Op: "seq", Target: key,
			Err: fmt.Errorf("%w: resetting %s after a final message: %w", ErrBroker, s.prefix+key, err)})
	}
	return n, nil
}

// local numbers the message with the in-memory counter of key.
func (s *seqAllocator) local(key string, final bool) int64 {
	now := s.h.now().UnixNano()
	s.mu.Lock()
	k := s.touch(key, now)
	n := k.next
	k.next++
	if final {
		s.remove(k)
	}
	s.mu.Unlock()
	s.h.stats.seqIncrsLocal.Add(1)
	return n
}

// mirror keeps the local counter of key in step with the shared one.
func (s *seqAllocator) mirror(key string, next int64) {
	now := s.h.now().UnixNano()
	s.mu.Lock()
	if k := s.touch(key, now); next > k.next {
		k.next = next
	}
	s.mu.Unlock()
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
