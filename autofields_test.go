package ssekify_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// TestAutoFieldsOnlyObjects, over HTTP: an array, a string, a RawMessage
// array and a struct without a timestamp field are sent; only the object
// gets one, the others arrive byte for byte as serialized.
func TestAutoFieldsOnlyObjects(t *testing.T) {
	h := newHub(t, nil)
	clock := newTestClock().hub(h)
	clock.Set(time.Date(2025, 3, 1, 12, 34, 56, 789_000_000, time.UTC))
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	type note struct {
		Text string `json:"text"`
	}
	for _, data := range []any{
		[]int{1, 2},
		"just text",
		json.RawMessage(`[{"a":1}]`),
		note{Text: "hi"},
		json.RawMessage(` {"x":1} `),
		[]byte(`{not json`),
		map[string]any{},
		json.RawMessage(`{"timestamp":"mine"}`),
	} {
		_, err := h.SendToUser("alice", ssekify.Event{Data: data})
		require.NoError(t, err)
	}
	evs, err := s.Collect(8, wait)
	require.NoError(t, err)
	require.Equal(t, []string{
		`[1,2]`,
		`"just text"`,
		`[{"a":1}]`,
		`{"text":"hi","timestamp":"2025-03-01T12:34:56.789Z"}`,
		` {"x":1,"timestamp":"2025-03-01T12:34:56.789Z"} `,
		`{not json`,
		`{"timestamp":"2025-03-01T12:34:56.789Z"}`,
		`{"timestamp":"mine"}`,
	}, datas(evs))
}

// TestAutoFieldsTimestampModes: epoch milliseconds, off, a custom name, and
// the ISO form in UTC whatever the clock's zone.
func TestAutoFieldsTimestampModes(t *testing.T) {
	at := time.Date(2025, 3, 1, 23, 30, 0, 5_000_000, time.FixedZone("X", -3*3600))
	cases := []struct {
		af   ssekify.AutoFields
		want string
	}{
		{ssekify.AutoFields{}, `{"a":1,"timestamp":"2025-03-02T02:30:00.005Z"}`},
		{ssekify.AutoFields{Timestamp: ssekify.TimestampEpochMs}, `{"a":1,"timestamp":` + strconv.FormatInt(at.UnixMilli(), 10) + `}`},
		{ssekify.AutoFields{Timestamp: ssekify.TimestampOff}, `{"a":1}`},
		{ssekify.AutoFields{TimestampField: `t"s`}, `{"a":1,"t\"s":"2025-03-02T02:30:00.005Z"}`},
	}
	for _, c := range cases {
		h := newHub(t, &ssekify.Options{AutoFields: c.af})
		newTestClock().hub(h).Set(at)
		got, err := ssekify.Enrich(h, context.Background(), []byte(`{"a":1}`))
		require.NoError(t, err)
		require.Equal(t, c.want, string(got))
		require.True(t, json.Valid(got))
	}
}

type ctxKey struct{}

// TestAutoFieldsRequestAndTrace: if-missing takes the getter's value (an
// empty one adds nothing, an existing member is kept); required fails the
// send when the member is missing.
func TestAutoFieldsRequestAndTrace(t *testing.T) {
	fromCtx := func(ctx context.Context) string { s, _ := ctx.Value(ctxKey{}).(string); return s }
	h := newHub(t, &ssekify.Options{
		AutoFields: ssekify.AutoFields{
			Timestamp: ssekify.TimestampOff,
			RequestID: ssekify.AutoField{Mode: ssekify.FieldIfMissing, Getter: fromCtx},
			TraceID:   ssekify.AutoField{Mode: ssekify.FieldIfMissing, Name: "trace", Getter: func(context.Context) string { return "t\x01\xff" }},
		},
		Seq: ssekify.SeqOptions{Disabled: true},
	})
	ctx := context.WithValue(context.Background(), ctxKey{}, "req-9")
	for in, want := range map[string]string{
		`{}`:                         `{"requestId":"req-9","trace":"t\u0001\ufffd"}`,
		`{"requestId":"own"}`:        `{"requestId":"own","trace":"t\u0001\ufffd"}`,
		`{"trace":1,"requestId":2} `: `{"trace":1,"requestId":2} `,
		`[1]`:                        `[1]`,
	} {
		got, err := ssekify.Enrich(h, ctx, []byte(in))
		require.NoError(t, err)
		require.Equal(t, want, string(got), in)
		require.True(t, json.Valid(got))
	}
	got, err := ssekify.Enrich(h, context.Background(), []byte(`{"a":1}`))
	require.NoError(t, err)
	require.Equal(t, `{"a":1,"trace":"t\u0001\ufffd"}`, string(got), "an empty getter value adds nothing")
}

