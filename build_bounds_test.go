package ssekify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// TestBoundsRefused: over HTTP, a send or publish whose id, name, user id,
// room, seq scope key or FrameID result is beyond its bound (a 2 MB id
// among them) is refused with ErrTooLong and reported as TOO_LONG; nothing
// is written to any stream and the streams keep working. Inputs at their
// bounds go through.
func TestBoundsRefused(t *testing.T) {
	var log errorLog
	over := func(n int) string { return strings.Repeat("x", n+1) }
	at := func(n int) string { return strings.Repeat("a", n) }
	h := newHub(t, &ssekify.Options{
		OnError:         log.hook,
		MaxPayloadBytes: -1, // so that a 2 MB scope key reaches its own bound
		AutoFields:      ssekify.AutoFields{Timestamp: ssekify.TimestampOff},
		FrameID: func(_ ssekify.Event, payload []byte) string {
			if bytes.Contains(payload, []byte("long-frame-id")) {
				return over(ssekify.MaxEventIDBytes)
			}
			return "f-" + string(rune('a'+len(payload)%26))
		},
	})
	srv := serve(t, h, nil)
	alice := connect(t, srv, "alice", "room", nil)
	bob := connect(t, srv, "bob", "", nil)
	ctx := context.Background()
	huge := strings.Repeat("i", 2<<20)
	obj := func(k, v string) json.RawMessage { return json.RawMessage(`{"` + k + `":"` + v + `"}`) }

	refused := map[string]func() error{
		"2 MB id":       func() error { _, err := h.SendToUser("alice", ssekify.Event{ID: huge, Data: 1}); return err },
		"2 MB id, all":  func() error { _, err := h.SendToAll(ssekify.Event{ID: huge, Data: 1}); return err },
		"2 MB id, room": func() error { _, err := h.SendToRoom("room", ssekify.Event{ID: huge, Data: 1}); return err },
		"2 MB id, publish": func() error {
			return h.PublishToUser(ctx, "alice", ssekify.Event{ID: huge, Data: 1})
		},
		"2 MB id, publish all": func() error { return h.Publish(ctx, ssekify.Event{ID: huge, Data: 1}) },
		"id": func() error {
			_, err := h.SendToUser("alice", ssekify.Event{ID: over(ssekify.MaxEventIDBytes), Data: 1})
			return err
		},
		"name": func() error {
			_, err := h.SendToUser("alice", ssekify.Event{Name: over(ssekify.MaxEventNameBytes), Data: 1})
			return err
		},
		"2 MB name": func() error { return h.PublishToRoom(ctx, "room", ssekify.Event{Name: huge, Data: 1}) },
		"user id": func() error {
			_, err := h.SendToUser(over(ssekify.MaxUserIDBytes), ssekify.Event{Data: 1})
			return err
		},
		"user id, publish": func() error { return h.PublishToUser(ctx, over(ssekify.MaxUserIDBytes), ssekify.Event{Data: 1}) },
		"room": func() error {
			_, err := h.SendToRoom(over(ssekify.MaxRoomBytes), ssekify.Event{Data: 1})
			return err
		},
		"room, publish": func() error { return h.PublishToRoom(ctx, huge, ssekify.Event{Data: 1}) },
		"requestId": func() error {
			_, err := h.SendToUser("alice", ssekify.Event{Data: obj("requestId", over(ssekify.MaxScopeKeyBytes))})
			return err
		},
		"2 MB requestId": func() error {
			_, err := h.SendToUser("alice", ssekify.Event{Data: map[string]string{"requestId": huge}})
			return err
		},
		"escaped requestId": func() error {
			_, err := h.SendToUser("alice", ssekify.Event{Data: obj("requestId", strings.Repeat(`\u0041`, ssekify.MaxScopeKeyBytes+1))})
			return err
		},
		"streamId": func() error {
			_, err := h.SendToAll(ssekify.Event{Data: obj("streamId", over(ssekify.MaxScopeKeyBytes))})
			return err
		},
		"numeric requestId": func() error {
			_, err := h.SendToUser("alice", ssekify.Event{Data: json.RawMessage(`{"requestId":` + strings.Repeat("7", ssekify.MaxScopeKeyBytes+1) + `}`)})
			return err
		},
		"FrameID result": func() error {
			_, err := h.SendToUser("alice", ssekify.Event{Data: "long-frame-id"})
			return err
		},
	}
	for name, send := range refused {
		err := send()
		require.ErrorIs(t, err, ssekify.ErrTooLong, name)
		require.Less(t, len(err.Error()), 1024, "%s: the error quotes a clipped input", name)
	}
	codes := log.codes()
	require.Len(t, codes, len(refused))
	for _, c := range codes {
		require.Equal(t, ssekify.CodeTooLong, c)
	}
	require.Zero(t, h.Stats().Sent)

	// Nothing was written: the next event of each stream is the fence.
	_, err := h.SendToAll(ssekify.Event{Name: "fence", Data: 1})
	require.NoError(t, err)
	for name, s := range map[string]*ssetest.Stream{"alice": alice, "bob": bob} {
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.Equal(t, "fence", ev.Type, "%s got something before the fence", name)
	}

	// At their bounds, they go through.
	_, err = h.SendToUser("alice", ssekify.Event{ID: at(ssekify.MaxEventIDBytes), Name: at(ssekify.MaxEventNameBytes), Data: 1})
	require.NoError(t, err)
	_, err = h.SendToRoom("room", ssekify.Event{Data: obj("requestId", at(ssekify.MaxScopeKeyBytes))})
	require.NoError(t, err)
	_, err = h.SendToUser(at(ssekify.MaxUserIDBytes), ssekify.Event{Data: 1})
	require.NoError(t, err)
	_, err = h.SendToRoom(at(ssekify.MaxRoomBytes), ssekify.Event{Data: 1})
	require.NoError(t, err)
	evs, err := alice.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, at(ssekify.MaxEventIDBytes), evs[0].LastEventID)
	require.Equal(t, at(ssekify.MaxEventNameBytes), evs[0].Type)
	require.Equal(t, []int64{0}, seqs(t, evs[1:]))
	_, err = h.SendToUser("bob", ssekify.Event{Name: "after", Data: 2})
	require.NoError(t, err)
	ev, err := bob.Next(wait)
	require.NoError(t, err)
	require.Equal(t, "after", ev.Type, "bob's stream keeps working")
	require.Len(t, log.codes(), len(refused))
}

// TestBoundsKeyExtractor: a scope key from Seq.KeyExtractor is bounded too.
func TestBoundsKeyExtractor(t *testing.T) {
	var log errorLog
	h := newHub(t, &ssekify.Options{OnError: log.hook, Seq: ssekify.SeqOptions{
		KeyExtractor: func(f ssekify.Fields) string { s, _ := f.String("k"); return s },
	}})
	s := connect(t, serve(t, h, nil), "alice", "", nil)
	_, err := h.SendToUser("alice", ssekify.Event{Data: map[string]string{"k": strings.Repeat("k", ssekify.MaxScopeKeyBytes+1)}})
	require.ErrorIs(t, err, ssekify.ErrTooLong)
	require.Equal(t, []string{ssekify.CodeTooLong}, log.codes())
	_, err = h.SendToUser("alice", ssekify.Event{Data: map[string]string{"k": "short"}})
	require.NoError(t, err)
	evs, err := s.Collect(1, wait)
	require.NoError(t, err)
	require.Equal(t, []int64{0}, seqs(t, evs))
}
