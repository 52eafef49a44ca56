package ssekify_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// keyBroker is a memBroker with a Counter that records the keys it counts.
type keyBroker struct {
	*memBroker
	mu     sync.Mutex
	counts map[string]int64
}

func (b *keyBroker) Incr(_ context.Context, key string, _ time.Duration) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.counts[key]++
	return b.counts[key], nil
}

func (b *keyBroker) Reset(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.counts, key)
	return nil
}

func (b *keyBroker) keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var keys []string
	for k := range b.counts {
		keys = append(keys, k)
	}
	return keys
}

// TestSeqKeyPrefixFollowsChannel: tenants with their own channels on one
// broker never share a seq counter, without configuring Seq.KeyPrefix.
func TestSeqKeyPrefixFollowsChannel(t *testing.T) {
	b := &keyBroker{memBroker: newMemBroker(), counts: map[string]int64{}}
	for _, o := range []*ssekify.Options{
		{Redis: b},
		{Redis: b, Channel: "ssekify:bus:tenant:a"},
		{Redis: b, Channel: "ssekify:bus:tenant:b"},
		{Redis: b, Channel: "ssekify:bus:tenant:c", Seq: ssekify.SeqOptions{KeyPrefix: "custom:"}},
	} {
		h := newHub(t, o)
		t.Cleanup(func() { _ = h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: -1}) })
		require.NoError(t, h.Publish(t.Context(), ssekify.Event{Data: map[string]string{"requestId": "r1"}}))
	}
	require.ElementsMatch(t, []string{
		"ssekify:seq:r1",
		"ssekify:bus:tenant:a:seq:r1",
		"ssekify:bus:tenant:b:seq:r1",
		"custom:r1",
	}, b.keys())
}

// TestPublishOnly: a hub that only publishes reaches the others without
// subscribing itself.
func TestPublishOnly(t *testing.T) {
	b := newMemBroker()
	a := newHub(t, &ssekify.Options{Redis: b})
	pub := newHub(t, &ssekify.Options{Redis: b, PublishOnly: true})
	for _, h := range []*ssekify.Hub{a, pub} {
		t.Cleanup(func() { _ = h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: -1}) })
	}
	eventually(t, "a's subscription", func() bool { return b.subscribers("") == 1 })
	s := connect(t, serve(t, a, nil), "alice", "", nil)
	require.NoError(t, pub.PublishToUser(t.Context(), "alice", ssekify.Event{Name: "job", Data: 1}))
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, "job", ev.Type)
	require.Equal(t, 1, b.subscribers(""), "the publish-only hub never subscribed")
}
