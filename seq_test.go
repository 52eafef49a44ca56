package ssekify_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// seqOf enriches data with h and returns the seq it got (-1 for none).
func seqOf(t testing.TB, h *ssekify.Hub, data string) int64 {
	t.Helper()
	out, err := ssekify.Enrich(h, context.Background(), []byte(data))
	require.NoError(t, err)
	var v map[string]json.RawMessage
	if json.Unmarshal(out, &v) != nil {
		require.Equal(t, data, string(out), "a payload that is not an object is untouched")
		return -1
	}
	raw, ok := v["seq"]
	if !ok {
		return -1
	}
	var n int64
	require.NoError(t, json.Unmarshal(raw, &n))
	return n
}

func seqHub(t testing.TB, seq ssekify.SeqOptions) *ssekify.Hub {
	return newHub(t, &ssekify.Options{Seq: seq, AutoFields: ssekify.AutoFields{Timestamp: ssekify.TimestampOff}})
}

// TestSeqOverHTTP: the messages of one requestId are numbered 0, 1, 2 as
// they reach the client; a final message ends the scope.
func TestSeqOverHTTP(t *testing.T) {
	h := newHub(t, nil)
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	for _, phase := range []string{"start", "progress", "done", "start"} {
		_, err := h.SendToUser("alice", ssekify.Event{Data: map[string]any{"requestId": "job", "phase": phase}})
		require.NoError(t, err)
	}
	evs, err := s.Collect(4, wait)
	require.NoError(t, err)
	require.Equal(t, []int64{0, 1, 2, 0}, seqs(t, evs))
	require.EqualValues(t, 4, h.Stats().SeqIncrsLocal)
}

// TestSeqScopes: StartAt, final messages, independent keys, the requestId /
// streamId defaults, and an existing seq that is never overwritten.
func TestSeqScopes(t *testing.T) {
	h := seqHub(t, ssekify.SeqOptions{})
	got := func(datas ...string) []int64 {
		var out []int64
		for _, d := range datas {
			out = append(out, seqOf(t, h, d))
		}
		return out
	}
	require.Equal(t, []int64{0, 1, 2}, got(`{"requestId":"a"}`, `{"requestId":"a"}`, `{"requestId":"a"}`))
	require.Equal(t, []int64{0, 3, 1, 4}, got(`{"requestId":"b"}`, `{"requestId":"a"}`, `{"requestId":"b"}`, `{"requestId":"a"}`))
	require.Equal(t, []int64{5, 0, 1}, got(`{"requestId":"a","final":true}`, `{"requestId":"a"}`, `{"requestId":"a","final":false}`))
	require.Equal(t, []int64{2, 0, 0, 1, 0}, got(`{"requestId":"a","phase":"done"}`, `{"requestId":"a","phase":"error"}`,
		`{"requestId":"a","phase":"progress"}`, `{"requestId":"a","phase":"d\u006fne"}`, `{"requestId":"a"}`))
	// requestId and streamId values share one key space, as in the original.
	require.Equal(t, []int64{7, 1, 2, -1, 3}, got(`{"requestId":"a","seq":7}`, `{"requestId":"a"}`, `{"streamId":"a"}`,
		`{"nothing":"a"}`, `{"requestId":"a","streamId":"s"}`))
	require.Equal(t, []int64{0, 1, -1, -1, 4}, got(`{"requestId":42}`, `{"requestId":42}`, `{"requestId":null}`,
		`{"requestId":""}`, `{"requestId":null,"streamId":"a"}`))
	require.Equal(t, []int64{-1, -1}, got(`[{"requestId":"a"}]`, `"requestId"`))
	// A nested requestId is not a scope key.
	require.Equal(t, int64(-1), seqOf(t, h, `{"inner":{"requestId":"a"}}`))

	h5 := seqHub(t, ssekify.SeqOptions{StartAt: 5})
	h = h5
	require.Equal(t, []int64{5, 6, 7, 5, 5, 6}, got(`{"requestId":"a"}`, `{"requestId":"a"}`, `{"requestId":"a","final":true}`,
		`{"requestId":"b"}`, `{"requestId":"a"}`, `{"requestId":"a"}`))
}

