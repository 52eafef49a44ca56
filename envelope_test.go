package ssekify_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// wireEnvelope is the documented cross-instance format, as another
// implementation would write it.
type wireEnvelope struct {
	V      int    `json:"v"`
	Kind   string `json:"kind"`
	Target string `json:"target,omitempty"`
	Event  string `json:"event,omitempty"`
	ID     string `json:"id"`
	Data   string `json:"data"`
	Origin string `json:"origin"`
	Time   int64  `json:"ts"`
}

func (e wireEnvelope) json(t testing.TB) []byte {
	t.Helper()
	b, err := json.Marshal(e)
	require.NoError(t, err)
	return b
}

// foreign is a valid envelope from an instance "zz" that no test hub is.
func foreign() wireEnvelope {
	return wireEnvelope{V: 1, Kind: "user", Target: "u", Event: "note", ID: "1700000000000-zz-1",
		Data: `{"a":1}`, Origin: "zz", Time: 1700000000000}
}

// invalidEnvelopes are messages a hub must report and drop; maxPayload is
// the MaxPayloadBytes of the receiving hub.
func invalidEnvelopes(t testing.TB, maxPayload int) map[string][]byte {
	t.Helper()
	valid := string(foreign().json(t))
	with := func(f func(*wireEnvelope)) []byte {
		e := foreign()
		f(&e)
		return e.json(t)
	}
	return map[string][]byte{
		"empty":              {},
		"not json":           []byte("hello"),
		"truncated":          []byte(valid[:len(valid)/2]),
		"trailing garbage":   []byte(valid + "}"),
		"null":               []byte("null"),
		"array":              []byte("[" + valid + "]"),
		"data not a string":  []byte(strings.Replace(valid, `"data":"{\"a\":1}"`, `"data":{"a":1}`, 1)),
		"no version":         []byte(strings.Replace(valid, `"v":1,`, ``, 1)),
		"unknown version":    with(func(e *wireEnvelope) { e.V = 2 }),
		"unknown kind":       with(func(e *wireEnvelope) { e.Kind = "group" }),
		"user without id":    with(func(e *wireEnvelope) { e.Target = "" }),
		"room without name":  with(func(e *wireEnvelope) { e.Kind, e.Target = "room", "" }),
		"no origin":          with(func(e *wireEnvelope) { e.Origin = "" }),
		"id with LF":         with(func(e *wireEnvelope) { e.ID = "1\ndata: injected" }),
		"id with NUL":        with(func(e *wireEnvelope) { e.ID = "1\x00" }),
		"event with CR":      with(func(e *wireEnvelope) { e.Event = "note\revent: other" }),
		"payload too large":  with(func(e *wireEnvelope) { e.Data = strings.Repeat("x", maxPayload+1) }),
		"envelope oversized": with(func(e *wireEnvelope) { e.Data = strings.Repeat("\x01", 6*maxPayload) }),
	}
}

// TestInvalidEnvelopesAreDropped publishes malformed, truncated,
// unknown-version, oversized and hostile envelopes on the channel of a hub
// with a stream open: each is reported and dropped, nothing reaches the
// stream, and the hub goes on delivering valid envelopes.
func TestInvalidEnvelopesAreDropped(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			const maxPayload = 16 << 10
			rc := redisClient(t, be.start(t))
			var log errorLog
			var mu sync.Mutex
			var published []ssekify.MessageInfo
			n := startNode(t, ssekify.NewRedisBroker(rc), &ssekify.Options{
				MaxPayloadBytes: maxPayload, OnError: log.hook,
				OnPublish: func(m ssekify.MessageInfo) { mu.Lock(); published = append(published, m); mu.Unlock() },
			})
			s := connect(t, n.srv, "u", "", nil)
			eventually(t, "subscribed", func() bool { return numSub(t, rc, ssekify.DefaultChannel) == 1 })

			bad := invalidEnvelopes(t, maxPayload)
			ctx := context.Background()
			for name, raw := range bad {
				require.NoError(t, rc.Publish(ctx, ssekify.DefaultChannel, raw).Err(), name)
			}
			require.NoError(t, rc.Publish(ctx, ssekify.DefaultChannel, foreign().json(t)).Err())

			ev, err := s.Next(wait)
			require.NoError(t, err)
			require.Equal(t, ssetest.Event{Type: "note", Data: `{"a":1}`, LastEventID: "1700000000000-zz-1"}, ev,
				"the first event on the stream is the valid envelope")
			st := n.hub.Stats()
			require.Equal(t, int64(len(bad)), st.InvalidEnvelopes)
			require.Equal(t, int64(1), st.Received)
			require.Len(t, log.codes(), len(bad))
			for _, e := range log.errs {
				require.Equal(t, ssekify.CodeInvalidEnvelope, e.Code)
				require.ErrorIs(t, e, ssekify.ErrInvalidEnvelope)
			}
			eventually(t, "OnPublish called", func() bool { mu.Lock(); defer mu.Unlock(); return len(published) > 0 })
			mu.Lock()
			defer mu.Unlock()
			require.Equal(t, []ssekify.MessageInfo{{Kind: "user", Target: "u", Name: "note", ID: "1700000000000-zz-1",
				Data: []byte(`{"a":1}`), Delivered: 1, Origin: "zz"}}, published)
		})
	}
}

