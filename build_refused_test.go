package ssekify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// refusalLimit is the MaxPayloadBytes of the refusal tests.
const refusalLimit = 200

// refusingHub returns a hub whose payloads are bounded by refusalLimit and
// whose FrameID returns an id with a newline for payloads that contain
// "bad-id", and one beyond MaxEventIDBytes for payloads that contain
// "long-id".
func refusingHub(t *testing.T, log *errorLog) *ssekify.Hub {
	var ids atomic.Int64
	return newHub(t, &ssekify.Options{
		OnError:         log.hook,
		MaxPayloadBytes: refusalLimit,
		AutoFields:      ssekify.AutoFields{Timestamp: ssekify.TimestampOff},
		FrameID: func(_ ssekify.Event, payload []byte) string {
			switch {
			case bytes.Contains(payload, []byte("bad-id")):
				return "bad\nid"
			case bytes.Contains(payload, []byte("long-id")):
				return strings.Repeat("i", ssekify.MaxEventIDBytes+1)
			}
			return fmt.Sprint(ids.Add(1))
		},
	})
}

// padded returns a payload of scope "r" exactly n bytes long.
func padded(t *testing.T, n int) json.RawMessage {
	p := `{"requestId":"r","pad":""}`
	require.Less(t, len(p), n)
	return json.RawMessage(`{"requestId":"r","pad":"` + strings.Repeat("x", n-len(p)) + `"}`)
}

// sendRefusals sends, between messages of scope "r" that go through, every
// kind of send that is refused after the scope key is known: too large
// before enrichment, too large with the seq member, an invalid FrameID
// result (a final message among them) and a FrameID result that is too
// long. The client must receive the seqs want.
func sendRefusals(t *testing.T, h *ssekify.Hub, log *errorLog, want []int64) {
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	send := func(data any) error {
		_, err := h.SendToUser("alice", ssekify.Event{Data: data})
		return err
	}
	ok := func(data any) { require.NoError(t, send(data)) }
	var errs []error
	refuse := func(data any) { errs = append(errs, send(data)) }

	ok(map[string]any{"requestId": "r"})
	refuse(padded(t, refusalLimit+1)) // too large as given
	// Fits as given, but not with its seq member.
	refuse(padded(t, refusalLimit-len(`,"seq":1`)+1))
	refuse(map[string]any{"requestId": "r", "x": "bad-id"})
	refuse(map[string]any{"requestId": "r", "x": "bad-id", "final": true}) // does not end the scope
	refuse(map[string]any{"requestId": "r", "x": "long-id"})
	errs = append(errs, h.PublishToUser(context.Background(), "alice", ssekify.Event{Data: map[string]any{"requestId": "r", "x": "bad-id"}}))
	ok(map[string]any{"requestId": "r"})
	ok(map[string]any{"requestId": "r", "final": true})
	ok(map[string]any{"requestId": "r"})
	ok(padded(t, refusalLimit-len(`,"seq":`)-20)) // room for any seq member

	evs, err := s.Collect(5, wait)
	require.NoError(t, err)
	require.Equal(t, want, seqs(t, evs))
	for i, want := range []error{ssekify.ErrPayloadTooLarge, ssekify.ErrPayloadTooLarge, ssekify.ErrInvalidEvent,
		ssekify.ErrInvalidEvent, ssekify.ErrTooLong, ssekify.ErrInvalidEvent} {
		require.ErrorIs(t, errs[i], want, "refusal %d", i)
	}
	require.Equal(t, []string{ssekify.CodePayloadTooLarge, ssekify.CodePayloadTooLarge, ssekify.CodeInvalidEvent,
		ssekify.CodeInvalidEvent, ssekify.CodeTooLong, ssekify.CodeInvalidEvent}, log.codes())
}