// TestAutoFieldsRequired, over HTTP: a payload without the required request
// id fails the send with ErrMissingField, nothing is written, OnError fires;
// a payload with it goes through.
func TestAutoFieldsRequired(t *testing.T) {
	var log errorLog
	h := newHub(t, &ssekify.Options{
		OnError:    log.hook,
		AutoFields: ssekify.AutoFields{RequestID: ssekify.AutoField{Mode: ssekify.FieldRequired}},
	})
	srv := serve(t, h, nil)
	s := connect(t, srv, "alice", "", nil)
	n, err := h.SendToUser("alice", ssekify.Event{Data: map[string]any{"text": "no id"}})
	require.ErrorIs(t, err, ssekify.ErrMissingField)
	require.Zero(t, n)
	err = h.PublishToUser(context.Background(), "alice", ssekify.Event{Data: map[string]any{"text": "no id"}})
	require.ErrorIs(t, err, ssekify.ErrMissingField)
	require.Equal(t, []string{ssekify.CodeMissingField, ssekify.CodeMissingField}, log.codes())
	// Not an object: nothing to require.
	_, err = h.SendToUser("alice", ssekify.Event{Data: []int{1}})
	require.NoError(t, err)
	_, err = h.SendToUser("alice", ssekify.Event{Data: map[string]any{"requestId": "r1"}})
	require.NoError(t, err)
	evs, err := s.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, "[1]", evs[0].Data)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(evs[1].Data), &v))
	require.Equal(t, "r1", v["requestId"])
	last := evs[1].LastEventID
	require.NoError(t, s.Close())
	eventually(t, "alice offline", func() bool { return !h.IsOnline("alice") })
	s2 := connect(t, srv, "alice", "", map[string][]string{"Last-Event-ID": {evs[0].LastEventID}})
	_, err = h.SendToUser("alice", ssekify.Event{Data: []int{2}})
	require.NoError(t, err)
	got, err := s2.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, last, got[0].LastEventID, "the failed sends were not recorded for replay")
	require.Equal(t, "[2]", got[1].Data)
}

// TestAutoFieldsCustomSerializer: output that is not JSON is never touched.
func TestAutoFieldsCustomSerializer(t *testing.T) {
	h := newHub(t, &ssekify.Options{Serializer: func(v any) ([]byte, error) {
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
		return nil, errors.New("unsupported")
	}})
	for _, in := range []string{"{plain text}", "{\"a\":1}\n{\"b\":2}", "<p>{}</p>", "{\"a\":1", ""} {
		got, err := ssekify.Enrich(h, context.Background(), []byte(in))
		require.NoError(t, err)
		require.Equal(t, in, string(got))
	}
}

// BenchmarkEnrich measures enrich on payloads where nothing applies (an
// array), an object that gets a timestamp, and an object that gets a
// timestamp and a seq.
func BenchmarkEnrich(b *testing.B) {
	h := newHub(b, nil)
	h2 := newHub(b, &ssekify.Options{AutoFields: ssekify.AutoFields{Timestamp: ssekify.TimestampOff}})
	obj := []byte(`{"user":{"id":42,"name":"Ada","tags":["a","b"]},"text":"hello \"world\"","n":3.5}`)
	for _, c := range []struct {
		name string
		h    *ssekify.Hub
		data []byte
	}{
		{"array", h, []byte(`[1,2,3,{"requestId":"x"}]`)},
		{"object-no-change", h2, obj},
		{"object-timestamp", h, obj},
		{"object-timestamp-seq", h, []byte(`{"requestId":"req-1","phase":"progress","delta":"some tokens"}`)},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for range b.N {
				if _, err := ssekify.Enrich(c.h, ctx, c.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
