// Package browsertest drives a headless Chromium from Go tests so that the
// hub can be checked against a real browser EventSource.
//
// It speaks the Chrome DevTools Protocol (CDP) over --remote-debugging-pipe:
// the browser reads commands from file descriptor 3 and writes responses and
// events to file descriptor 4, each message being JSON terminated by a NUL
// byte. No WebSocket client and no module dependency are needed.
//
// A typical test:
//
//	b := browsertest.Launch(t)
//	p, err := b.NewPage(ctx, srv.URL)
//	...
//	err = p.WaitFor(ctx, `document.querySelectorAll("li").length === 3`, 20*time.Millisecond)
package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Bounds on the waits done outside of caller-supplied contexts.
const (
	launchTimeout       = 30 * time.Second // first answer from a fresh browser
	closeTimeout        = 5 * time.Second  // graceful Browser.close
	killTimeout         = 5 * time.Second  // exit after SIGKILL, reader shutdown
	defaultWriteTimeout = 10 * time.Second // command write when ctx has no deadline
	logTailBytes        = 8 << 10
)

// errClosed reports that the DevTools pipe is gone (the browser exited or
// the Browser was closed).
var errClosed = errors.New("browsertest: browser connection closed")

// errPageGone reports that a page's session was detached, its target was
// closed or its renderer crashed.
var errPageGone = errors.New("browsertest: page is gone")

// launchFlags are passed to every browser started by Launch, in addition to
// a fresh --user-data-dir.
var launchFlags = []string{
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-dev-shm-usage",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--disable-quic",
	"--disable-extensions",
	"--no-first-run",
	"--no-default-browser-check",
	"--no-proxy-server",
	"--mute-audio",
	"--password-store=basic",
	"--remote-debugging-pipe",
}

// Binary returns the path of the Chromium executable used by Launch.
//
// The BROWSERTEST_CHROMIUM environment variable, when set, names the
// executable to use. Otherwise /usr/bin/chromium is preferred, then chromium,
// chromium-browser, google-chrome-stable and google-chrome are looked up on
// PATH. When no browser is found the test is skipped, unless the CI
// environment variable is set, in which case it fails.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("BROWSERTEST_CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			t.Fatalf("browsertest: BROWSERTEST_CHROMIUM=%q: %v", p, err)
		}
		return path
	}
	if path, err := exec.LookPath("/usr/bin/chromium"); err == nil {
		return path
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome-stable", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	// In CI a missing browser is a failure; elsewhere the test is skipped.
	const msg = "browsertest: no chromium found (set BROWSERTEST_CHROMIUM or install chromium; ./scripts/test installs it)"
	if os.Getenv("CI") != "" {
		t.Fatalf("%s", msg)
		return ""
	}
	t.Skipf("%s; skipped because CI is not set", msg)
	return ""
}

// Browser is a running headless Chromium controlled over the DevTools pipe.
// Its methods are safe for concurrent use.
type Browser struct {
	t       testing.TB
	cmd     *exec.Cmd
	logPath string
	version string

	in  *os.File // our end of the command pipe (the browser's fd 3)
	out *os.File // our end of the message pipe (the browser's fd 4)

	writeMu sync.Mutex // serialises writes to in

	exited   chan struct{} // closed once cmd.Wait has returned
	readDone chan struct{} // closed when the reader goroutine has ended
	readErr  error         // why the reader ended; read only after readDone

	mu       sync.Mutex
	nextID   int64
	pending  map[int64]chan *message // command id → response
	sessions map[string]*Page        // CDP session id → page

	closeOnce sync.Once
}

// message is one CDP message: a response (ID set) or an event (Method set).
type message struct {
	ID        int64           `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *ProtocolError  `json:"error,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
}

// request is one CDP command.
type request struct {
	ID        int64  `json:"id"`
	Method    string `json:"method"`
	Params    any    `json:"params,omitempty"`
	SessionID string `json:"sessionId,omitempty"`
}

