// Command centrifuge is the benchmark server of github.com/centrifugal/centrifuge
// with its built-in SSE transport (NewSSEHandler). The client sends its
// connect command in the cf_connect query parameter; OnConnecting
// subscribes every connection to one channel on the server side, and the
// connection's credentials come from the request context.
//
// App-level pings stay at the library's default interval; pong checks are
// off, since the SSE transport's pongs would need a second, bidirectional
// emulation endpoint that a plain SSE client does not use.
package main

import (
	"context"
	"net/http"

	"github.com/centrifugal/centrifuge"

	"github.com/ssekify/ssekify/benchmarks/internal/harness"
)

const channel = "bench"

func main() {
	harness.Main("centrifuge", func(cfg harness.Config) (harness.Library, error) {
		node, err := centrifuge.New(centrifuge.Config{
			LogLevel:           centrifuge.LogLevelNone,
			ClientQueueMaxSize: cfg.QueueBytes,
		})
		if err != nil {
			return nil, err
		}
		node.OnConnecting(func(context.Context, centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
			return centrifuge.ConnectReply{
				Subscriptions: map[string]centrifuge.SubscribeOptions{channel: {}},
			}, nil
		})
		node.OnConnect(func(*centrifuge.Client) {})
		if err := node.Run(); err != nil {
			return nil, err
		}
		h := centrifuge.NewSSEHandler(node, centrifuge.SSEConfig{
			PingPongConfig: centrifuge.PingPongConfig{PongTimeout: -1},
		})
		return &lib{node: node, h: h}, nil
	})
}

type lib struct {
	node *centrifuge.Node
	h    *centrifuge.SSEHandler
}

func (l *lib) ServeStream(w http.ResponseWriter, r *http.Request, user string) {
	ctx := centrifuge.SetCredentials(r.Context(), &centrifuge.Credentials{UserID: user})
	l.h.ServeHTTP(w, r.WithContext(ctx))
}

func (l *lib) Publish(payload []byte) (int, error) {
	_, err := l.node.Publish(channel, payload)
	return -1, err
}

func (l *lib) Dropped() int64 { return -1 }

func (l *lib) Close(ctx context.Context) error { return l.node.Shutdown(ctx) }
