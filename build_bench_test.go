package ssekify_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ssekify/ssekify"
)

// BenchmarkBuild measures preparing one event, without delivering it: a
// map that gets a timestamp and a seq, a json.RawMessage object that gets
// a timestamp, and a 256-byte json.RawMessage string left as it is.
func BenchmarkBuild(b *testing.B) {
	h := newHub(b, nil)
	text := strings.Repeat("token ", 40)
	for _, c := range []struct {
		name string
		ev   ssekify.Event
	}{
		{"map-timestamp-seq", ssekify.Event{Data: map[string]any{"requestId": "req-1", "phase": "progress", "delta": text}}},
		{"raw-object-timestamp", ssekify.Event{Data: json.RawMessage(`{"kind":"chat","delta":"` + text + `"}`)}},
		{"raw-string", ssekify.Event{Data: json.RawMessage(`"` + strings.Repeat("x", 254) + `"`)}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ssekify.Build(h, "alice", c.ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
