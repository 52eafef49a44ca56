package ssekify_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// nilBroker is a Broker that does nothing, for option validation.
type nilBroker struct{}

func (nilBroker) Publish(context.Context, string, []byte) error { return nil }
func (nilBroker) Subscribe(ctx context.Context, _ string, _ func([]byte)) error {
	<-ctx.Done()
	return nil
}
func (nilBroker) Close() error { return nil }

// TestBadInput: each bad send returns an error, OnError fires with its code,
// nothing is written to anyone, nothing is counted as sent, and the other
// connections carry on.
func TestBadInput(t *testing.T) {
	log := &errorLog{}
	h := newHub(t, &ssekify.Options{
		OnError:         log.hook,
		MaxPayloadBytes: 1024,
		KeepAlive:       -1,
		Serializer: func(v any) ([]byte, error) {
			switch v := v.(type) {
			case chan int:
				return nil, errors.New("can not serialize a channel")
			case func():
				panic("serializer blew up")
			case string:
				if v == "raw-cr" {
					return []byte("line1\rline2"), nil // a custom serializer may emit CR: it is framed, never injected
				}
			}
			return json.Marshal(v)
		},
	})
	srv := serve(t, h, nil)
	alice := connect(t, srv, "alice", "room", nil)
	bob := connect(t, srv, "bob", "room", nil)

	bad := []struct {
		name string
		send func() (int, error)
		err  error
		code string
	}{
		{"oversized", func() (int, error) {
			return h.SendToAll(ssekify.Event{Data: strings.Repeat("x", 2000)})
		}, ssekify.ErrPayloadTooLarge, ssekify.CodePayloadTooLarge},
		{"serializer error", func() (int, error) {
			return h.SendToAll(ssekify.Event{Data: make(chan int)})
		}, ssekify.ErrSerialize, ssekify.CodeSerialize},
		{"serializer panic", func() (int, error) {
			return h.SendToAll(ssekify.Event{Data: func() {}})
		}, ssekify.ErrSerialize, ssekify.CodeSerialize},
		{"name with LF", func() (int, error) {
			return h.SendToAll(ssekify.Event{Name: "a\nevent: evil", Data: 1})
		}, ssekify.ErrInvalidEvent, ssekify.CodeInvalidEvent},
		{"name with CR", func() (int, error) {
			return h.SendToRoom("room", ssekify.Event{Name: "a\rb", Data: 1})
		}, ssekify.ErrInvalidEvent, ssekify.CodeInvalidEvent},
		{"id with NUL", func() (int, error) {
			return h.SendToUser("alice", ssekify.Event{ID: "1\x00", Data: 1})
		}, ssekify.ErrInvalidEvent, ssekify.CodeInvalidEvent},
		{"id with LF", func() (int, error) {
			return h.SendToUser("alice", ssekify.Event{ID: "1\ndata: injected", Data: 1})
		}, ssekify.ErrInvalidEvent, ssekify.CodeInvalidEvent},
		{"invalid UTF-8 data", func() (int, error) {
			return h.SendToAll(ssekify.Event{Data: []byte{0xff, 0xfe}})
		}, ssekify.ErrInvalidEvent, ssekify.CodeInvalidEvent},
		{"empty user", func() (int, error) {
			return h.SendToUser("", ssekify.Event{Data: 1})
		}, ssekify.ErrEmptyTarget, ssekify.CodeEmptyTarget},
		{"empty room", func() (int, error) {
			return h.SendToRoom("", ssekify.Event{Data: 1})
		}, ssekify.ErrEmptyTarget, ssekify.CodeEmptyTarget},
	}
	var codes []string
	for _, b := range bad {
		n, err := b.send()
		require.ErrorIs(t, err, b.err, b.name)
		require.Zero(t, n, b.name)
		codes = append(codes, b.code)
	}
	require.Equal(t, codes, log.codes())
	st := h.Stats()
	require.EqualValues(t, len(bad), st.ErrorCount)
	require.Zero(t, st.Sent)
	require.Zero(t, st.QueueItemsMax, "nothing was queued")

	// The streams are intact: the next good events arrive first, exactly.
	n, err := h.SendToAll(ssekify.Event{Name: "ok", Data: "raw-cr"})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	for _, s := range []*ssetest.Stream{alice, bob} {
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.Equal(t, "ok", ev.Type)
		require.Equal(t, "line1\nline2", ev.Data)
	}
	eventually(t, "sent", func() bool { return h.Stats().Sent == 2 })
}

func TestPublishBadInputWithoutBroker(t *testing.T) {
	log := &errorLog{}
	h := newHub(t, &ssekify.Options{OnError: log.hook})
	require.ErrorIs(t, h.PublishToUser(t.Context(), "", ssekify.Event{Data: 1}), ssekify.ErrEmptyTarget)
	require.ErrorIs(t, h.PublishToRoom(t.Context(), "", ssekify.Event{Data: 1}), ssekify.ErrEmptyTarget)
	require.ErrorIs(t, h.Publish(t.Context(), ssekify.Event{ID: "\r", Data: 1}), ssekify.ErrInvalidEvent)
	require.Equal(t, []string{ssekify.CodeEmptyTarget, ssekify.CodeEmptyTarget, ssekify.CodeInvalidEvent}, log.codes())

	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	require.NoError(t, h.PublishToUser(t.Context(), "alice", ssekify.Event{Name: "local", Data: 1}))
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, "local", ev.Type)
}

func TestInvalidOptions(t *testing.T) {
	for name, o := range map[string]ssekify.Options{
		"negative queue items": {MaxQueueItems: -1},
		"negative queue bytes": {MaxQueueBytes: -1},
		"unknown policy":       {DropPolicy: ssekify.DropPolicy(9)},
		"instance with dash":   {InstanceID: "a-b"},
		"instance too long":    {InstanceID: strings.Repeat("i", ssekify.MaxInstanceIDBytes+1)},
		"channel too long":     {Channel: strings.Repeat("c", ssekify.MaxChannelBytes+1)},
		"gap name with LF":     {GapEvent: "gap\n"},
		"broker twice":         {RedisURL: "redis://127.0.0.1:1", Redis: nilBroker{}},
		"getter missing":       {AutoFields: ssekify.AutoFields{RequestID: ssekify.AutoField{Mode: ssekify.FieldIfMissing}}},
	} {
		_, err := ssekify.New(&o)
		require.Error(t, err, name)
	}
	_, err := ssekify.New(&ssekify.Options{InstanceID: strings.Repeat("i", ssekify.MaxInstanceIDBytes),
		Channel: strings.Repeat("c", ssekify.MaxChannelBytes)})
	require.NoError(t, err, "at the bounds")
	opts := &ssekify.Options{MaxQueueItems: 5}
	h, err := ssekify.New(opts)
	require.NoError(t, err)
	require.Equal(t, 5, opts.MaxQueueItems)
	require.Len(t, h.InstanceID(), 8)
	require.Empty(t, opts.InstanceID, "the caller's options are never mutated")
}
