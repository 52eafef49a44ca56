package ssekify_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/ssekify/ssekify"
)

// benchPayload returns a JSON document of exactly n bytes shaped like an
// application's event: objects with quoted keys and strings, some of which
// hold quotes themselves.
func benchPayload(tb testing.TB, n int) []byte {
	tb.Helper()
	type item struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
		Done bool   `json:"done"`
	}
	doc := struct {
		RequestID string `json:"requestId"`
		Phase     string `json:"phase"`
		Items     []item `json:"items"`
		Pad       string `json:"pad"`
	}{RequestID: "req-5f1c2a", Phase: "progress", Items: []item{}}
	size := func() int {
		b, err := json.Marshal(doc)
		if err != nil {
			tb.Fatal(err)
		}
		return len(b)
	}
	for i := 1; i <= n; i++ { // bounded: each item adds bytes
		doc.Items = append(doc.Items, item{ID: i, Name: `step "` + strconv.Itoa(i) + `"`, Done: i%2 == 0})
		if size() > n {
			doc.Items = doc.Items[:len(doc.Items)-1]
			break
		}
	}
	doc.Pad = strings.Repeat("x", n-size())
	b, err := json.Marshal(doc)
	if err != nil || len(b) != n {
		tb.Fatalf("payload of %d bytes, want %d (%v)", len(b), n, err)
	}
	return b
}

// BenchmarkEnvelope measures the cross-instance format on its own, without
// a broker: encode (what Publish* adds to a local send), decode (an
// envelope into its framed message), receive of another instance's
// envelope (decode, frame and deliver to no stream) and receive of the
// hub's own envelope (recognised and dropped). envelope-B is the size of
// the envelope, payload included.
func BenchmarkEnvelope(b *testing.B) {
	for _, size := range []int{256, 16 << 10} {
		data := benchPayload(b, size)
		opts := func(id string) *ssekify.Options {
			return &ssekify.Options{InstanceID: id, RecentBufferSize: -1}
		}
		sender, receiver := newHub(b, opts("sender")), newHub(b, opts("receiver"))
		env, err := ssekify.EncodeEnvelope(sender, "user", "user-42", "progress", "1700000000000-sender-1", data)
		if err != nil {
			b.Fatal(err)
		}
		suffix := "/" + strconv.Itoa(size) + "B"
		run := func(name string, f func()) {
			b.Run(name+suffix, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(size))
				for b.Loop() {
					f()
				}
				b.ReportMetric(float64(len(env)), "envelope-B")
			})
		}
		run("encode", func() {
			if _, err := ssekify.EncodeEnvelope(sender, "user", "user-42", "progress", "1700000000000-sender-1", data); err != nil {
				b.Fatal(err)
			}
		})
		run("decode", func() {
			if _, err := ssekify.DecodeEnvelopeFrame(receiver, env); err != nil {
				b.Fatal(err)
			}
		})
		run("receive-foreign", func() { ssekify.ReceiveEnvelope(receiver, env) })
		run("receive-own", func() { ssekify.ReceiveEnvelope(sender, env) })
		if st, own := receiver.Stats(), sender.Stats(); st.InvalidEnvelopes != 0 || own.InvalidEnvelopes != 0 || own.Received != 0 {
			b.Fatalf("receiver %+v, sender %+v", st, own)
		}
	}
}
