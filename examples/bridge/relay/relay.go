// Package relay connects to an upstream SSE stream and forwards its events
// into an ssekify hub. The bridge examples share it: bridge/basic runs it
// from start to end, bridge/lazy while browsers are connected.
package relay

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	sse "github.com/tmaxmax/go-sse"

	"github.com/ssekify/ssekify"
)

// Relay forwards the events of the upstream stream at URL to Hub's streams:
// to the user named by the payload's "userId" when it has one, to everyone
// otherwise. The go-sse client reads the upstream; it reconnects with
// backoff, honouring the upstream's retry and sending Last-Event-ID, when
// the upstream drops.
type Relay struct {
	Hub *ssekify.Hub
	// URL is the upstream stream.
	URL string
	// To, when set, is sent as the X-Upstream-To header: the upstream then
	// names that user in each payload, and the relay delivers to that user
	// only.
	To string
	// Client makes the upstream requests. Default: a client without
	// timeout (a stream lasts).
	Client *http.Client
	// Logger receives reconnects. Default: discard.
	Logger *slog.Logger

	connected atomic.Bool
	forwarded atomic.Int64
}

// Stats is what a relay reports.
type Stats struct {
	Connected bool  `json:"connected"` // an upstream response is being read
	Forwarded int64 `json:"forwarded"` // events handed to the hub
}

// Stats returns the relay's state.
func (r *Relay) Stats() Stats {
	return Stats{Connected: r.connected.Load(), Forwarded: r.forwarded.Load()}
}

// Run reads the upstream until ctx ends, then returns nil; it returns an
// error only when the upstream refuses the stream for good (a status other
// than 200, a Content-Type other than text/event-stream).
func (r *Relay) Run(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return err
	}
	if r.To != "" {
		req.Header.Set("X-Upstream-To", r.To)
	}
	logger := r.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client := &sse.Client{
		HTTPClient: r.Client,
		ResponseValidator: func(resp *http.Response) error {
			if err := sse.DefaultValidator(resp); err != nil {
				return err
			}
			r.connected.Store(true)
			return nil
		},
		OnRetry: func(err error, d time.Duration) {
			r.connected.Store(false)
			logger.Warn("upstream lost; reconnecting", slog.Any("err", err), slog.Duration("in", d))
		},
		Backoff: sse.Backoff{InitialInterval: 500 * time.Millisecond, MaxInterval: 10 * time.Second},
	}
	conn := client.NewConnection(req)
	conn.SubscribeToAll(r.forward)
	err = conn.Connect()
	r.connected.Store(false)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// forward hands one upstream event to the hub.
func (r *Relay) forward(ev sse.Event) {
	if ev.Data == "" {
		// A block without data, such as a lone "retry:" line: go-sse
		// reports it, an EventSource would not.
		return
	}
	name := ev.Type
	if name == "" {
		name = "message"
	}
	var data any = json.RawMessage(ev.Data)
	var target struct {
		UserID string `json:"userId"`
	}
	if !json.Valid([]byte(ev.Data)) {
		data = ev.Data // not JSON: forward the text as a JSON string
	} else {
		_ = json.Unmarshal([]byte(ev.Data), &target) // not an object: no target
	}
	out := ssekify.Event{Name: name, Data: data}
	var err error
	if target.UserID != "" {
		_, err = r.Hub.SendToUser(target.UserID, out)
	} else {
		_, err = r.Hub.SendToAll(out)
	}
	if err == nil { // a failed send is reported through Options.OnError
		r.forwarded.Add(1)
	}
}
