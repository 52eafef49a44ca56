package ssekify_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// lcLog is a slog.Handler that keeps every record.
type lcLog struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (l *lcLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *lcLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *lcLog) WithGroup(string) slog.Handler            { return l }

func (l *lcLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, r.Clone())
	return nil
}

// attrs returns, for each record whose message contains msg, its attribute
// key's value.
func (l *lcLog) attrs(msg, key string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if !strings.Contains(r.Message, msg) {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				out = append(out, a.Value.String())
			}
			return true
		})
	}
	return out
}

// lcLockFree reports whether the hub's lock can be taken now. A hook that
// ran under it would wait here until the bound.
func lcLockFree(h *ssekify.Hub) bool {
	done := make(chan struct{})
	go func() {
		h.IsOnline("probe")
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(2 * time.Second):
		return false
	}
}

// lcBoom makes the test serializer panic.
type lcBoom struct{}

// lcHookEnv is what a hook case works with: a hub h with two streams that
// must keep receiving (good: user "good" in room "r"; other: user "other"),
// and a second hub on the same broker.
type lcHookEnv struct {
	h, remote   *ssekify.Hub
	srv         *lcServer
	good, other *ssetest.Stream
}

// lcHookCase makes one hook position panic.
type lcHookCase struct {
	name string
	// install sets a hook that calls fire, then panics.
	install func(o *ssekify.Options, ro *ssekify.RegisterOptions, fire func())
	// trigger makes the hook run at least once.
	trigger func(t *testing.T, env *lcHookEnv)
	// reported says how a fire shows up: "hook" (logged, counted and
	// reported as HOOK_PANIC), "onerror" (OnError itself panicked: logged and
	// counted) or "serializer" (the send fails with ErrSerialize).
	reported string
}

func lcHookCases() []lcHookCase {
	connectBad := func(t *testing.T, env *lcHookEnv) {
		bad := connect(t, env.srv.Server, "bad", "", nil)
		// The stream whose hook panicked works too.
		n, err := env.h.SendToUser("bad", ssekify.Event{Name: "hello"})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		lcAwait(t, bad, "hello")
	}
	return []lcHookCase{
		{
			name: "OnConnect", reported: "hook",
			install: func(o *ssekify.Options, _ *ssekify.RegisterOptions, fire func()) {
				o.OnConnect = func(ssekify.ConnInfo) { fire(); panic("OnConnect") }
			},
			trigger: connectBad,
		},
		{
			name: "OnOpen", reported: "hook",
			install: func(_ *ssekify.Options, ro *ssekify.RegisterOptions, fire func()) {
				ro.OnOpen = func(*ssekify.Conn) { fire(); panic("OnOpen") }
			},
			trigger: connectBad,
		},
		{
			name: "OnDisconnect", reported: "hook",
			install: func(o *ssekify.Options, _ *ssekify.RegisterOptions, fire func()) {
				o.OnDisconnect = func(ssekify.ConnInfo, error) { fire(); panic("OnDisconnect") }
			},
			trigger: func(t *testing.T, env *lcHookEnv) {
				bad := connect(t, env.srv.Server, "bad", "", nil)
				before := env.srv.returned.Load()
				require.Equal(t, 1, env.h.CloseUser("bad"))
				lcRequireEnd(t, bad)
				eventually(t, "bad's Register to return", func() bool { return env.srv.returned.Load() == before+1 })
				require.False(t, env.h.IsOnline("bad"))
			},
		},
		{
			name: "OnMessageSent", reported: "hook",
			install: func(o *ssekify.Options, _ *ssekify.RegisterOptions, fire func()) {
				o.OnMessageSent = func(ssekify.MessageInfo) { fire(); panic("OnMessageSent") }
			},
			trigger: func(t *testing.T, env *lcHookEnv) {
				n, err := env.h.SendToRoom("r", ssekify.Event{Name: "first"})
				require.NoError(t, err)
				require.Equal(t, 1, n, "the send still reports its delivery")
				lcAwait(t, env.good, "first")
			},
		},
		{
			name: "OnPublish", reported: "hook",
			install: func(o *ssekify.Options, _ *ssekify.RegisterOptions, fire func()) {
				o.OnPublish = func(ssekify.MessageInfo) { fire(); panic("OnPublish") }
			},
			trigger: func(t *testing.T, env *lcHookEnv) {
				require.NoError(t, env.remote.PublishToUser(context.Background(), "good", ssekify.Event{Name: "first"}))
				lcAwait(t, env.good, "first")
			},
		},
		{
			name: "OnError", reported: "onerror",
			install: func(o *ssekify.Options, _ *ssekify.RegisterOptions, fire func()) {
				o.OnError = func(error) { fire(); panic("OnError") }
			},
			trigger: func(t *testing.T, env *lcHookEnv) {
				_, err := env.h.SendToAll(ssekify.Event{Name: "bad\nname"})
				require.ErrorIs(t, err, ssekify.ErrInvalidEvent)
			},
		},
		{
			name: "Serializer", reported: "serializer",
			install: func(o *ssekify.Options, _ *ssekify.RegisterOptions, fire func()) {
				o.Serializer = func(v any) ([]byte, error) {
					if _, ok := v.(lcBoom); ok {
						fire()
						panic("Serializer")
					}
					return json.Marshal(v)
				}
			},
			trigger: func(t *testing.T, env *lcHookEnv) {
				_, err := env.h.SendToAll(ssekify.Event{Data: lcBoom{}})
				require.ErrorIs(t, err, ssekify.ErrSerialize)
			},
		},
	}
}

