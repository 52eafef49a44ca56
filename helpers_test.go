package ssekify_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// wait bounds every wait of the tests.
const wait = 5 * time.Second

// newHub returns a hub whose streams are closed when the test ends.
func newHub(t testing.TB, opts *ssekify.Options) *ssekify.Hub {
	t.Helper()
	h, err := ssekify.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { h.CloseAll() })
	return h
}

// serve starts a loopback server whose GET /sse?user=U&rooms=a,b registers
// a stream with the given options (rooms from the query are added).
func serve(t testing.TB, h *ssekify.Hub, ro *ssekify.RegisterOptions) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(sseHandler(h, ro))
	srv.Start()
	t.Cleanup(func() {
		h.CloseAll()
		srv.Close()
	})
	return srv
}

// sseHandler registers streams as serve describes.
func sseHandler(h *ssekify.Hub, ro *ssekify.RegisterOptions) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := &ssekify.RegisterOptions{}
		if ro != nil {
			*opts = *ro
		}
		if rooms := r.URL.Query().Get("rooms"); rooms != "" {
			opts.Rooms = append(append([]string(nil), opts.Rooms...), strings.Split(rooms, ",")...)
		}
		_ = h.Register(w, r, r.URL.Query().Get("user"), opts)
	})
}

// connect opens a stream for user (rooms comma-separated) and returns once
// the hub has registered it. The stream is closed when the test ends.
func connect(t testing.TB, srv *httptest.Server, user, rooms string, hdr http.Header) *ssetest.Stream {
	t.Helper()
	q := url.Values{"user": {user}}
	if rooms != "" {
		q.Set("rooms", rooms)
	}
	s, err := ssetest.Connect(context.Background(), srv.Client(), srv.URL+"/sse?"+q.Encode(), hdr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// eventually polls cond until it holds or the bounded wait ends.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// errorLog collects what a hub reports through OnError.
type errorLog struct {
	mu   sync.Mutex
	errs []*ssekify.Error
}

func (l *errorLog) hook(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, _ := err.(*ssekify.Error)
	l.errs = append(l.errs, e)
}

func (l *errorLog) codes() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var codes []string
	for _, e := range l.errs {
		if e == nil {
			codes = append(codes, "<not *Error>")
			continue
		}
		codes = append(codes, e.Code)
	}
	return codes
}

func jsonMarshal(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
