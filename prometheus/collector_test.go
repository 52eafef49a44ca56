package ssekifyprom

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

const wait = 5 * time.Second

// TestEveryStatsField fails when a Stats field has no metric, or a metric
// reads the wrong field.
func TestEveryStatsField(t *testing.T) {
	var st ssekify.Stats
	v := reflect.ValueOf(&st).Elem()
	want := map[string]float64{}
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		require.NotEmpty(t, name, "field %s has no JSON name", f.Name)
		switch f.Type.Kind() {
		case reflect.Int64:
			n := int64(1000 * (i + 1))
			v.Field(i).SetInt(n)
			want[name] = float64(n)
		case reflect.Bool:
			v.Field(i).SetBool(true)
			want[name] = 1
		default:
			t.Fatalf("field %s: unexpected kind %s", f.Name, f.Type.Kind())
		}
	}
	want["lastSeqKvFallbackAt"] /= 1000 // milliseconds → seconds

	seen := map[string]bool{}
	names := map[string]bool{}
	for _, m := range metrics {
		require.False(t, seen[m.json], "%s exported twice", m.json)
		require.False(t, names[m.name], "metric name %s used twice", m.name)
		seen[m.json], names[m.name] = true, true
		w, ok := want[m.json]
		require.True(t, ok, "metric %s reads no Stats field (%s)", m.name, m.json)
		require.Equal(t, w, m.value(&st), "metric %s", m.name)
		require.Equal(t, m.typ == prometheus.CounterValue, strings.HasSuffix(m.name, "_total"),
			"%s: counters, and only counters, end in _total", m.name)
	}
	for name := range want {
		require.True(t, seen[name], "Stats field %s is not exported", name)
	}
}

// stream opens GET /sse?user=U&rooms=R on srv.
func stream(t *testing.T, srv *httptest.Server, user, rooms string) *ssetest.Stream {
	t.Helper()
	q := url.Values{"user": {user}, "rooms": {rooms}}
	s, err := ssetest.Connect(context.Background(), srv.Client(), srv.URL+"/sse?"+q.Encode(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// serve starts a loopback server registering streams on h.
func serve(t *testing.T, h *ssekify.Hub) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rooms []string
		if v := r.URL.Query().Get("rooms"); v != "" {
			rooms = strings.Split(v, ",")
		}
		_ = h.Register(w, r, r.URL.Query().Get("user"), &ssekify.RegisterOptions{Rooms: rooms})
	}))
	t.Cleanup(func() {
		_ = h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: -1})
		srv.Close()
	})
	return srv
}

// exposition returns the text format of the named metrics with the given
// values and labels, as a scrape shows them.
func exposition(t *testing.T, labels string, values map[string]float64) string {
	t.Helper()
	var b strings.Builder
	for _, m := range metrics {
		v, ok := values[m.name]
		if !ok {
			continue
		}
		typ := "gauge"
		if m.typ == prometheus.CounterValue {
			typ = "counter"
		}
		fmt.Fprintf(&b, "# HELP ssekify_%s %s\n# TYPE ssekify_%s %s\nssekify_%s%s %v\n", m.name, m.help, m.name, typ, m.name, labels, v)
	}
	return b.String()
}

func TestCollectorAfterTraffic(t *testing.T) {
	h, err := ssekify.New(&ssekify.Options{KeepAlive: -1})
	require.NoError(t, err)
	srv := serve(t, h)
	alice := stream(t, srv, "alice", "team")
	alice2 := stream(t, srv, "alice", "")
	bob := stream(t, srv, "bob", "team")

	// Known traffic: 2 to everyone (6 frames), 1 to alice (2), 1 to the
	// room (2): 10 frames; one rejected event.
	for range 2 {
		_, err := h.SendToAll(ssekify.Event{Name: "all"})
		require.NoError(t, err)
	}
	_, err = h.SendToUser("alice", ssekify.Event{Name: "user"})
	require.NoError(t, err)
	_, err = h.SendToRoom("team", ssekify.Event{Name: "room"})
	require.NoError(t, err)
	_, err = h.SendToAll(ssekify.Event{Name: "bad\nname"})
	require.ErrorIs(t, err, ssekify.ErrInvalidEvent)
	received := 0
	for s, n := range map[*ssetest.Stream]int{alice: 4, alice2: 3, bob: 3} {
		evs, err := s.Collect(n, wait)
		require.NoError(t, err)
		received += len(evs)
	}
	require.Equal(t, 10, received)
	h.StopAccepting()

	c := NewCollector(h)
	want := map[string]float64{
		"connections": 3, "users": 2, "rooms": 1, "sent_frames_total": float64(received),
		"errors_total": 1, "accepting": 0, "published_total": 0, "backpressure_disconnects_total": 0,
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, "ssekify_"+n)
	}
	// The sent counter moves once each write returns: the clients may see
	// a frame a moment before it is counted.
	deadline := time.Now().Add(wait)
	for {
		err = testutil.CollectAndCompare(c, strings.NewReader(exposition(t, "", want)), names...)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.NoError(t, err)

	require.Equal(t, len(metrics), testutil.CollectAndCount(c), "one sample per Stats field")
	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, problems, "metric names and help follow the Prometheus conventions")

	// Every sample equals the snapshot it was read from.
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	st := h.Stats()
	require.Len(t, families, len(metrics))
	for _, f := range families {
		var m metric
		for _, x := range metrics {
			if "ssekify_"+x.name == f.GetName() {
				m = x
			}
		}
		require.NotNil(t, m.value, "unknown family %s", f.GetName())
		require.Len(t, f.GetMetric(), 1)
		pm := f.GetMetric()[0]
		got := pm.GetGauge().GetValue()
		if m.typ == prometheus.CounterValue {
			got = pm.GetCounter().GetValue()
		}
		require.Equal(t, m.value(&st), got, f.GetName())
	}
}

// TestCollectorPerTenant registers the collectors of two hubs in one
// registry, told apart by a label.
func TestCollectorPerTenant(t *testing.T) {
	a, err := ssekify.New(nil)
	require.NoError(t, err)
	b, err := ssekify.New(nil)
	require.NoError(t, err)
	srvA, srvB := serve(t, a), serve(t, b)
	stream(t, srvA, "u1", "")
	stream(t, srvA, "u2", "")
	stream(t, srvB, "u1", "")

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(NewCollector(a, WithConstLabels(prometheus.Labels{"tenant": "a"}))))
	require.NoError(t, reg.Register(NewCollector(b, WithConstLabels(prometheus.Labels{"tenant": "b"}))))
	require.Error(t, reg.Register(NewCollector(b, WithConstLabels(prometheus.Labels{"tenant": "b"}))), "the same tenant twice")

	want := exposition(t, `{tenant="a"}`, map[string]float64{"connections": 2})
	want += `ssekify_connections{tenant="b"} 1` + "\n"
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want), "ssekify_connections"))

	other := NewCollector(a, WithNamespace("sse"))
	require.NoError(t, testutil.CollectAndCompare(other, strings.NewReader(
		"# HELP sse_users Users with at least one open stream on this instance.\n# TYPE sse_users gauge\nsse_users 2\n"), "sse_users"))
}

// BenchmarkCollect measures one scrape of the collector.
func BenchmarkCollect(b *testing.B) {
	h, err := ssekify.New(nil)
	if err != nil {
		b.Fatal(err)
	}
	c := NewCollector(h)
	ch := make(chan prometheus.Metric, len(metrics))
	b.ReportAllocs()
	for b.Loop() {
		c.Collect(ch)
		for range len(metrics) {
			<-ch
		}
	}
}
