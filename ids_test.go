package ssekify_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// TestFrameIDsDistinct: 1,000,000 ids made by 8 goroutines within one
// millisecond (a frozen clock) are all distinct and well formed.
func TestFrameIDsDistinct(t *testing.T) {
	const workers, per = 8, 125_000
	next := ssekify.NewIDGen("inst")
	frozen := time.UnixMilli(1_700_000_000_123)
	results := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids := make([]string, per)
			for i := range ids {
				ids[i] = next(frozen)
			}
			results[w] = ids
		}()
	}
	wg.Wait()
	seen := make(map[string]struct{}, workers*per)
	for _, ids := range results {
		for _, id := range ids {
			seen[id] = struct{}{}
		}
	}
	require.Len(t, seen, workers*per)
	for _, id := range []string{results[0][0], results[workers-1][per-1]} {
		parts := strings.Split(id, "-")
		require.Len(t, parts, 3, id)
		require.Equal(t, "1700000000123", parts[0])
		require.Equal(t, "inst", parts[1])
		n, err := strconv.ParseUint(parts[2], 10, 64)
		require.NoError(t, err)
		require.True(t, n >= 1 && n <= workers*per, id)
	}
	// Each goroutine's own ids strictly increase.
	for w, ids := range results {
		prev := uint64(0)
		for _, id := range ids {
			n, err := strconv.ParseUint(id[strings.LastIndexByte(id, '-')+1:], 10, 64)
			if err != nil || n <= prev {
				t.Fatalf("goroutine %d: id %q after counter %d (%v)", w, id, prev, err)
			}
			prev = n
		}
	}
}

// TestFrameIDPolicy: events get "<epochMs>-<instanceID>-<counter>" ids by
// default, Options.FrameID when set, and a caller-given Event.ID always wins.
func TestFrameIDPolicy(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		h := newHub(t, &ssekify.Options{InstanceID: "node7"})
		clock := newTestClock().hub(h)
		srv := serve(t, h, nil)
		s := connect(t, srv, "alice", "", nil)
		mustSend(t, h, "user", "alice", 1)
		mustSend(t, h, "user", "alice", 2)
		_, err := h.SendToUser("alice", ssekify.Event{ID: "mine", Data: 3})
		require.NoError(t, err)
		evs, err := s.Collect(3, wait)
		require.NoError(t, err)
		ms := strconv.FormatInt(clock.Millis(), 10)
		require.Regexp(t, `^`+ms+`-node7-\d+$`, evs[0].LastEventID)
		require.Greater(t, idCounter(t, evs[1].LastEventID), idCounter(t, evs[0].LastEventID))
		require.Equal(t, "mine", evs[2].LastEventID)
	})
	t.Run("FrameID", func(t *testing.T) {
		var n int
		var mu sync.Mutex
		h := newHub(t, &ssekify.Options{FrameID: func(ev ssekify.Event, payload []byte) string {
			mu.Lock()
			defer mu.Unlock()
			n++
			return "f" + strconv.Itoa(n) + "-" + string(payload)
		}})
		srv := serve(t, h, nil)
		s := connect(t, srv, "alice", "", nil)
		mustSend(t, h, "user", "alice", 41)
		_, err := h.SendToUser("alice", ssekify.Event{ID: "given", Data: 42})
		require.NoError(t, err)
		evs, err := s.Collect(2, wait)
		require.NoError(t, err)
		require.Equal(t, "f1-41", evs[0].LastEventID)
		require.Equal(t, "given", evs[1].LastEventID)
	})
}