func TestEnvelopeKinds(t *testing.T) {
	h := newHub(t, nil)
	for _, e := range []wireEnvelope{
		{V: 1, Kind: "room", Target: "r", ID: "x", Data: "d", Origin: "zz"},
		{V: 1, Kind: "all", Target: "ignored", Data: "d", Origin: "zz"}, // no id: none written
		{V: 1, Kind: "user", Target: "u", ID: "x", Data: "a\r\nb\rc\nd", Origin: "zz", Event: "ü"},
	} {
		frame, err := ssekify.DecodeEnvelopeFrame(h, e.json(t))
		require.NoError(t, err)
		want, err := ssekify.EncodeFrame(e.ID, e.Event, []byte(e.Data))
		require.NoError(t, err)
		require.Equal(t, string(want), string(frame))
	}
}

// FuzzEnvelope proves that no input panics the decoder, that every
// rejected input is an ErrInvalidEnvelope, and that every accepted
// envelope yields exactly one well-formed frame carrying the envelope's id,
// event name and data, as a browser parses it.
func FuzzEnvelope(f *testing.F) {
	const maxPayload = 256 // small seeds keep the fuzzer fast
	h := newHub(f, &ssekify.Options{MaxPayloadBytes: maxPayload})
	f.Add(foreign().json(f))
	f.Add([]byte(`{"v":1,"kind":"all","data":"","origin":"o","id":""}`))
	f.Add([]byte(`{"v":1,"kind":"room","target":"r","event":"e","id":"1","data":"a\r\nb\rc\n","origin":"o","ts":-1}`))
	f.Add([]byte(`{"V":1,"KIND":"user","target":"u","id":"\u2028","data":"\u0000\ud800","origin":"o","v":1}`))
	for _, raw := range invalidEnvelopes(f, maxPayload) {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		frame, err := ssekify.DecodeEnvelopeFrame(h, raw)
		if err != nil {
			if !errors.Is(err, ssekify.ErrInvalidEnvelope) {
				t.Fatalf("rejected with %v, not ErrInvalidEnvelope", err)
			}
			return
		}
		var e wireEnvelope
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("accepted %q, which is not an envelope: %v", raw, err)
		}
		if len(raw) > ssekify.MaxEnvelopeBytes(h) || len(e.Data) > maxPayload {
			t.Fatalf("accepted an oversized envelope: %d bytes, payload %d", len(raw), len(e.Data))
		}
		// A second event after the frame proves the frame left the parser
		// in its initial state: nothing pending, nothing swallowed.
		evs, p := ssetest.Parse(append(frame, "data: next\n\n"...))
		if len(evs) != 2 || evs[1].Data != "next" || p.Comments() != 0 {
			t.Fatalf("frame %q parsed as %d events %+v, %d comments", frame, len(evs), evs, p.Comments())
		}
		if _, ok := p.Retry(); ok {
			t.Fatalf("frame %q set retry", frame)
		}
		wantType := e.Event
		if wantType == "" {
			wantType = "message"
		}
		wantData := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(e.Data)
		if got := evs[0]; got.Type != wantType || got.Data != wantData || got.LastEventID != e.ID {
			t.Fatalf("frame %q parsed as %+v; want type %q, data %q, id %q", frame, got, wantType, wantData, e.ID)
		}
	})
}