// lcAwait reads s until an event named name arrives, within the bounded wait.
func lcAwait(t *testing.T, s *ssetest.Stream, name string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		ev, err := s.Next(time.Until(deadline))
		require.NoError(t, err, "waiting for %q", name)
		if ev.Type == name {
			return
		}
	}
}

// TestHookPanics makes each hook position panic: the panic is recovered,
// logged and reported, the hook never runs under the hub lock, and the hub
// keeps streaming to everyone.
func TestHookPanics(t *testing.T) {
	for _, tc := range lcHookCases() {
		t.Run(tc.name, func(t *testing.T) {
			var fires, underLock atomic.Int64
			var hub atomic.Pointer[ssekify.Hub] // nil while New runs (it may report)
			fire := func() {
				fires.Add(1)
				if h := hub.Load(); h != nil && !lcLockFree(h) {
					underLock.Add(1)
				}
			}
			logs := &lcLog{}
			errs := &errorLog{}
			bus := newLCBus()
			o := &ssekify.Options{Redis: bus, Logger: slog.New(logs), OnError: errs.hook}
			ro := &ssekify.RegisterOptions{}
			tc.install(o, ro, fire)
			h, err := ssekify.New(o)
			require.NoError(t, err)
			hub.Store(h)
			remote, err := ssekify.New(&ssekify.Options{Redis: bus})
			require.NoError(t, err)
			eventually(t, "both subscriptions", func() bool { return bus.subscribers() == 2 })
			defer func() {
				require.NoError(t, remote.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: -1}))
				require.NoError(t, h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: -1}))
			}()
			env := &lcHookEnv{h: h, remote: remote, srv: lcServe(t, h, ro)}
			env.good = connect(t, env.srv.Server, "good", "r", nil)
			env.other = connect(t, env.srv.Server, "other", "", nil)
			before := fires.Load()

			tc.trigger(t, env)

			n := fires.Load() - before
			require.Positive(t, n, "the hook ran")
			// The hub carries on: local and remote events reach both streams.
			_, err = h.SendToAll(ssekify.Event{Name: "after-local"})
			require.NoError(t, err)
			require.NoError(t, remote.Publish(context.Background(), ssekify.Event{Name: "after-remote"}))
			for _, s := range []*ssetest.Stream{env.good, env.other} {
				lcAwait(t, s, "after-local")
				lcAwait(t, s, "after-remote")
			}
			require.True(t, h.Stats().Accepting)
			require.NotZero(t, h.Stats().Connections)
			require.Zero(t, underLock.Load(), "a hook ran under the hub lock")

			// A hook on another goroutine (OnPublish) may still be between
			// its fire and its panic: wait for the log to catch up.
			total := fires.Load()
			if tc.reported != "serializer" {
				eventually(t, "every panic logged and reported", func() bool {
					n := int(fires.Load())
					if tc.reported == "hook" && lcCount(errs.codes(), ssekify.CodeHookPanic) != n {
						return false
					}
					return len(logs.attrs("hook panicked", "hook")) == n
				})
				total = fires.Load()
			}
			switch tc.reported {
			case "hook":
				hooks := logs.attrs("hook panicked", "hook")
				require.Len(t, hooks, int(total), "every panic is logged")
				for _, name := range hooks {
					require.Equal(t, tc.name, name)
				}
				require.Len(t, logs.attrs("hook panicked", "stack"), int(total), "with its stack")
				require.Equal(t, int(total), lcCount(errs.codes(), ssekify.CodeHookPanic), "every panic is reported")
				require.EqualValues(t, len(errs.codes()), h.Stats().ErrorCount, "and counted once")
			case "onerror":
				require.Equal(t, []string{"OnError"}, lcUniq(logs.attrs("hook panicked", "hook")))
				require.Len(t, logs.attrs("hook panicked", "hook"), int(total), "every panic is logged")
				require.EqualValues(t, 2*total, h.Stats().ErrorCount, "the error and the panic are counted")
			case "serializer":
				require.Equal(t, int(total), lcCount(errs.codes(), ssekify.CodeSerialize), "returned and reported")
				require.Empty(t, logs.attrs("hook panicked", "hook"))
			}
		})
	}
}

func lcCount(codes []string, code string) int {
	n := 0
	for _, c := range codes {
		if c == code {
			n++
		}
	}
	return n
}

func lcUniq(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// TestHooksSeeWhatHappened checks what each hook is told, with no panic.
func TestHooksSeeWhatHappened(t *testing.T) {
	var mu sync.Mutex
	var events []string
	record := func(s string) {
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
	}
	h, err := ssekify.New(&ssekify.Options{
		OnConnect:     func(ci ssekify.ConnInfo) { record("connect " + ci.UserID) },
		OnDisconnect:  func(ci ssekify.ConnInfo, err error) { record("disconnect " + ci.UserID) },
		OnMessageSent: func(mi ssekify.MessageInfo) { record("sent " + mi.Kind + " " + mi.Target + " " + mi.Name) },
	})
	require.NoError(t, err)
	srv := lcServe(t, h, nil)
	s := connect(t, srv.Server, "alice", "", nil)
	eventually(t, "OnConnect", func() bool { mu.Lock(); defer mu.Unlock(); return len(events) == 1 })
	_, err = h.SendToUser("alice", ssekify.Event{Name: "n"})
	require.NoError(t, err)
	lcAwait(t, s, "n")
	require.NoError(t, h.Shutdown(context.Background(), ssekify.ShutdownOptions{Grace: -1, NoAnnounce: true}))
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"connect alice", "sent user alice n", "disconnect alice"}, events)
}
