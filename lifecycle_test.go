package ssekify_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// lcManyWait bounds the waits of the tests that open a thousand streams.
const lcManyWait = 60 * time.Second

// lcServer is a loopback server whose GET /sse?user=U&rooms=a,b registers a
// stream and records what each Register call returned.
type lcServer struct {
	*httptest.Server
	mu       sync.Mutex
	results  []error
	returned atomic.Int64
}

// lcServe starts an lcServer for h. It is closed when the test ends.
func lcServe(t testing.TB, h *ssekify.Hub, ro *ssekify.RegisterOptions) *lcServer {
	t.Helper()
	return lcServeOn(t, h, ro, nil)
}

// lcServeOn is lcServe with the server's listener wrapped by wrap (if not nil).
func lcServeOn(t testing.TB, h *ssekify.Hub, ro *ssekify.RegisterOptions, wrap func(net.Listener) net.Listener) *lcServer {
	t.Helper()
	s := &lcServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opts := &ssekify.RegisterOptions{}
		if ro != nil {
			*opts = *ro
		}
		if rooms := r.URL.Query().Get("rooms"); rooms != "" {
			opts.Rooms = append(append([]string(nil), opts.Rooms...), strings.Split(rooms, ",")...)
		}
		err := h.Register(w, r, r.URL.Query().Get("user"), opts)
		s.mu.Lock()
		s.results = append(s.results, err)
		s.mu.Unlock()
		s.returned.Add(1)
	}))
	if wrap != nil {
		s.Listener = wrap(s.Listener)
	}
	s.Start()
	t.Cleanup(func() {
		h.CloseAll()
		s.Close()
	})
	return s
}

// errs returns what the Register calls returned so far.
func (s *lcServer) errs() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.results...)
}

// lcRegisterServer serves GET /sse?user=U and hands each Register result
// over on the returned channel.
func lcRegisterServer(t testing.TB, h *ssekify.Hub) (*httptest.Server, <-chan error) {
	t.Helper()
	results := make(chan error, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results <- h.Register(w, r, r.URL.Query().Get("user"), nil)
	}))
	t.Cleanup(func() {
		h.CloseAll()
		srv.Close()
	})
	return srv, results
}

// lcRaw is a lightweight stream client for the tests that open a thousand
// streams: one TCP connection and one goroutine, the body parsed by
// ssetest.Parser. It reads until the stream ends.
type lcRaw struct {
	conn net.Conn
	done chan struct{}
	// Valid once done is closed.
	events []ssetest.Event
	retry  int
	hasRet bool
	err    error // io.EOF when the server ended the stream cleanly
}

