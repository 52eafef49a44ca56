// Command ssekify is the benchmark server of this repository's hub. It runs
// with the hub's defaults except the per-connection queue bounds, which the
// runner's tuned configuration sets to the same budget for every library
// that has one (its defaults configuration gives none: the hub's own).
// With -lean its streams are lean (Options.Lean): the hub takes each
// connection over after its headers, and the runner reports it as
// ssekify-lean.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"

	"github.com/ssekify/ssekify"

	"github.com/ssekify/ssekify/benchmarks/internal/harness"
)

func main() {
	noReplay := flag.Bool("no-replay", false, "turn the per-user replay buffers off (RecentBufferSize -1), to see what they cost")
	lean := flag.Bool("lean", false, "lean streams (Options.Lean): the hub takes the connections over after their headers")
	harness.Main("ssekify", func(cfg harness.Config) (harness.Library, error) {
		opts := &ssekify.Options{
			MaxQueueItems: cfg.QueueItems,
			MaxQueueBytes: cfg.QueueBytes,
		}
		if *noReplay {
			opts.RecentBufferSize = -1
		}
		opts.Lean = *lean
		hub, err := ssekify.New(opts)
		if err != nil {
			return nil, err
		}
		if *lean {
			return &leanLib{lib{hub: hub}}, nil
		}
		return &lib{hub: hub}, nil
	})
}

type lib struct {
	hub *ssekify.Hub
}

func (l *lib) ServeStream(w http.ResponseWriter, r *http.Request, user string) {
	_ = l.hub.Register(w, r, user, nil)
}

func (l *lib) Publish(payload []byte) (int, error) {
	return l.hub.SendToAll(ssekify.Event{Data: json.RawMessage(payload)})
}

func (l *lib) Dropped() int64 {
	st := l.hub.Stats()
	return st.DroppedOldest + st.DroppedNewest
}

func (l *lib) Close(ctx context.Context) error {
	return l.hub.Shutdown(ctx, ssekify.ShutdownOptions{})
}

// leanLib is the hub with lean streams: Register returns once a stream is
// open, so the streams are counted by the hub, not by running handlers.
type leanLib struct{ lib }

// Streams returns the hub's open streams (harness.StreamCounter).
func (l *leanLib) Streams() int64 { return l.hub.Stats().Connections }