// TestSeqOptions: FieldName, KeyExtractor and FinalPredicate (which see the
// auto fields already added), and Disabled.
func TestSeqOptions(t *testing.T) {
	h := newHub(t, &ssekify.Options{
		AutoFields: ssekify.AutoFields{Timestamp: ssekify.TimestampOff,
			RequestID: ssekify.AutoField{Mode: ssekify.FieldIfMissing, Name: "rid", Getter: func(context.Context) string { return "g" }}},
		Seq: ssekify.SeqOptions{
			FieldName: "n",
			KeyExtractor: func(f ssekify.Fields) string {
				s, _ := f.String("rid")
				return s
			},
			FinalPredicate: func(f ssekify.Fields) bool {
				v, _ := f.Bool("last")
				return v
			},
		},
	})
	for _, c := range [][2]string{
		{`{}`, `{"rid":"g","n":0}`},
		{`{"rid":"x"}`, `{"rid":"x","n":0}`},
		{`{"last":true}`, `{"last":true,"rid":"g","n":1}`},
		{`{ }`, `{ "rid":"g","n":0}`},
		{`{"n":"mine"}`, `{"n":"mine","rid":"g"}`},
		{`{"seq":1}`, `{"seq":1,"rid":"g","n":1}`},
	} {
		out, err := ssekify.Enrich(h, context.Background(), []byte(c[0]))
		require.NoError(t, err)
		require.Equal(t, c[1], string(out))
	}

	off := seqHub(t, ssekify.SeqOptions{Disabled: true})
	require.Equal(t, int64(-1), seqOf(t, off, `{"requestId":"a"}`))
	require.Zero(t, off.Stats().SeqIncrsLocal)
}

// TestSeqConcurrent: concurrent sends of one key get distinct numbers.
func TestSeqConcurrent(t *testing.T) {
	h := seqHub(t, ssekify.SeqOptions{})
	const workers, per = 8, 500
	results := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				out, err := ssekify.Enrich(h, context.Background(), []byte(`{"requestId":"k"}`))
				if err != nil {
					return
				}
				var v struct{ Seq int64 }
				_ = json.Unmarshal(out, &v)
				results[w] = append(results[w], v.Seq)
			}
		}()
	}
	wg.Wait()
	var all []int64
	for _, r := range results {
		all = append(all, r...)
	}
	slices.Sort(all)
	require.Equal(t, span(0, workers*per), all)
}

// TestSeqLocalBounds: beyond MaxKeys the least recently used counter goes
// (its scope restarts); counters unused for KeyTTL are swept lazily.
func TestSeqLocalBounds(t *testing.T) {
	h := seqHub(t, ssekify.SeqOptions{MaxKeys: 3, KeyTTL: time.Minute})
	clock := newTestClock().hub(h)
	next := func(key string) int64 { return seqOf(t, h, `{"requestId":"`+key+`"}`) }
	for _, k := range []string{"a", "b", "c", "a"} {
		next(k)
	}
	require.Equal(t, 3, ssekify.SeqKeys(h))
	next("d") // b is the least recently used
	require.Equal(t, 3, ssekify.SeqKeys(h))
	require.Equal(t, int64(2), next("a"))
	require.Equal(t, int64(1), next("c"))
	require.Equal(t, int64(0), next("b"), "b was evicted")

	clock.Advance(30 * time.Second)
	next("a")
	clock.Advance(40 * time.Second) // c, b: 70s unused; a: 40s
	require.Equal(t, int64(4), next("a"))
	require.Equal(t, 1, ssekify.SeqKeys(h), "c and b swept")
	require.Equal(t, int64(0), next("c"))
}

// fakeCounter is a FloorCounter in memory that can be made to fail.
type fakeCounter struct {
	mu     sync.Mutex
	vals   map[string]int64
	ttls   map[string]time.Duration
	resets []string
	floors []int64 // the floor of every IncrFloor call
	calls  int     // Counter calls, failed ones included
	fail   error
}

func newFakeCounter() *fakeCounter {
	return &fakeCounter{vals: map[string]int64{}, ttls: map[string]time.Duration{}}
}

func (c *fakeCounter) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	return c.IncrFloor(ctx, key, 0, ttl)
}

func (c *fakeCounter) IncrFloor(ctx context.Context, key string, floor int64, ttl time.Duration) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.floors = append(c.floors, floor)
	if _, ok := ctx.Deadline(); !ok {
		return 0, errors.New("counter called without a deadline")
	}
	if c.fail != nil {
		return 0, c.fail
	}
	c.vals[key] = max(c.vals[key]+1, floor)
	c.ttls[key] = ttl
	return c.vals[key], nil
}

func (c *fakeCounter) DecrIf(ctx context.Context, key string, value int64) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.fail != nil {
		return false, c.fail
	}
	if v, ok := c.vals[key]; !ok || v != value {
		return false, nil
	}
	if c.vals[key]--; c.vals[key] == 0 {
		delete(c.vals, key)
	}
	return true, nil
}

