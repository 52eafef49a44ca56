package ssekify_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

func TestEncodeFrame(t *testing.T) {
	cases := []struct {
		name, id, event, data, want string
	}{
		{"data only", "", "", `{"a":1}`, "data: {\"a\":1}\n\n"},
		{"all fields", "7", "notify", "x", "id: 7\nevent: notify\ndata: x\n\n"},
		{"LF lines", "", "", "a\nb", "data: a\ndata: b\n\n"},
		{"CRLF lines", "", "", "a\r\nb", "data: a\ndata: b\n\n"},
		{"CR lines", "", "", "a\rb", "data: a\ndata: b\n\n"},
		{"trailing LF", "", "", "a\n", "data: a\ndata: \n\n"},
		{"empty data", "", "", "", "data: \n\n"},
		{"leading space kept", "", "", " x", "data:  x\n\n"},
		{"colon in data", "", "", ": not a comment", "data: : not a comment\n\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ssekify.EncodeFrame(c.id, c.event, []byte(c.data))
			require.NoError(t, err)
			require.Equal(t, c.want, string(got))
			require.Len(t, got, cap(got), "frame must be allocated at its exact size")
		})
	}
}

func TestEncodeFrameRejects(t *testing.T) {
	for _, c := range []struct{ id, event, data string }{
		{"1\n", "", "x"},
		{"1\r", "", "x"},
		{"1\x00", "", "x"},
		{"", "a\nevent: b", "x"},
		{"", "a\rb", "x"},
		{"", "a\x00", "x"},
		{"", "\xff", "x"},
		{"", "", "\xff\xfe"},
	} {
		_, err := ssekify.EncodeFrame(c.id, c.event, []byte(c.data))
		require.ErrorIs(t, err, ssekify.ErrInvalidEvent, "%q", c)
	}
}

// FuzzFrame: for any name, id and data, the encoder either rejects the
// event or a conforming parser recovers exactly that one event.
func FuzzFrame(f *testing.F) {
	f.Add("1", "notify", `{"a":1}`)
	f.Add("", "", "a\r\nb\rc\nd")
	f.Add("x\ny", "e", "data")
	f.Add("", "ev\x00", "")
	f.Add("id", "", "\n\n\n")
	f.Add("", "", "\xef\xbb\xbfbom")
	f.Fuzz(func(t *testing.T, id, event, data string) {
		frame, err := ssekify.EncodeFrame(id, event, []byte(data))
		if err != nil {
			require.True(t, errors.Is(err, ssekify.ErrInvalidEvent))
			valid := utf8.ValidString(id) && utf8.ValidString(event) && utf8.ValidString(data) &&
				!strings.ContainsAny(id+event, "\r\n\x00")
			require.False(t, valid, "a valid event was rejected: %v", err)
			return
		}
		// Frames follow a "retry" line and other events on a real stream.
		stream := append([]byte("retry: 1000\n\n"), frame...)
		stream = append(stream, frame...)
		events, p := ssetest.Parse(stream)
		require.Len(t, events, 2, "stream %q", stream)
		want := ssetest.Event{Type: event, Data: normalize(data), LastEventID: id}
		if want.Type == "" {
			want.Type = "message"
		}
		require.Equal(t, want, events[0])
		require.Equal(t, want, events[1])
		require.Equal(t, id, p.LastEventID())
	})
}

// normalize turns CRLF and CR into LF, as the parser does.
func normalize(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}