// ProtocolError is an error answer from the browser to a DevTools command.
type ProtocolError struct {
	Method  string `json:"-"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    string `json:"data,omitempty"`
}

// Error implements error.
func (e *ProtocolError) Error() string {
	s := fmt.Sprintf("browsertest: %s: %s (code %d)", e.Method, e.Message, e.Code)
	if e.Data != "" {
		s += ": " + e.Data
	}
	return s
}

// Option adjusts how Launch starts the browser.
type Option func(*launchConfig)

// launchConfig is what the options of Launch set.
type launchConfig struct {
	flags []string // added after launchFlags
}

// IgnoreCertificateErrors makes the browser accept any TLS certificate, so
// that a page can be loaded from a test server started with
// httptest.Server.StartTLS (whose certificate is self-signed) and, with the
// server's EnableHTTP2, over HTTP/2. It passes --ignore-certificate-errors:
// use it only with loopback test servers.
func IgnoreCertificateErrors() Option {
	return Flags("--ignore-certificate-errors")
}

// Flags passes extra command-line flags to the browser, after the ones
// Launch always passes.
func Flags(flags ...string) Option {
	return func(c *launchConfig) { c.flags = append(c.flags, flags...) }
}

// Launch starts a headless Chromium with a fresh profile in t.TempDir and
// returns once it answers on the DevTools pipe. The browser is closed by
// t.Cleanup: first with the Browser.close command, then by killing its
// process group; every step of that shutdown is bounded in time. Launch
// skips or fails the test as Binary does when no browser is installed, and
// fails it when the browser cannot be started. Options add to the default
// command line, e.g. IgnoreCertificateErrors for an HTTPS test server.
func Launch(t testing.TB, opts ...Option) *Browser {
	t.Helper()
	var cfg launchConfig
	for _, o := range opts {
		o(&cfg)
	}
	bin := Binary(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "chromium.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	cmdIn, in, err := os.Pipe() // commands: we write in, the browser reads fd 3
	if err != nil {
		logFile.Close()
		t.Fatalf("browsertest: %v", err)
	}
	out, cmdOut, err := os.Pipe() // messages: the browser writes fd 4, we read out
	if err != nil {
		logFile.Close()
		cmdIn.Close()
		in.Close()
		t.Fatalf("browsertest: %v", err)
	}

	args := append(append([]string(nil), launchFlags...), cfg.flags...)
	args = append(args, "--user-data-dir="+filepath.Join(dir, "profile"))
	cmd := exec.Command(bin, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.ExtraFiles = []*os.File{cmdIn, cmdOut} // fd 3, fd 4
	cmd.SysProcAttr = sysProcAttr()
	err = cmd.Start()
	// The child holds its own copies now; ours must go so that the reader
	// sees EOF when the browser exits.
	cmdIn.Close()
	cmdOut.Close()
	if err != nil {
		logFile.Close()
		in.Close()
		out.Close()
		t.Fatalf("browsertest: starting %s: %v", bin, err)
	}

	b := &Browser{
		t:        t,
		cmd:      cmd,
		logPath:  logPath,
		in:       in,
		out:      out,
		exited:   make(chan struct{}),
		readDone: make(chan struct{}),
		pending:  make(map[int64]chan *message),
		sessions: make(map[string]*Page),
	}
	go func() {
		_ = cmd.Wait() // the exit status of a killed browser is of no interest
		logFile.Close()
		close(b.exited)
	}()
	go b.readLoop()
	t.Cleanup(b.close)

	ctx, cancel := context.WithTimeout(context.Background(), launchTimeout)
	defer cancel()
	var v struct {
		Product string `json:"product"`
	}
	if err := b.call(ctx, nil, "Browser.getVersion", nil, &v); err != nil {
		t.Fatalf("browsertest: %s did not answer on the DevTools pipe: %v\n%s", bin, err, b.logTail())
	}
	b.version = v.Product
	return b
}

// Version returns the browser's product string, such as "Chrome/156.0.8078.108".
func (b *Browser) Version() string { return b.version }

// close shuts the browser down; it is registered with t.Cleanup by Launch.
func (b *Browser) close() {
	b.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		_ = b.call(ctx, nil, "Browser.close", nil, nil) // the pipe may close before the answer
		cancel()
		waitClosed(b.exited, closeTimeout)

		// Whether or not it left by itself, make sure nothing of the
		// browser (renderers, zygotes, utilities) outlives the test.
		killGroup(b.cmd.Process)
		if !waitClosed(b.exited, killTimeout) {
			b.t.Errorf("browsertest: chromium (pid %d) did not exit within %v of SIGKILL", b.cmd.Process.Pid, killTimeout)
		}
		b.in.Close()
		b.out.Close() // unblocks the reader should a straggler still hold fd 4
		if !waitClosed(b.readDone, killTimeout) {
			b.t.Errorf("browsertest: DevTools reader did not stop within %v", killTimeout)
		}
		if b.t.Failed() {
			b.t.Logf("browsertest: chromium output (tail):\n%s", b.logTail())
		}
	})
}

// waitClosed waits up to d for ch to be closed and reports whether it was.
func waitClosed(ch <-chan struct{}, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
		return true
	case <-timer.C:
		return false
	}
}

// logTail returns the end of the browser's stdout and stderr.
func (b *Browser) logTail() string {
	data, err := os.ReadFile(b.logPath)
	if err != nil {
		return fmt.Sprintf("(no browser output: %v)", err)
	}
	if len(data) > logTailBytes {
		data = append([]byte("…"), data[len(data)-logTailBytes:]...)
	}
	return string(data)
}

// readLoop reads NUL-terminated messages from the browser until the pipe
// closes, which happens when the browser exits or close runs.
func (b *Browser) readLoop() {
	defer close(b.readDone)
	r := bufio.NewReaderSize(b.out, 64<<10)
	for {
		frame, err := r.ReadBytes(0)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				err = io.EOF
			}
			b.readErr = err
			return
		}
		var m message
		if err := json.Unmarshal(frame[:len(frame)-1], &m); err != nil {
			continue // not CDP; nothing can be matched to it
		}
		b.dispatch(&m)
	}
}

// dispatch routes a response to its caller by id and an event to its page by
// session id. It runs on the reader goroutine and never blocks.
func (b *Browser) dispatch(m *message) {
	if m.ID != 0 {
		b.mu.Lock()
		ch := b.pending[m.ID]
		b.mu.Unlock()
		if ch != nil {
			ch <- m // buffered; one response per id
		}
		return
	}
	if m.Method == "" {
		return
	}
	if m.SessionID != "" {
		b.mu.Lock()
		p := b.sessions[m.SessionID]
		b.mu.Unlock()
		if p != nil {
			p.handleEvent(m.Method, m.Params)
		}
		return
	}
	// Browser-level events.
	switch m.Method {
	case "Target.detachedFromTarget":
		var ev struct {
			SessionID string `json:"sessionId"`
		}
		if json.Unmarshal(m.Params, &ev) == nil {
			b.mu.Lock()
			p := b.sessions[ev.SessionID]
			delete(b.sessions, ev.SessionID)
			b.mu.Unlock()
			if p != nil {
				p.markGone("session detached")
			}
		}
	}
}

// call sends a command and waits for its answer, decoding the result into
// result when it is not nil. A non-nil page sends the command on that page's
// session and gives up early if the page goes away.
func (b *Browser) call(ctx context.Context, p *Page, method string, params, result any) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("browsertest: %s: %w", method, err)
	}
	req := request{Method: method, Params: params}
	var gone <-chan struct{}
	if p != nil {
		req.SessionID = p.sessionID
		gone = p.gone
	}
	ch := make(chan *message, 1)
	b.mu.Lock()
	b.nextID++
	req.ID = b.nextID
	b.pending[req.ID] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.pending, req.ID)
		b.mu.Unlock()
	}()

	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("browsertest: %s: %w", method, err)
	}
	if err := b.write(ctx, data); err != nil {
		select {
		case <-b.readDone:
			return fmt.Errorf("browsertest: %s: %w", method, b.closedErr())
		default:
			return fmt.Errorf("browsertest: %s: writing command: %w", method, err)
		}
	}

	select {
	case m := <-ch:
		if m.Error != nil {
			e := *m.Error
			e.Method = method
			return &e
		}
		if result != nil && len(m.Result) > 0 {
			if err := json.Unmarshal(m.Result, result); err != nil {
				return fmt.Errorf("browsertest: %s: decoding result: %w", method, err)
			}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("browsertest: %s: %w", method, ctx.Err())
	case <-gone:
		return fmt.Errorf("browsertest: %s: %w", method, p.goneErr())
	case <-b.readDone:
		return fmt.Errorf("browsertest: %s: %w", method, b.closedErr())
	}
}

// write sends one NUL-terminated message. The write is bounded by ctx's
// deadline, or by defaultWriteTimeout when ctx has none.
func (b *Browser) write(ctx context.Context, data []byte) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultWriteTimeout)
	}
	b.writeMu.Lock()
	defer b.writeMu.Unlock()
	_ = b.in.SetWriteDeadline(deadline) // pipes from os.Pipe support deadlines
	_, err := b.in.Write(append(data, 0))
	return err
}

// closedErr describes why the pipe closed; call only after readDone.
func (b *Browser) closedErr() error {
	if b.readErr != nil && !errors.Is(b.readErr, io.EOF) {
		return fmt.Errorf("%w: %v", errClosed, b.readErr)
	}
	return errClosed
}