// lcDial opens GET path on the server at addr and reads it in the background.
func lcDial(addr, path string) (*lcRaw, error) {
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(lcManyWait))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, addr); err != nil {
		_ = conn.Close()
		return nil, err
	}
	c := &lcRaw{conn: conn, done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *lcRaw) read() {
	defer close(c.done)
	resp, err := http.ReadResponse(bufio.NewReaderSize(c.conn, 1024), nil)
	if err != nil {
		c.err = err
		return
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || mt != "text/event-stream" {
		c.err = fmt.Errorf("not a stream: %s", resp.Status)
		return
	}
	p := ssetest.NewParser()
	buf := make([]byte, 1024)
	for {
		n, err := resp.Body.Read(buf)
		c.events = p.Feed(c.events, buf[:n])
		if err != nil {
			c.err = err
			c.retry, c.hasRet = p.Retry()
			return
		}
	}
}

// close ends the connection and waits for the reader.
func (c *lcRaw) close() {
	_ = c.conn.Close()
	<-c.done
}

// lcOpenMany opens n streams on srv (users u0…u(n/10), rooms by tens) and
// waits until the hub has registered them all. They are closed when the
// test ends.
func lcOpenMany(t testing.TB, h *ssekify.Hub, srv *httptest.Server, n int) []*lcRaw {
	t.Helper()
	addr := srv.Listener.Addr().String()
	clients := make([]*lcRaw, 0, n)
	t.Cleanup(func() {
		for _, c := range clients {
			c.close()
		}
	})
	for i := range n {
		c, err := lcDial(addr, "/sse?user=u"+strconv.Itoa(i/10)+"&rooms=r"+strconv.Itoa(i%10))
		require.NoError(t, err, "stream %d (file descriptor limit?)", i)
		clients = append(clients, c)
	}
	deadline := time.Now().Add(lcManyWait)
	for h.Stats().Connections < int64(n) {
		require.True(t, time.Now().Before(deadline), "only %d of %d streams registered", h.Stats().Connections, n)
		time.Sleep(10 * time.Millisecond)
	}
	return clients
}

// lcAnnouncement is the data of the shutdown event.
type lcAnnouncement struct {
	Code    string `json:"code"`
	Time    string `json:"time"`
	GraceMs int64  `json:"graceMs"`
	RetryMs *int64 `json:"retryMs"`
}

func TestShutdownThousandStreams(t *testing.T) {
	const (
		n      = 1000
		grace  = time.Second
		retry  = 3 * time.Second
		spread = 4 * time.Second
	)
	ignore := goleak.IgnoreCurrent()
	h, err := ssekify.New(&ssekify.Options{Retry: 500 * time.Millisecond})
	require.NoError(t, err)
	srv := lcServe(t, h, nil)
	clients := lcOpenMany(t, h, srv.Server, n)

	opts := ssekify.ShutdownOptions{Grace: grace, Retry: retry, RetrySpread: spread}
	start := time.Now()
	results := make(chan error, 2)
	for range 2 { // two concurrent calls
		go func() { results <- h.Shutdown(context.Background(), opts) }()
	}
	for range 2 {
		select {
		case err := <-results:
			require.NoError(t, err)
		case <-time.After(grace + lcManyWait):
			t.Fatal("Shutdown did not return")
		}
	}
	took := time.Since(start)
	require.GreaterOrEqual(t, took, grace, "Shutdown waited the grace period")
	require.Less(t, took, grace+time.Second, "Shutdown returned within grace + 1s")

	// Every Register has returned (the handler counts after it).
	eventually(t, "every handler to return", func() bool { return srv.returned.Load() == n })
	for _, err := range srv.errs() {
		require.NoError(t, err)
	}
	st := h.Stats()
	require.Zero(t, st.Connections)
	require.Zero(t, st.Users)
	require.Zero(t, st.Rooms)
	require.False(t, st.Accepting)

	// A later call is harmless and returns the same result at once.
	again := time.Now()
	require.NoError(t, h.Shutdown(context.Background(), opts))
	require.Less(t, time.Since(again), time.Second)

	perSecond := map[int]int{}
	for i, c := range clients {
		select {
		case <-c.done:
		case <-time.After(lcManyWait):
			t.Fatalf("client %d: stream did not end", i)
		}
		require.ErrorIs(t, c.err, io.EOF, "client %d: the stream ended cleanly", i)
		require.NotEmpty(t, c.events, "client %d got nothing", i)
		last := c.events[len(c.events)-1]
		require.Equal(t, ssekify.DefaultShutdownEvent, last.Type, "client %d: the announcement came last", i)
		var a lcAnnouncement
		require.NoError(t, json.Unmarshal([]byte(last.Data), &a))
		require.Equal(t, ssekify.DefaultShutdownCode, a.Code)
		require.Equal(t, grace.Milliseconds(), a.GraceMs)
		_, err := time.Parse(time.RFC3339, a.Time)
		require.NoError(t, err, "time %q", a.Time)
		require.True(t, c.hasRet, "client %d: no retry line", i)
		require.GreaterOrEqual(t, c.retry, int(retry.Milliseconds()), "client %d: retry below the window", i)
		require.Less(t, c.retry, int((retry + spread).Milliseconds()), "client %d: retry beyond the window", i)
		require.NotNil(t, a.RetryMs)
		require.EqualValues(t, c.retry, *a.RetryMs, "the data tells the retry line's value")
		perSecond[c.retry/1000]++
	}
	// Spread out: no second of the window gets much more than its share.
	share := n / int(spread/time.Second)
	for sec, k := range perSecond {
		require.LessOrEqual(t, k, share+1, "%d clients told to come back in second %d", k, sec)
	}

	for _, c := range clients {
		c.close()
	}
	srv.Close()
	goleak.VerifyNone(t, ignore)
}

func TestShutdownGracePeriod(t *testing.T) {
	log := &errorLog{}
	h, err := ssekify.New(&ssekify.Options{OnError: log.hook})
	require.NoError(t, err)
	srv, results := lcRegisterServer(t, h)
	alice := connect(t, srv, "alice", "", nil)
	_, err = h.SendToUser("alice", ssekify.Event{ID: "before", Data: 1})
	require.NoError(t, err)
	ev, err := alice.Next(wait)
	require.NoError(t, err)
	require.Equal(t, "before", ev.LastEventID)

	const grace = time.Second
	shut := make(chan error, 1)
	start := time.Now()
	go func() { shut <- h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: grace}) }()

	ev, err = alice.Next(wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultShutdownEvent, ev.Type)
	require.Equal(t, "before", ev.LastEventID, "the announcement leaves Last-Event-ID alone")

	// During the grace period: sends and publishes still arrive...
	n, err := h.SendToUser("alice", ssekify.Event{Name: "late", Data: 2})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, h.Publish(context.Background(), ssekify.Event{Name: "late", Data: 3}))
	got, err := alice.Collect(2, wait)
	require.NoError(t, err)
	require.Equal(t, "2", got[0].Data)
	require.Equal(t, "3", got[1].Data)
	// ...and new streams are refused.
	lcRequire503(t, srv.URL+"/sse?user=bob")
	require.ErrorIs(t, <-results, ssekify.ErrNotAccepting)
	select {
	case <-shut:
		t.Fatalf("Shutdown returned after %v, before the grace period ended", time.Since(start))
	default:
	}

	select {
	case err := <-shut:
		require.NoError(t, err)
	case <-time.After(grace + wait):
		t.Fatal("Shutdown did not return")
	}
	_, err = alice.Next(wait)
	require.ErrorIs(t, err, io.EOF, "the stream ended")
	require.NoError(t, <-results, "alice's Register returned nil")

	// After it: everything returns ErrClosed and Register answers 503.
	_, err = h.SendToUser("alice", ssekify.Event{Data: 4})
	require.ErrorIs(t, err, ssekify.ErrClosed)
	_, err = h.SendToRoom("r", ssekify.Event{Data: 4})
	require.ErrorIs(t, err, ssekify.ErrClosed)
	_, err = h.SendToAll(ssekify.Event{Data: 4})
	require.ErrorIs(t, err, ssekify.ErrClosed)
	require.ErrorIs(t, h.PublishToUser(context.Background(), "alice", ssekify.Event{Data: 4}), ssekify.ErrClosed)
	require.ErrorIs(t, h.PublishToRoom(context.Background(), "r", ssekify.Event{Data: 4}), ssekify.ErrClosed)
	require.ErrorIs(t, h.Publish(context.Background(), ssekify.Event{Data: 4}), ssekify.ErrClosed)
	lcRequire503(t, srv.URL+"/sse?user=bob")
	require.ErrorIs(t, <-results, ssekify.ErrClosed)
	require.Contains(t, log.codes(), ssekify.CodeClosed)
}