// TestSeqRefusedSendUsesNoNumber: a send refused for its size (before or
// after enrichment) or for the id FrameID gives it uses no seq number, and
// a refused final message does not end its scope: the client sees 0, 1, 2
// and then 0, 1 of the next scope, with the local counter and with a
// FloorCounter, which gets the number back by a compare-and-decrement.
func TestSeqRefusedSendUsesNoNumber(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		var log errorLog
		h := refusingHub(t, &log)
		sendRefusals(t, h, &log, []int64{0, 1, 2, 0, 1})
		require.EqualValues(t, 5, h.Stats().SeqIncrsLocal, "refused sends are not counted")
	})
	t.Run("counter", func(t *testing.T) {
		var log errorLog
		h := refusingHub(t, &log)
		c := newFakeCounter()
		ssekify.SetCounter(h, c)
		sendRefusals(t, h, &log, []int64{0, 1, 2, 0, 1})
		require.Equal(t, []string{"ssekify:seq:r"}, c.resets, "only the final message that was sent reset the key")
		require.EqualValues(t, 2, c.vals["ssekify:seq:r"])
		st := h.Stats()
		require.EqualValues(t, 5, st.SeqIncrsRedis)
		require.Zero(t, st.SeqIncrsLocal)
	})
	t.Run("plain counter", func(t *testing.T) {
		// A Counter without DecrIf can not take a number back: the
		// refusals after the number was taken (FrameID) leave gaps, never
		// a duplicate, and still do not end the scope.
		var log errorLog
		h := refusingHub(t, &log)
		c := newFakeCounter()
		ssekify.SetCounter(h, plainCounter{c})
		sendRefusals(t, h, &log, []int64{0, 5, 6, 0, 1})
		require.Equal(t, []string{"ssekify:seq:r"}, c.resets)
	})
}

// TestSizeCheckedBeforeEnrichment: a payload beyond MaxPayloadBytes is
// refused as it is, before enrichment: the auto-field callbacks do not
// run, no seq is taken, and the payload is neither scanned into a copy nor
// framed (the send allocates a small fraction of its size).
func TestSizeCheckedBeforeEnrichment(t *testing.T) {
	var getter, extractor atomic.Int64
	var log errorLog
	h := newHub(t, &ssekify.Options{
		OnError:         log.hook,
		MaxPayloadBytes: 1 << 16,
		AutoFields: ssekify.AutoFields{RequestID: ssekify.AutoField{Mode: ssekify.FieldIfMissing,
			Getter: func(context.Context) string { getter.Add(1); return "from-ctx" }}},
		Seq: ssekify.SeqOptions{KeyExtractor: func(f ssekify.Fields) string {
			extractor.Add(1)
			s, _ := f.String("requestId")
			return s
		}},
	})
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	huge := json.RawMessage(`{"x":"` + strings.Repeat("y", 16<<20) + `"}`)

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := h.SendToUser("alice", ssekify.Event{Data: huge})
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, ssekify.ErrPayloadTooLarge)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "the payload was copied before it was refused")
	require.Zero(t, getter.Load(), "the payload was enriched before it was refused")
	require.Zero(t, extractor.Load())
	require.Equal(t, []string{ssekify.CodePayloadTooLarge}, log.codes())

	_, err = h.SendToUser("alice", ssekify.Event{Data: map[string]any{"n": 1}})
	require.NoError(t, err)
	ev, err := s.Next(wait)
	require.NoError(t, err)
	var got struct {
		RequestID string
		Seq       int64
	}
	require.NoError(t, jsonUnmarshal(ev.Data, &got))
	require.Equal(t, "from-ctx", got.RequestID)
	require.Zero(t, got.Seq, "the refused payload took no number")
	require.EqualValues(t, 1, getter.Load())
}

// TestPayloadRoomForSeq: MaxPayloadBytes includes room for the seq member
// at its largest when the hub adds one, whatever the number; a payload
// that gets no seq may use the whole bound.
func TestPayloadRoomForSeq(t *testing.T) {
	var log errorLog
	h := refusingHub(t, &log)
	room := len(`,"seq":`) + 20
	_, err := h.SendToUser("alice", ssekify.Event{Data: padded(t, refusalLimit-room)})
	require.NoError(t, err)
	_, err = h.SendToUser("alice", ssekify.Event{Data: padded(t, refusalLimit-room+1)})
	require.ErrorIs(t, err, ssekify.ErrPayloadTooLarge)
	require.ErrorContains(t, err, "seq member")
	noScope := json.RawMessage(`{"pad":"` + strings.Repeat("x", refusalLimit-len(`{"pad":""}`)) + `"}`)
	require.Len(t, noScope, refusalLimit)
	_, err = h.SendToUser("alice", ssekify.Event{Data: noScope})
	require.NoError(t, err)
	_, err = h.SendToUser("alice", ssekify.Event{Data: append(noScope[:len(noScope):len(noScope)], ' ')})
	require.ErrorIs(t, err, ssekify.ErrPayloadTooLarge)
}
