package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/examples/bridge/relay"
)

// lazy runs the relay only while browsers are connected: the first stream
// to open starts it, the last to close stops it, and the upstream sees no
// connection while nobody listens.
type lazy struct {
	hub   *ssekify.Hub
	relay *relay.Relay

	mu     sync.Mutex
	stop   context.CancelFunc // non-nil while the relay runs
	closed bool
	runs   sync.WaitGroup
	starts atomic.Int64 // upstream connections started
}

// newLazy returns a hub whose first stream starts a relay from upstream
// (with to as X-Upstream-To, if set) and whose last stream stops it.
func newLazy(upstream, to string, logger *slog.Logger) (*lazy, error) {
	l := &lazy{}
	hub, err := ssekify.New(&ssekify.Options{
		Logger: logger,
		// Hooks run on the stream's handler goroutine, after the hub
		// counted the stream in (OnConnect) or out (OnDisconnect).
		OnConnect:    func(ssekify.ConnInfo) { l.update() },
		OnDisconnect: func(ssekify.ConnInfo, error) { l.update() },
	})
	if err != nil {
		return nil, err
	}
	l.hub = hub
	l.relay = &relay.Relay{Hub: hub, URL: upstream, To: to, Logger: logger}
	return l, nil
}

// update starts the relay when streams are open and it is not running, and
// stops it when none is open. It reads the count under l.mu, so that
// whatever order the hooks of a leaving and an arriving stream run in, the
// last update sees the final count.
func (l *lazy) update() {
	l.mu.Lock()
	defer l.mu.Unlock()
	open := l.hub.Stats().Connections > 0
	switch {
	case open && l.stop == nil && !l.closed:
		ctx, stop := context.WithCancel(context.Background())
		l.stop = stop
		l.starts.Add(1)
		l.runs.Add(1)
		go func() {
			defer l.runs.Done()
			if err := l.relay.Run(ctx); err != nil {
				l.relay.Logger.Error("upstream refused the stream", slog.Any("err", err))
			}
		}()
	case !open && l.stop != nil:
		l.stop()
		l.stop = nil
	}
}

// close stops the relay for good and waits for it.
func (l *lazy) close() {
	l.mu.Lock()
	l.closed = true
	if l.stop != nil {
		l.stop()
		l.stop = nil
	}
	l.mu.Unlock()
	l.runs.Wait()
}