// lcRequire503 requires url to answer 503 with a Retry-After header.
func lcRequire503(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After %q", resp.Header.Get("Retry-After"))
	require.Positive(t, secs)
}

func TestShutdownContextEndsBeforeGrace(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, context.DeadlineExceeded},
		{"already canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ssekify.New(nil)
			require.NoError(t, err)
			srv := lcServe(t, h, nil)
			streams := []*ssetest.Stream{
				connect(t, srv.Server, "a", "", nil),
				connect(t, srv.Server, "b", "", nil),
				connect(t, srv.Server, "c", "room", nil),
			}
			ctx, cancel := tc.ctx()
			defer cancel()
			start := time.Now()
			err = h.Shutdown(ctx, ssekify.ShutdownOptions{Grace: time.Minute})
			require.ErrorIs(t, err, tc.want)
			require.Less(t, time.Since(start), 2*time.Second, "the streams were closed at once, not after the grace period")
			require.Zero(t, h.Stats().Connections)
			for _, s := range streams {
				lcRequireEnd(t, s)
			}
			eventually(t, "every handler to return", func() bool { return srv.returned.Load() == 3 })
			// The result is kept: a later call returns it.
			require.NoError(t, h.Shutdown(context.Background(), ssekify.ShutdownOptions{}))
		})
	}
}

// lcRequireEnd reads s until the server ends it, within the bounded wait.
// The end is clean (io.EOF), or cut short (io.ErrUnexpectedEOF) when the
// close met a write in flight: closing a stream cuts its write short so
// that a stalled peer can not hold it.
func lcRequireEnd(t *testing.T, s *ssetest.Stream) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		_, err := s.Next(time.Until(deadline))
		if err != nil {
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				require.ErrorIs(t, err, io.EOF, "the server ended the stream")
			}
			return
		}
	}
}