func (c *fakeCounter) Reset(ctx context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.resets = append(c.resets, key)
	if c.fail != nil {
		return c.fail
	}
	delete(c.vals, key)
	return nil
}

func (c *fakeCounter) setFail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

func (c *fakeCounter) callCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// plainCounter is a fakeCounter seen as a plain Counter (no floor, no
// DecrIf).
type plainCounter struct{ c *fakeCounter }

func (p plainCounter) Incr(ctx context.Context, key string, ttl time.Duration) (int64, error) {
	return p.c.Incr(ctx, key, ttl)
}

func (p plainCounter) Reset(ctx context.Context, key string) error { return p.c.Reset(ctx, key) }

// TestSeqCounter: with a Counter, sends and publishes share one counter per
// key (KeyPrefix + key, RedisTTL), StartAt applies, a final message resets
// the key; a failing INCR falls back to the local counter, which continues
// where the shared one was, is counted and reported once; the hub stays
// local for the retry interval, then the Counter, lifted above the local
// numbers, is authoritative again.
func TestSeqCounter(t *testing.T) {
	var log errorLog
	h := newHub(t, &ssekify.Options{
		OnError:    log.hook,
		AutoFields: ssekify.AutoFields{Timestamp: ssekify.TimestampOff},
		Seq:        ssekify.SeqOptions{StartAt: 5, KeyPrefix: "p:", RedisTTL: time.Minute},
	})
	clock := newTestClock().hub(h)
	c := newFakeCounter()
	ssekify.SetCounter(h, c)
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	ctx := context.Background()
	ev := func(fields map[string]any) ssekify.Event { return ssekify.Event{Data: fields} }

	_, err := h.SendToUser("alice", ev(map[string]any{"requestId": "r"}))
	require.NoError(t, err)
	require.NoError(t, h.PublishToUser(ctx, "alice", ev(map[string]any{"requestId": "r"})))
	_, err = h.SendToUser("alice", ev(map[string]any{"requestId": "r", "final": true}))
	require.NoError(t, err)
	require.NoError(t, h.PublishToUser(ctx, "alice", ev(map[string]any{"requestId": "r"})))
	evs, err := s.Collect(4, wait)
	require.NoError(t, err)
	require.Equal(t, []int64{5, 6, 7, 5}, seqs(t, evs))
	require.Equal(t, []string{"p:r"}, c.resets)
	require.Equal(t, time.Minute, c.ttls["p:r"])
	require.Equal(t, []int64{0, 0, 0, 0}, c.floors, "no floor while nothing was numbered locally")
	st := h.Stats()
	require.EqualValues(t, 4, st.SeqIncrsRedis)
	require.Zero(t, st.SeqIncrsLocal)
	require.Empty(t, log.codes())

	// Redis fails: the local counter goes on from the last shared number,
	// and the Counter is left alone for the retry interval.
	c.setFail(errors.New("connection refused"))
	calls := c.callCount()
	_, err = h.SendToUser("alice", ev(map[string]any{"requestId": "r"}))
	require.NoError(t, err, "a counter failure does not fail the send")
	_, err = h.SendToUser("alice", ev(map[string]any{"requestId": "new"}))
	require.NoError(t, err)
	_, err = h.SendToUser("alice", ev(map[string]any{"requestId": "r"}))
	require.NoError(t, err)
	evs, err = s.Collect(3, wait)
	require.NoError(t, err)
	require.Equal(t, []int64{6, 5, 7}, seqs(t, evs))
	require.Equal(t, calls+1, c.callCount(), "one failed call; the next sends did not wait on the Counter")
	st = h.Stats()
	require.EqualValues(t, 3, st.SeqIncrsLocal)
	require.Equal(t, clock.Millis(), st.LastSeqKvFallbackAt)
	require.Equal(t, []string{ssekify.CodeSeqKVFallback}, log.codes(), "reported once per outage")
	require.Equal(t, ssekify.LevelWarn, log.errs[0].Level)
	require.ErrorIs(t, log.errs[0], ssekify.ErrBroker)

	// Still failing after the interval: one call, no new report.
	clock.Advance(ssekify.SeqRetryAfter)
	require.Equal(t, int64(8), seqOf(t, h, `{"requestId":"r"}`))
	require.Equal(t, int64(9), seqOf(t, h, `{"requestId":"r"}`))
	require.Equal(t, calls+2, c.callCount())
	require.Len(t, log.codes(), 1)

	// Back: the Counter, still at 6 for "r", is lifted above the local
	// numbers (floor 6 for the number 10) and authoritative again.
	c.setFail(nil)
	clock.Advance(ssekify.SeqRetryAfter)
	require.Equal(t, int64(10), seqOf(t, h, `{"requestId":"r"}`))
	require.Equal(t, int64(11), seqOf(t, h, `{"requestId":"r"}`))
	require.Equal(t, []int64{6, 0}, c.floors[len(c.floors)-2:])
	require.Len(t, log.codes(), 1)
}

