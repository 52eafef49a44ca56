package ssekify_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// within reports whether data is the slice of frame before its final
// blank line.
func within(data, frame []byte) bool {
	off := len(frame) - len("\n\n") - len(data)
	return len(data) > 0 && off >= 0 && &data[0] == &frame[off]
}

// TestBuildDataInFrame: a payload without CR or LF is held once: the
// message's data is a slice of its frame, whether enriched into the frame
// (default ids), enriched before a FrameID id, or copied as it was given;
// heldBytes counts it once. A payload with a line break keeps a copy of its
// own. Every frame is what the frame encoder makes of its name and data; the
// id line is apart.
func TestBuildDataInFrame(t *testing.T) {
	h := newHub(t, nil)
	custom := newHub(t, &ssekify.Options{FrameID: func(ssekify.Event, []byte) string { return "custom-id" }})
	caller := json.RawMessage(`"as given"`)
	for _, c := range []struct {
		name    string
		h       *ssekify.Hub
		ev      ssekify.Event
		inFrame bool
	}{
		{"map, enriched into the frame", h, ssekify.Event{Name: "n", Data: map[string]any{"requestId": "r", "text": "hi"}}, true},
		{"raw object, caller's id", h, ssekify.Event{ID: "given", Data: json.RawMessage(`{"a":1}`)}, true},
		{"FrameID, enriched first", custom, ssekify.Event{Data: map[string]any{"requestId": "r"}}, true},
		{"raw scalar, copied", h, ssekify.Event{Data: caller}, true},
		{"array", h, ssekify.Event{Data: []int{1, 2}}, true},
		{"object with a line break", h, ssekify.Event{Data: json.RawMessage("{\"a\":1}\n")}, false},
		{"scalar with CRLF", h, ssekify.Event{Data: json.RawMessage("\r\n7")}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := ssekify.Build(c.h, "alice", c.ev)
			require.NoError(t, err)
			require.Equal(t, c.inFrame, b.DataInFrame)
			require.Equal(t, c.inFrame, within(b.Data, b.Frame), "data is a slice of the frame")
			id, name := c.ev.ID, c.ev.Name
			if c.h == custom {
				id = "custom-id"
			}
			want, err := ssekify.EncodeFrame("", name, b.Data)
			require.NoError(t, err)
			require.Equal(t, string(want), string(b.Frame), "the frame holds no id line")
			idLine := ""
			if id != "" {
				idLine = "id: " + id + "\n"
			}
			require.Equal(t, idLine, string(b.IDLine), "a caller's id has its own line; a default one comes with the position")
			held := ssekify.MessageOverhead + len(b.Frame) + len(idLine) + len(id) + len(name) + len("alice")
			if !c.inFrame {
				held += len(b.Data)
			}
			require.Equal(t, held, b.HeldBytes)
		})
	}
	b, err := ssekify.Build(h, "alice", ssekify.Event{Data: caller})
	require.NoError(t, err)
	copy(caller, `"changed!"`)
	require.Equal(t, `"as given"`, string(b.Data), "the message does not hold the caller's buffer")
}

// badUTF8 is a json.Marshaler whose output is not valid UTF-8:
// encoding/json passes it through.
type badUTF8 struct{}

func (badUTF8) MarshalJSON() ([]byte, error) { return []byte("\"\xff\""), nil }

// TestBuildInvalidUTF8: data that is not valid UTF-8 is refused, whatever
// its source — a json.RawMessage object (found by the enrichment's scan),
// a scalar, and encoding/json's own output holding a json.Marshaler's
// bytes — and takes no seq number; the stream keeps working.
func TestBuildInvalidUTF8(t *testing.T) {
	var log errorLog
	h := newHub(t, &ssekify.Options{OnError: log.hook, AutoFields: ssekify.AutoFields{Timestamp: ssekify.TimestampOff}})
	s := connect(t, serve(t, h, nil), "alice", "", nil)
	for _, data := range []any{
		json.RawMessage("{\"requestId\":\"r\",\"text\":\"\xff\"}"),
		json.RawMessage("{\"requestId\":\"r\",\"\xc3\":1}"),
		[]byte("\"\xe2\x82\""),
		map[string]any{"requestId": "r", "v": badUTF8{}},
	} {
		_, err := h.SendToUser("alice", ssekify.Event{Data: data})
		require.ErrorIs(t, err, ssekify.ErrInvalidEvent, "%q", data)
	}
	require.Equal(t, []string{ssekify.CodeInvalidEvent, ssekify.CodeInvalidEvent, ssekify.CodeInvalidEvent, ssekify.CodeInvalidEvent}, log.codes())
	_, err := h.SendToUser("alice", ssekify.Event{Data: map[string]any{"requestId": "r", "text": "é ok"}})
	require.NoError(t, err)
	evs, err := s.Collect(1, wait)
	require.NoError(t, err)
	require.Equal(t, []int64{0}, seqs(t, evs))
	require.Contains(t, evs[0].Data, "é ok")
}

// TestBuildFrameIDPanics: a FrameID that panics fails the send with
// ErrInvalidEvent, and the seq number goes back.
func TestBuildFrameIDPanics(t *testing.T) {
	h := newHub(t, &ssekify.Options{FrameID: func(_ ssekify.Event, p []byte) string {
		var v struct{ Boom bool }
		if json.Unmarshal(p, &v) == nil && v.Boom {
			panic(errors.New("boom"))
		}
		return "ok"
	}})
	s := connect(t, serve(t, h, nil), "alice", "", nil)
	_, err := h.SendToUser("alice", ssekify.Event{Data: map[string]any{"requestId": "r", "boom": true}})
	require.ErrorIs(t, err, ssekify.ErrInvalidEvent)
	require.NoError(t, h.PublishToUser(context.Background(), "alice", ssekify.Event{Data: map[string]any{"requestId": "r"}}))
	evs, err := s.Collect(1, wait)
	require.NoError(t, err)
	require.Equal(t, []int64{0}, seqs(t, evs))
}