func TestShutdownConcurrentCallerCutsGrace(t *testing.T) {
	h, err := ssekify.New(nil)
	require.NoError(t, err)
	srv := lcServe(t, h, nil)
	s := connect(t, srv.Server, "a", "", nil)

	first := make(chan error, 1)
	go func() { first <- h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: time.Minute}) }()
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, ssekify.DefaultShutdownEvent, ev.Type, "the first call has started")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = h.Shutdown(ctx, ssekify.ShutdownOptions{})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 2*time.Second)
	select {
	case err := <-first:
		require.NoError(t, err, "the first call's own ctx did not end")
	case <-time.After(wait):
		t.Fatal("the first Shutdown did not return")
	}
	lcRequireEnd(t, s)
}

func TestShutdownWithoutStreamsReturnsAtOnce(t *testing.T) {
	h, err := ssekify.New(nil)
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: time.Minute}))
	require.Less(t, time.Since(start), time.Second)
	_, err = h.SendToAll(ssekify.Event{Data: 1})
	require.ErrorIs(t, err, ssekify.ErrClosed)
}

func TestShutdownOptions(t *testing.T) {
	t.Run("custom announcement", func(t *testing.T) {
		h, err := ssekify.New(&ssekify.Options{Retry: 1500 * time.Millisecond})
		require.NoError(t, err)
		srv := lcServe(t, h, nil)
		s := connect(t, srv.Server, "a", "", nil)
		require.NoError(t, h.Shutdown(context.Background(), ssekify.ShutdownOptions{
			Grace: 50 * time.Millisecond, Event: "bye", Code: "DEPLOY", RetrySpread: -1,
		}))
		ev, err := s.Next(wait)
		require.NoError(t, err)
		require.Equal(t, "bye", ev.Type)
		var a lcAnnouncement
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &a))
		require.Equal(t, "DEPLOY", a.Code)
		require.NotNil(t, a.RetryMs)
		require.EqualValues(t, 1500, *a.RetryMs, "default Retry is the hub's, no spread")
		ms, ok := s.Retry()
		require.True(t, ok)
		require.Equal(t, 1500, ms)
		lcRequireEnd(t, s)
	})
	t.Run("no retry line", func(t *testing.T) {
		h, err := ssekify.New(&ssekify.Options{Retry: 1500 * time.Millisecond})
		require.NoError(t, err)
		srv := lcServe(t, h, nil)
		s := connect(t, srv.Server, "a", "", nil)
		require.NoError(t, h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: 50 * time.Millisecond, Retry: -1}))
		ev, err := s.Next(wait)
		require.NoError(t, err)
		var a lcAnnouncement
		require.NoError(t, json.Unmarshal([]byte(ev.Data), &a))
		require.Nil(t, a.RetryMs)
		ms, _ := s.Retry()
		require.Equal(t, 1500, ms, "only the stream's first retry line was received")
		lcRequireEnd(t, s)
	})
	t.Run("hub retry disabled", func(t *testing.T) {
		// A short KeepAlive: with no retry line, nothing else makes the
		// stream's first write.
		h, err := ssekify.New(&ssekify.Options{Retry: -1, KeepAlive: 50 * time.Millisecond})
		require.NoError(t, err)
		srv := lcServe(t, h, nil)
		s := connect(t, srv.Server, "a", "", nil)
		require.NoError(t, h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: 50 * time.Millisecond, RetrySpread: -1}))
		_, err = s.Next(wait)
		require.NoError(t, err)
		ms, ok := s.Retry()
		require.True(t, ok)
		require.EqualValues(t, ssekify.DefaultRetry.Milliseconds(), ms)
		lcRequireEnd(t, s)
	})
	t.Run("no announcement", func(t *testing.T) {
		h, err := ssekify.New(nil)
		require.NoError(t, err)
		srv := lcServe(t, h, nil)
		s := connect(t, srv.Server, "a", "", nil)
		require.NoError(t, h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: 50 * time.Millisecond, NoAnnounce: true}))
		_, err = s.Next(wait)
		require.ErrorIs(t, err, io.EOF, "the stream ended with no event")
	})
	t.Run("invalid event name", func(t *testing.T) {
		h := newHub(t, nil)
		err := h.Shutdown(context.Background(), ssekify.ShutdownOptions{Event: "a\nb"})
		require.ErrorIs(t, err, ssekify.ErrInvalidEvent)
		require.True(t, h.Stats().Accepting, "nothing started")
		_, err = h.SendToAll(ssekify.Event{Data: 1})
		require.NoError(t, err)
		require.NoError(t, h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: -1}))
	})
}

