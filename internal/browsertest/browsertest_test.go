package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// ssePage opens an EventSource on /sse and lists each event as
// "lastEventId:data" in #log. window.sseClosed becomes true once the
// browser has given up reconnecting.
const ssePage = `<!doctype html>
<html><head><meta charset="utf-8"><title>ssekify browsertest</title></head>
<body><ul id="log"></ul>
<script>
const log = document.getElementById('log');
const es = new EventSource('/sse');
es.onopen = () => console.log('open');
es.onmessage = (e) => {
  const li = document.createElement('li');
  li.textContent = e.lastEventId + ':' + e.data;
  log.appendChild(li);
};
es.onerror = () => {
  console.log('error', es.readyState);
  if (es.readyState === EventSource.CLOSED) window.sseClosed = true;
};
</script></body></html>
`

// sseServer serves ssePage and a hand-written SSE stream: the first
// connection gets events 1–3 and is closed; the reconnect, which must carry
// Last-Event-ID: 3, gets event 4 and is closed; any later connection gets
// 204 No Content, which tells the EventSource to stop reconnecting.
type sseServer struct {
	*httptest.Server

	mu           sync.Mutex
	lastEventIDs []string // Last-Event-ID of each /sse request, "" when absent
}

func newSSEServer(t *testing.T) *sseServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &sseServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, ssePage)
	})
	mux.HandleFunc("GET /sse", s.serveSSE)
	s.Server = httptest.NewUnstartedServer(mux)
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *sseServer) serveSSE(w http.ResponseWriter, r *http.Request) {
	last := r.Header.Get("Last-Event-ID")
	s.mu.Lock()
	s.lastEventIDs = append(s.lastEventIDs, last)
	s.mu.Unlock()

	var frames []string
	switch last {
	case "":
		frames = []string{
			"retry: 200\n",
			"id: 1\ndata: a\n\n",
			": a comment line is ignored\n\n",
			"id: 2\ndata: b\n\n",
			"id: 3\ndata: c1\ndata: c2\n\n",
		}
	case "3":
		frames = []string{"id: 4\ndata: d\n\n"}
	default:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	for _, f := range frames {
		if _, err := io.WriteString(w, f); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

func (s *sseServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.lastEventIDs)
}

func TestEventSourceReconnect(t *testing.T) {
	start := time.Now()

	t.Run("chromium", func(t *testing.T) {
		srv := newSSEServer(t)
		if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
			t.Fatalf("server URL %s is not on 127.0.0.1", srv.URL)
		}
		b := Launch(t)
		t.Logf("browser: %s", b.Version())

		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		p, err := b.NewPage(ctx, srv.URL+"/")
		if err != nil {
			t.Fatalf("NewPage: %v", err)
		}
		if err := p.WaitFor(ctx, "window.sseClosed === true", 20*time.Millisecond); err != nil {
			t.Fatalf("EventSource did not finish: %v\nconsole: %q\nserver saw Last-Event-ID: %q", err, p.Console(), srv.seen())
		}

		raw, err := p.Eval(ctx, `JSON.stringify([...document.querySelectorAll('#log li')].map(e=>e.textContent))`)
		if err != nil {
			t.Fatalf("Eval: %v", err)
		}
		var encoded string
		if err := json.Unmarshal(raw, &encoded); err != nil {
			t.Fatalf("Eval result %s is not a JSON string: %v", raw, err)
		}
		var got []string
		if err := json.Unmarshal([]byte(encoded), &got); err != nil {
			t.Fatalf("log %q is not a JSON array: %v", encoded, err)
		}
		if want := []string{"1:a", "2:b", "3:c1\nc2", "4:d"}; !reflect.DeepEqual(got, want) {
			t.Errorf("page log = %q, want %q", got, want)
		}

		seen := srv.seen()
		if len(seen) < 2 || seen[1] != "3" {
			t.Errorf("the reconnect did not carry Last-Event-ID: 3 (Last-Event-ID of each /sse request: %q)", seen)
		}
		if want := []string{"", "3", "4"}; !reflect.DeepEqual(seen, want) {
			t.Errorf("Last-Event-ID of /sse requests = %q, want %q", seen, want)
		}
		if c := p.Console(); !slices.Contains(c, "log: open") {
			t.Errorf("console = %q, want it to contain %q", c, "log: open")
		}

		t.Run("Eval", func(t *testing.T) {
			for _, tc := range []struct{ expr, want string }{
				{"1 + 1", "2"},
				{"undefined", "null"},
				{"({a: [1, 'x']})", `{"a":[1,"x"]}`},
				{"new Promise(r => setTimeout(() => r('later'), 10))", `"later"`},
			} {
				v, err := p.Eval(ctx, tc.expr)
				if err != nil || string(v) != tc.want {
					t.Errorf("Eval(%q) = %s, %v; want %s", tc.expr, v, err, tc.want)
				}
			}
			_, err := p.Eval(ctx, "(() => { throw new Error('boom') })()")
			var ee *EvalError
			if !errors.As(err, &ee) || !strings.Contains(ee.Exception, "boom") {
				t.Errorf("Eval of a throwing expression: err = %v, want an *EvalError mentioning boom", err)
			}
			if _, err := p.Eval(ctx, "NaN"); err == nil {
				t.Error("Eval(NaN) succeeded, want an error")
			}
		})

		t.Run("WaitForTimeout", func(t *testing.T) {
			short, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
			defer cancel()
			err := p.WaitFor(short, "false", 10*time.Millisecond)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("WaitFor(false) = %v, want context.DeadlineExceeded", err)
			}
		})

		t.Run("Screenshot", func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "page.png")
			if err := b.Screenshot(ctx, p, path); err != nil {
				t.Fatalf("Screenshot: %v", err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
				t.Errorf("screenshot does not start with the PNG signature: % x", data[:min(len(data), 8)])
			}
		})

		t.Run("Close", func(t *testing.T) {
			if err := p.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if _, err := p.Eval(ctx, "1"); err == nil {
				t.Error("Eval on a closed page succeeded")
			}
		})
	})

	// The browser, its reader and the server are gone: no goroutine of
	// ours may remain.
	goleak.VerifyNone(t)
	t.Logf("took %v", time.Since(start).Round(time.Millisecond))
}
