package ssekify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/browsertest"
)

// h2Page opens one EventSource on the hub and counts what it sees: opens,
// errors (each error is a dropped stream the browser then reconnects) and
// messages.
const h2Page = `<!doctype html>
<html><head><meta charset="utf-8"><title>ssekify h2 idle</title></head>
<body><script>
window.sse = {opens: 0, errors: 0, messages: []};
const es = new EventSource('/sse?user=browser');
es.onopen = () => { window.sse.opens++; };
es.onerror = () => { window.sse.errors++; };
es.addEventListener('after-silence', (e) => { window.sse.messages.push(e.data); });
</script></body></html>
`

// pageSSE is window.sse.
type pageSSE struct {
	Opens    int      `json:"opens"`
	Errors   int      `json:"errors"`
	Messages []string `json:"messages"`
}

// TestBrowserH2IdleStream: headless Chromium over HTTPS and HTTP/2 (the
// self-signed certificate of httptest's StartTLS) keeps one EventSource on
// a hub with default options (WriteTimeout 10s, KeepAlive 15s) through 40s
// of silence, then receives an event on it. The page (one open, no error)
// and the server (one request, one OnConnect, no OnDisconnect) both show
// there was no reconnect, and both saw HTTP/2.
func TestBrowserH2IdleStream(t *testing.T) {
	t.Parallel()
	const silence = 40 * time.Second

	var (
		connects atomic.Int64
		mu       sync.Mutex
		requests []int // ProtoMajor of each /sse request
		ends     []string
		opened   time.Time
	)
	serverSide := func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("/sse requests (ProtoMajor of each) %v, OnConnect %d, OnDisconnect %q",
			requests, connects.Load(), ends)
	}
	hub := newHub(t, &ssekify.Options{
		OnConnect: func(ssekify.ConnInfo) { connects.Add(1) },
		OnDisconnect: func(_ ssekify.ConnInfo, err error) {
			mu.Lock()
			defer mu.Unlock()
			ends = append(ends, fmt.Sprintf("ended %v after the first open, err = %v",
				time.Since(opened).Round(10*time.Millisecond), err))
		},
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, h2Page)
	})
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if len(requests) == 0 {
			opened = time.Now()
		}
		requests = append(requests, r.ProtoMajor)
		mu.Unlock()
		_ = hub.Register(w, r, r.URL.Query().Get("user"), nil)
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // a browser's aborted handshakes
	srv.StartTLS()
	t.Cleanup(func() { // runs after the browser is gone
		hub.CloseAll()
		srv.Close()
	})
	require.True(t, strings.HasPrefix(srv.URL, "https://127.0.0.1:"), srv.URL)

	b := browsertest.Launch(t, browsertest.IgnoreCertificateErrors())
	ctx, cancel := context.WithTimeout(context.Background(), silence+time.Minute)
	defer cancel()
	p, err := b.NewPage(ctx, srv.URL+"/")
	require.NoError(t, err)
	proto, err := p.Protocol(ctx)
	require.NoError(t, err)
	require.Equal(t, "h2", proto, "the page's nextHopProtocol")

	state := func() pageSSE {
		t.Helper()
		raw, err := p.Eval(ctx, `window.sse`)
		require.NoError(t, err)
		var s pageSSE
		require.NoError(t, json.Unmarshal(raw, &s), "window.sse = %s", raw)
		return s
	}
	require.NoError(t, p.WaitFor(ctx, `window.sse.opens === 1`, 20*time.Millisecond),
		"console %q; server: %s", p.Console(), serverSide())
	require.True(t, hub.IsOnline("browser"))

	// The silence, checked every second so that a dropped stream fails at
	// once rather than after the whole wait.
	until := time.Now().Add(silence)
	for time.Now().Before(until) {
		time.Sleep(min(time.Second, time.Until(until)))
		s := state()
		require.True(t, s.Opens == 1 && s.Errors == 0 && len(s.Messages) == 0,
			"%v after the page opened its EventSource: page %+v; server: %s",
			silence-time.Until(until).Round(time.Second), s, serverSide())
	}

	n, err := hub.SendToUser("browser", ssekify.Event{Name: "after-silence", Data: "still here"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, p.WaitFor(ctx, `window.sse.messages.length === 1`, 20*time.Millisecond),
		"page %+v; server: %s", state(), serverSide())

	s := state()
	require.Equal(t, pageSSE{Opens: 1, Errors: 0, Messages: []string{`"still here"`}}, s,
		"the page after the event; server: %s", serverSide())
	mu.Lock()
	gotRequests, gotEnds := append([]int(nil), requests...), append([]string(nil), ends...)
	mu.Unlock()
	require.Equal(t, []int{2}, gotRequests, "the /sse requests: one, over HTTP/2")
	require.EqualValues(t, 1, connects.Load(), "OnConnect calls")
	require.Empty(t, gotEnds, "OnDisconnect calls")
	require.EqualValues(t, 1, hub.Stats().Connections)
}