func TestStopAccepting(t *testing.T) {
	log := &errorLog{}
	h := newHub(t, &ssekify.Options{OnError: log.hook, Retry: 2500 * time.Millisecond})
	srv, results := lcRegisterServer(t, h)
	s := connect(t, srv, "alice", "", nil)
	require.True(t, h.Stats().Accepting)

	h.StopAccepting()
	require.False(t, h.Stats().Accepting)
	resp, err := http.Get(srv.URL + "/sse?user=bob")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "3", resp.Header.Get("Retry-After"), "the retry hint, rounded up to seconds")
	require.ErrorIs(t, <-results, ssekify.ErrNotAccepting)
	require.Equal(t, []string{ssekify.CodeNotAccepting}, log.codes())
	require.False(t, h.IsOnline("bob"))

	// The open stream goes on.
	n, err := h.SendToUser("alice", ssekify.Event{Data: "still here"})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	ev, err := s.Next(wait)
	require.NoError(t, err)
	require.Equal(t, `"still here"`, ev.Data)
	require.EqualValues(t, 1, h.Stats().Connections)
}

// lcBus is an in-memory Broker: every subscriber of a channel gets every
// message published on it, on its own goroutine, in order.
type lcBus struct {
	mu       sync.Mutex
	subs     map[chan []byte]string // subscriber → channel
	active   atomic.Int32           // running Subscribe calls
	closes   atomic.Int32
	closeErr error
}

func newLCBus() *lcBus { return &lcBus{subs: map[chan []byte]string{}} }

func (b *lcBus) Publish(ctx context.Context, channel string, payload []byte) error {
	b.mu.Lock()
	var targets []chan []byte
	for ch, name := range b.subs {
		if name == channel {
			targets = append(targets, ch)
		}
	}
	b.mu.Unlock()
	for _, ch := range targets {
		select {
		case ch <- append([]byte(nil), payload...):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (b *lcBus) Subscribe(ctx context.Context, channel string, handler func([]byte)) error {
	b.active.Add(1)
	defer b.active.Add(-1)
	ch := make(chan []byte, 64)
	b.mu.Lock()
	b.subs[ch] = channel
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-ch:
			handler(p)
		}
	}
}

func (b *lcBus) Close() error {
	b.closes.Add(1)
	return b.closeErr
}

// subscribers returns how many subscriptions are registered on channel.
func (b *lcBus) subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

func TestShutdownStopsTheBroker(t *testing.T) {
	t.Run("given broker: unsubscribed, not closed", func(t *testing.T) {
		bus := newLCBus()
		h, err := ssekify.New(&ssekify.Options{Redis: bus})
		require.NoError(t, err)
		eventually(t, "the subscription", func() bool { return bus.subscribers() == 1 })
		require.NoError(t, h.Shutdown(context.Background(), ssekify.ShutdownOptions{}))
		require.Zero(t, bus.active.Load(), "the subscription ended")
		require.Zero(t, bus.subscribers())
		require.Zero(t, bus.closes.Load(), "the hub does not close a broker it was given")
	})
	t.Run("owned broker: closed once", func(t *testing.T) {
		bus := newLCBus()
		bus.closeErr = errors.New("close failed")
		defer ssekify.SetURLBroker(func(string) (ssekify.Broker, error) { return bus, nil })()
		h, err := ssekify.New(&ssekify.Options{RedisURL: "redis://127.0.0.1:1/0"})
		require.NoError(t, err)
		eventually(t, "the subscription", func() bool { return bus.subscribers() == 1 })
		err = h.Shutdown(context.Background(), ssekify.ShutdownOptions{})
		require.ErrorIs(t, err, ssekify.ErrBroker)
		require.ErrorIs(t, err, bus.closeErr)
		require.Zero(t, bus.active.Load(), "the subscription ended")
		require.EqualValues(t, 1, bus.closes.Load())
		require.ErrorIs(t, h.Shutdown(context.Background(), ssekify.ShutdownOptions{}), bus.closeErr, "the same result")
		require.EqualValues(t, 1, bus.closes.Load(), "closed once")
	})
}