// TestSeqBrokerWithoutCounter: reported once, as a warning, with the time.
func TestSeqBrokerWithoutCounter(t *testing.T) {
	var log errorLog
	h := newHub(t, &ssekify.Options{OnError: log.hook})
	clock := newTestClock().hub(h)
	ssekify.BrokerWithoutCounter(h)
	ssekify.BrokerWithoutCounter(h)
	require.Equal(t, []string{ssekify.CodeSeqKVFallback}, log.codes())
	require.Equal(t, ssekify.LevelWarn, log.errs[0].Level)
	require.Equal(t, clock.Millis(), h.Stats().LastSeqKvFallbackAt)
	require.Equal(t, int64(0), seqOf(t, h, `{"requestId":"r"}`))

	var quiet errorLog
	off := newHub(t, &ssekify.Options{OnError: quiet.hook, Seq: ssekify.SeqOptions{Disabled: true}})
	ssekify.BrokerWithoutCounter(off)
	require.Empty(t, quiet.codes(), "no warning when seq is off")
}

// TestSeqPlainCounterOutage: a Counter that is not a FloorCounter can not be
// lifted above the numbers handed out locally during an outage, so the hub
// numbers that scope locally until its final message, never twice; other
// scopes use the Counter again.
func TestSeqPlainCounterOutage(t *testing.T) {
	h := seqHub(t, ssekify.SeqOptions{})
	clock := newTestClock().hub(h)
	c := newFakeCounter()
	ssekify.SetCounter(h, plainCounter{c})
	next := func(data string) int64 { return seqOf(t, h, data) }
	require.Equal(t, int64(0), next(`{"requestId":"r"}`))
	c.setFail(errors.New("down"))
	require.Equal(t, int64(1), next(`{"requestId":"r"}`))
	require.Equal(t, int64(2), next(`{"requestId":"r"}`))
	c.setFail(nil)
	clock.Advance(ssekify.SeqRetryAfter)
	var got []int64
	for range 4 {
		got = append(got, next(`{"requestId":"r"}`))
	}
	require.Equal(t, []int64{3, 4, 5, 6}, got, "below the local numbers, the Counter's results are not used")
	require.Equal(t, int64(7), next(`{"requestId":"r","final":true}`))
	require.Equal(t, int64(0), next(`{"requestId":"r"}`), "a new scope")
	require.Equal(t, int64(0), next(`{"requestId":"other"}`))
	st := h.Stats()
	require.EqualValues(t, 3, st.SeqIncrsRedis)
	require.EqualValues(t, 7, st.SeqIncrsLocal)
}

// TestSeqFinalDuringOutage: a final message numbered locally while the
// Counter is down still ends the scope there: the Counter's key is deleted
// before its next use, so the next scope of that key starts at StartAt and
// goes on above its own local numbers.
func TestSeqFinalDuringOutage(t *testing.T) {
	h := seqHub(t, ssekify.SeqOptions{})
	clock := newTestClock().hub(h)
	c := newFakeCounter()
	ssekify.SetCounter(h, c)
	next := func(data string) int64 { return seqOf(t, h, data) }
	for want := range int64(3) {
		require.Equal(t, want, next(`{"requestId":"r"}`))
		require.Equal(t, want, next(`{"requestId":"s"}`))
	}
	c.setFail(errors.New("down"))
	require.Equal(t, int64(3), next(`{"requestId":"r","final":true}`))
	require.Equal(t, int64(0), next(`{"requestId":"r"}`), "a new scope, numbered locally")
	require.Equal(t, int64(3), next(`{"requestId":"s","final":true}`))
	c.setFail(nil)
	clock.Advance(ssekify.SeqRetryAfter)
	require.Equal(t, int64(1), next(`{"requestId":"r"}`), "the new scope goes on")
	require.Equal(t, int64(0), next(`{"requestId":"s"}`), "the next scope starts at StartAt")
	require.Equal(t, int64(2), next(`{"requestId":"r"}`))
	require.Equal(t, int64(1), next(`{"requestId":"s"}`))
	require.Equal(t, []string{"ssekify:seq:r", "ssekify:seq:s"}, c.resets)
}
