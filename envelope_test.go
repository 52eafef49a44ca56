package ssekify_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// Kinds of the version 2 envelope.
const (
	wireUser = 1
	wireRoom = 2
	wireAll  = 3
)

// wireEnvelope is the documented version 2 cross-instance format, as
// another implementation would write it.
type wireEnvelope struct {
	V, Flags      byte
	Origin        string
	Kind          byte
	Target, Event string
	ID            string
	Time          int64
	Data          string
}

func (e wireEnvelope) bytes() []byte {
	b := []byte{e.V, e.Flags}
	b = binary.AppendUvarint(b, uint64(len(e.Origin)))
	b = append(b, e.Origin...)
	b = append(b, e.Kind)
	b = binary.AppendUvarint(b, uint64(len(e.Target)))
	b = binary.AppendUvarint(b, uint64(len(e.Event)))
	b = binary.AppendUvarint(b, uint64(len(e.ID)))
	b = binary.AppendVarint(b, e.Time)
	b = append(b, e.Target...)
	b = append(b, e.Event...)
	b = append(b, e.ID...)
	return append(b, e.Data...)
}

// foreign is a valid envelope from an instance "zz" that no test hub is.
func foreign() wireEnvelope {
	return wireEnvelope{V: 2, Kind: wireUser, Target: "u", Event: "note", ID: "1700000000000-zz-1",
		Data: `{"a":1}`, Origin: "zz", Time: 1700000000000}
}

// invalidEnvelopes are messages a hub must report and drop; maxPayload is
// the MaxPayloadBytes of the receiving hub.
func invalidEnvelopes(maxPayload int) map[string][]byte {
	valid := foreign().bytes() // ts at bytes 9 to 14, then the strings
	with := func(f func(*wireEnvelope)) []byte {
		e := foreign()
		f(&e)
		return e.bytes()
	}
	return map[string][]byte{
		"empty":           {},
		"version only":    {2},
		"not an envelope": []byte("hello"),
		"version 1 (JSON)": []byte(`{"v":1,"kind":"user","target":"u","event":"note","id":"1700000000000-zz-1",` +
			`"data":"{\"a\":1}","origin":"zz","ts":1700000000000}`),
		"version 0":             with(func(e *wireEnvelope) { e.V = 0 }),
		"version 3":             with(func(e *wireEnvelope) { e.V = 3 }),
		"unknown flags":         with(func(e *wireEnvelope) { e.Flags = 2 }),
		"truncated in origin":   valid[:3],
		"truncated in lengths":  valid[:6],
		"truncated in ts":       valid[:11],
		"truncated in strings":  valid[:len(valid)-len(`{"a":1}`)-1],
		"truncated logged ts":   {2, 1, 2, 'z', 'z', wireAll, 0, 0, 0, 0x80},
		"length overflows":      slices.Concat([]byte{2, 0}, bytes.Repeat([]byte{0xff}, 10), []byte{1}),
		"length not shortest":   slices.Concat([]byte{2, 0, 0x82, 0x00}, valid[3:]),
		"ts not shortest":       slices.Concat(valid[:9], []byte{0x80, 0x00}),
		"origin beyond the end": {2, 0, 16, 'z', 'z'},
		"no origin":             with(func(e *wireEnvelope) { e.Origin = "" }),
		"kind 0":                with(func(e *wireEnvelope) { e.Kind = 0 }),
		"kind 4":                with(func(e *wireEnvelope) { e.Kind = 4 }),
		"user without id":       with(func(e *wireEnvelope) { e.Target = "" }),
		"room without name":     with(func(e *wireEnvelope) { e.Kind, e.Target = wireRoom, "" }),
		"all with a target":     with(func(e *wireEnvelope) { e.Kind = wireAll }),
		"id with LF":            with(func(e *wireEnvelope) { e.ID = "1\ndata: injected" }),
		"id with NUL":           with(func(e *wireEnvelope) { e.ID = "1\x00" }),
		"id not UTF-8":          with(func(e *wireEnvelope) { e.ID = "1\xff" }),
		"event with CR":         with(func(e *wireEnvelope) { e.Event = "note\revent: other" }),
		"event not UTF-8":       with(func(e *wireEnvelope) { e.Event = "\xc3" }),
		"data not UTF-8":        with(func(e *wireEnvelope) { e.Data = "{\"a\":\"\xed\xa0\x80\"}" }),
		"origin too long":       with(func(e *wireEnvelope) { e.Origin = long(ssekify.MaxInstanceIDBytes) }),
		"user id too long":      with(func(e *wireEnvelope) { e.Target = long(ssekify.MaxUserIDBytes) }),
		"room too long":         with(func(e *wireEnvelope) { e.Kind, e.Target = wireRoom, long(ssekify.MaxRoomBytes) }),
		"id too long":           with(func(e *wireEnvelope) { e.ID = long(ssekify.MaxEventIDBytes) }),
		"event name too long":   with(func(e *wireEnvelope) { e.Event = long(ssekify.MaxEventNameBytes) }),
		"payload too large":     with(func(e *wireEnvelope) { e.Data = strings.Repeat("x", maxPayload+1) }),
		"envelope oversized":    with(func(e *wireEnvelope) { e.Data = strings.Repeat("x", maxPayload+64<<10) }),
		"oversized garbage":     make([]byte, maxPayload+64<<10),
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

			bad := invalidEnvelopes(maxPayload)
			ctx := context.Background()
			for name, raw := range bad {
				require.NoError(t, rc.Publish(ctx, ssekify.DefaultChannel, raw).Err(), name)
			}
			require.NoError(t, rc.Publish(ctx, ssekify.DefaultChannel, foreign().bytes()).Err())

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

// TestInvalidEnvelopeReasons: each invalid envelope is refused for its own
// fault, not by an earlier check it happens to fail.
func TestInvalidEnvelopeReasons(t *testing.T) {
	const maxPayload = 16 << 10
	h := newHub(t, &ssekify.Options{MaxPayloadBytes: maxPayload})
	reasons := map[string]string{
		"empty": "empty", "version only": "truncated at byte 1", "not an envelope": "unknown version 104",
		"version 1 (JSON)": "version 1 (JSON)", "version 0": "unknown version 0", "version 3": "unknown version 3",
		"unknown flags": "unknown flags 0x02", "truncated in origin": "truncated: 2 bytes at byte 3",
		"truncated in lengths": "truncated at byte 6", "truncated in ts": "truncated at byte 9",
		"truncated in strings": "truncated: 23 bytes at byte 15", "truncated logged ts": "truncated at byte 9",
		"length overflows": "overflows", "length not shortest": "byte 2 is not in its shortest form",
		"ts not shortest": "byte 9 is not in its shortest form", "origin beyond the end": "truncated: 16 bytes",
		"no origin": "no origin", "kind 0": "unknown kind 0", "kind 4": "unknown kind 4",
		"user without id": "empty target", "room without name": "empty target",
		"all with a target": "target of an all envelope", "id with LF": "id \"1\\n", "id with NUL": "id \"1\\x00",
		"id not UTF-8": "id \"1\\xff", "event with CR": "event name \"note\\r", "event not UTF-8": "event name \"\\xc3",
		"data not UTF-8": "not valid UTF-8", "origin too long": "origin of 65 bytes, limit 64",
		"user id too long": "user id of 257 bytes, limit 256", "room too long": "room of 257 bytes, limit 256",
		"id too long": "id of 1025 bytes, limit 1024", "event name too long": "event name of 1025 bytes, limit 1024",
		"payload too large":  "payload of 16385 bytes, limit 16384",
		"envelope oversized": "limit " + strconv.Itoa(ssekify.MaxEnvelopeBytes(h)),
		"oversized garbage":  "limit " + strconv.Itoa(ssekify.MaxEnvelopeBytes(h)),
	}
	bad := invalidEnvelopes(maxPayload)
	require.Len(t, reasons, len(bad))
	for name, raw := range bad {
		_, err := ssekify.DecodeEnvelopeFrame(h, raw)
		require.ErrorIs(t, err, ssekify.ErrInvalidEnvelope, name)
		require.Contains(t, err.Error(), reasons[name], name)
	}
}

// TestOwnEnvelopeIsNotDecoded publishes, on a real redis-server, envelopes
// that carry the hub's own origin followed by garbage: the hub drops them
// unread, neither delivered nor counted as invalid, while an origin that
// only starts or ends like its own is decoded (and refused) as any other.
func TestOwnEnvelopeIsNotDecoded(t *testing.T) {
	rc := redisClient(t, redistest.Start(t).Addr)
	var log errorLog
	n := startNode(t, ssekify.NewRedisBroker(rc), &ssekify.Options{InstanceID: "self", OnError: log.hook})
	s := connect(t, n.srv, "u", "", nil)
	eventually(t, "subscribed", func() bool { return numSub(t, rc, ssekify.DefaultChannel) == 1 })

	own := func(flags byte, origin string, rest ...byte) []byte {
		return slices.Concat([]byte{2, flags, byte(len(origin))}, []byte(origin), rest)
	}
	valid := foreign()
	valid.Origin, valid.Event = "self", "own"
	ctx := context.Background()
	for _, raw := range [][]byte{
		own(0, "self"),                       // nothing after the origin
		own(0, "self", 0xff, 0xff, 0xff),     // garbage kind and lengths
		own(0xfe, "self", wireUser, 1, 0, 0), // unknown flags, truncated (a logged one, bit 0, is read: follow.go)
		valid.bytes(),                        // a valid own envelope: delivered locally already
		own(0, "selfie", 0xff),               // not this instance: decoded, refused
		own(0, "sel", 0xff),                  // idem
	} {
		require.NoError(t, rc.Publish(ctx, ssekify.DefaultChannel, raw).Err())
	}
	require.NoError(t, rc.Publish(ctx, ssekify.DefaultChannel, foreign().bytes()).Err())

	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, "note", ev.Type, "the first event on the stream is the foreign envelope")
	st := n.hub.Stats()
	require.Equal(t, int64(2), st.InvalidEnvelopes, "only the two other origins are decoded")
	require.Equal(t, int64(1), st.Received)
	require.Equal(t, []string{ssekify.CodeInvalidEnvelope, ssekify.CodeInvalidEnvelope}, log.codes())
}

// TestOwnEnvelopeAllocatesNothing: recognising its own envelope costs a hub
// no allocation, whatever the size of the envelope.
func TestOwnEnvelopeAllocatesNothing(t *testing.T) {
	h := newHub(t, &ssekify.Options{InstanceID: "self"})
	raw, err := ssekify.EncodeEnvelope(h, "user", "u", "note", "1", bytes.Repeat([]byte("x"), 64<<10))
	require.NoError(t, err)
	require.Zero(t, testing.AllocsPerRun(100, func() { ssekify.ReceiveEnvelope(h, raw) }))
	require.Zero(t, h.Stats().InvalidEnvelopes)
	require.Zero(t, h.Stats().Received)
}

// TestEnvelopeLayout pins the bytes of the documented example and checks
// that the hub writes every kind as the documented layout says, in one
// allocation of the exact size.
func TestEnvelopeLayout(t *testing.T) {
	h := newHub(t, &ssekify.Options{InstanceID: "a1b2c3d4"})
	ssekify.SetClock(h, func() time.Time { return time.UnixMilli(1700000000000) })
	const id, data = "1700000000000-a1b2c3d4-7", `{"text":"hi"}`
	raw, err := ssekify.EncodeEnvelope(h, "user", "alice", "notify", id, []byte(data))
	require.NoError(t, err)
	require.Equal(t, "020008"+hex.EncodeToString([]byte("a1b2c3d4"))+"01050618"+"80a0abfef962"+
		hex.EncodeToString([]byte("alice"+"notify"+id+data)), hex.EncodeToString(raw))
	require.Len(t, raw, 69)

	for _, e := range []wireEnvelope{
		{Kind: wireUser, Target: "alice", Event: "notify", ID: id, Data: data},
		{Kind: wireRoom, Target: "lobby", ID: id, Data: "a\nb"},
		{Kind: wireAll},
		{Kind: wireUser, Target: strings.Repeat("u", ssekify.MaxUserIDBytes), Event: strings.Repeat("e", 200),
			ID: strings.Repeat("i", ssekify.MaxEventIDBytes), Data: strings.Repeat("d", 100<<10)},
	} {
		e.V, e.Origin, e.Time = 2, "a1b2c3d4", 1700000000000
		kind := map[byte]string{wireUser: "user", wireRoom: "room", wireAll: "all"}[e.Kind]
		var raw []byte
		data := []byte(e.Data)
		allocs := testing.AllocsPerRun(10, func() {
			raw, err = ssekify.EncodeEnvelope(h, kind, e.Target, e.Event, e.ID, data)
		})
		require.NoError(t, err)
		require.Equal(t, e.bytes(), raw, kind)
		require.Equal(t, len(raw), cap(raw), "allocated at its exact size")
		require.Equal(t, 1.0, allocs)
	}
}

// TestEncodeEnvelopeTooLong: a field that receivers would refuse fails the
// encoding, so the publisher is told.
func TestEncodeEnvelopeTooLong(t *testing.T) {
	h := newHub(t, nil)
	for _, c := range []struct {
		name                    string
		h                       *ssekify.Hub
		kind, target, event, id string
	}{
		{"id", h, "all", "", "", long(ssekify.MaxEventIDBytes)},
		{"event", h, "all", "", long(ssekify.MaxEventNameBytes), ""},
		{"user", h, "user", long(ssekify.MaxUserIDBytes), "", ""},
		{"room", h, "room", long(ssekify.MaxRoomBytes), "", ""},
	} {
		_, err := ssekify.EncodeEnvelope(c.h, c.kind, c.target, c.event, c.id, nil)
		require.ErrorIs(t, err, ssekify.ErrTooLong, c.name)
	}
}

func long(limit int) string { return strings.Repeat("z", limit+1) }

// TestEnvelopeKinds decodes envelopes of each kind into the frame the
// sender would have built, and the message's data into that frame when
// framing does not rewrite it.
func TestEnvelopeKinds(t *testing.T) {
	h := newHub(t, nil)
	for _, e := range []wireEnvelope{
		{Kind: wireRoom, Target: "r", ID: "x", Data: "d"},
		{Kind: wireAll, Data: "d"}, // no id: none written
		{Kind: wireAll},
		{Kind: wireUser, Target: "u", ID: "x", Data: "a\r\nb\rc\nd", Event: "ü"},
		{Kind: wireUser, Target: "u", ID: "x", Data: "\x00\u2028", Time: -1},
	} {
		e.V, e.Origin = 2, "zz"
		got, err := ssekify.DecodeEnvelope(h, e.bytes())
		require.NoError(t, err)
		want, err := ssekify.EncodeFrame(e.ID, e.Event, []byte(e.Data))
		require.NoError(t, err)
		require.Equal(t, string(want), string(got.Frame))
		require.Equal(t, e.Data, string(got.Data))
		require.Equal(t, !strings.ContainsAny(e.Data, "\r\n"), got.DataInFrame, "%q", e.Data)
		require.Equal(t, []any{e.Target, e.Event, e.ID, "zz", e.Time, false},
			[]any{got.Target, got.Name, got.ID, got.Origin, got.Time, got.Logged})
	}
}

// TestEnvelopeLogged: an envelope of the logs (flags bit 0) has the same
// layout, its epoch and position travel beside it.
func TestEnvelopeLogged(t *testing.T) {
	h := newHub(t, nil)
	e := foreign()
	e.Flags = 1
	got, err := ssekify.DecodeEnvelope(h, e.bytes())
	require.NoError(t, err)
	require.True(t, got.Logged)
	require.Equal(t, "id: 1700000000000-zz-1\nevent: note\ndata: {\"a\":1}\n\n", string(got.Frame))
}

// FuzzEnvelope proves that no input panics the decoder, that every
// rejected input is an ErrInvalidEnvelope, that every accepted envelope is
// the documented layout of what was decoded, byte for byte (one encoding
// per envelope), and that it yields exactly one well-formed frame carrying
// the decoded id, event name and data, as a browser parses it.
func FuzzEnvelope(f *testing.F) {
	const maxPayload = 256 // small seeds keep the fuzzer fast
	h := newHub(f, &ssekify.Options{MaxPayloadBytes: maxPayload})
	for _, e := range []wireEnvelope{
		foreign(),
		{Kind: wireAll, Origin: "o"},
		{Kind: wireRoom, Target: "r", Event: "e", ID: "1", Data: "a\r\nb\rc\n", Origin: "o", Time: -1},
		{Kind: wireUser, Target: "u", ID: "\u2028", Data: "\x00\ufffd", Origin: "o", Flags: 1},
		{Kind: wireUser, Target: "u", Event: "\r", Data: "\r\r\n\n", Origin: "o"},
		{Kind: wireRoom, Target: long(ssekify.MaxRoomBytes - 2), Event: long(ssekify.MaxEventNameBytes - 2),
			ID: long(ssekify.MaxEventIDBytes - 2), Data: strings.Repeat("é", maxPayload/2), Origin: "o"},
	} {
		e.V = 2
		f.Add(e.bytes())
	}
	for _, raw := range invalidEnvelopes(maxPayload) {
		f.Add(raw)
	}
	kinds := map[string]byte{"user": wireUser, "room": wireRoom, "all": wireAll}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := ssekify.DecodeEnvelope(h, raw)
		if err != nil {
			if !errors.Is(err, ssekify.ErrInvalidEnvelope) {
				t.Fatalf("rejected with %v, not ErrInvalidEnvelope", err)
			}
			return
		}
		if len(raw) > ssekify.MaxEnvelopeBytes(h) || len(got.Data) > maxPayload {
			t.Fatalf("accepted an oversized envelope: %d bytes, payload %d", len(raw), len(got.Data))
		}
		e := wireEnvelope{V: 2, Origin: got.Origin, Kind: kinds[got.Kind], Target: got.Target, Event: got.Name,
			ID: got.ID, Time: got.Time, Data: string(got.Data)}
		if got.Logged {
			e.Flags = 1
		}
		if re := e.bytes(); !bytes.Equal(re, raw) {
			t.Fatalf("accepted %x, decoded as %+v, which is %x", raw, got, re)
		}
		// A second event after the frame proves the frame left the parser
		// in its initial state: nothing pending, nothing swallowed.
		evs, p := ssetest.Parse(append(slices.Clip(got.Frame), "data: next\n\n"...))
		if len(evs) != 2 || evs[1].Data != "next" || p.Comments() != 0 {
			t.Fatalf("frame %q parsed as %d events %+v, %d comments", got.Frame, len(evs), evs, p.Comments())
		}
		if _, ok := p.Retry(); ok {
			t.Fatalf("frame %q set retry", got.Frame)
		}
		wantType := got.Name
		if wantType == "" {
			wantType = "message"
		}
		wantData := strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(string(got.Data))
		if ev := evs[0]; ev.Type != wantType || ev.Data != wantData || ev.LastEventID != got.ID {
			t.Fatalf("frame %q parsed as %+v; want type %q, data %q, id %q", got.Frame, ev, wantType, wantData, got.ID)
		}
	})
}
