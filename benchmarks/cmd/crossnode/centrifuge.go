package main

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"time"

	"github.com/centrifugal/centrifuge"

	"github.com/ssekify/ssekify/benchmarks/internal/loopback"
	"github.com/ssekify/ssekify/benchmarks/internal/wire"
)

// personalChannel is the centrifuge channel of user's stream. It holds
// neither of wire's payload markers.
func personalChannel(user string) string { return "user:" + user }

// centrifugePair is two centrifuge nodes, each with its own RedisShard and
// RedisBroker (no history: node.Publish without options goes to Redis
// PUB/SUB only). Node B serves the unidirectional SSE transport
// (NewSSEHandler) as benchmarks/servers/centrifuge does: the connect
// command comes in the cf_connect query parameter, the credentials from
// the request context, and OnConnecting subscribes the connection on the
// server side to its user's personal channel.
type centrifugePair struct {
	// history: publish with centrifuge.WithHistory(historySize, historyTTL),
	// which keeps a stream per channel in Redis (a Lua script, as the
	// ssekify logs), so that a client can recover what it missed.
	history        bool
	nodeA, nodeB   *centrifuge.Node
	shardA, shardB *centrifuge.RedisShard
	srv            *http.Server
	base           string
}

// historySize and historyTTL are the history of centrifuge-history: the
// bounds of ssekify's logs by default (RecentBufferSize, RecentTTL).
const (
	historySize = 4096
	historyTTL  = 30 * time.Minute
)

// newCentrifugePair starts the two nodes on the Redis server at addr and
// B's HTTP server; history makes its publishes keep the channel's history.
// On error, what was started is closed.
func newCentrifugePair(addr string, history bool) (_ *centrifugePair, err error) {
	p := &centrifugePair{history: history}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if p.nodeA, p.shardA, err = newCentrifugeNode("A", addr); err != nil {
		return nil, err
	}
	if p.nodeB, p.shardB, err = newCentrifugeNode("B", addr); err != nil {
		return nil, err
	}
	h := centrifuge.NewSSEHandler(p.nodeB, centrifuge.SSEConfig{
		PingPongConfig: centrifuge.PingPongConfig{PongTimeout: -1},
	})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		ctx := centrifuge.SetCredentials(r.Context(), &centrifuge.Credentials{UserID: r.URL.Query().Get("user")})
		h.ServeHTTP(w, r.WithContext(ctx))
	})
	if p.srv, p.base, err = loopback.Serve(mux); err != nil {
		return nil, err
	}
	return p, nil
}

// newCentrifugeNode creates a node named name with a RedisBroker on its
// own RedisShard of addr, registers the connect handlers and runs it. Its
// errors are logged with the node's name. The shard is returned even on
// error, to be closed.
func newCentrifugeNode(name, addr string) (*centrifuge.Node, *centrifuge.RedisShard, error) {
	node, err := centrifuge.New(centrifuge.Config{
		Name:     "crossnode-" + name,
		LogLevel: centrifuge.LogLevelError,
		LogHandler: func(e centrifuge.LogEntry) {
			log.Printf("centrifuge node %s: %s %v", name, e.Message, e.Fields)
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("centrifuge node %s: %w", name, err)
	}
	shard, err := centrifuge.NewRedisShard(node, centrifuge.RedisShardConfig{Address: addr})
	if err != nil {
		return nil, nil, fmt.Errorf("centrifuge node %s: redis shard: %w", name, err)
	}
	broker, err := centrifuge.NewRedisBroker(node, centrifuge.RedisBrokerConfig{Shards: []*centrifuge.RedisShard{shard}})
	if err != nil {
		return nil, shard, fmt.Errorf("centrifuge node %s: redis broker: %w", name, err)
	}
	node.SetBroker(broker)
	node.OnConnecting(func(ctx context.Context, _ centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		cred, _ := centrifuge.GetCredentials(ctx)
		user := ""
		if cred != nil {
			user = cred.UserID
		}
		return centrifuge.ConnectReply{
			Subscriptions: map[string]centrifuge.SubscribeOptions{personalChannel(user): {}},
		}, nil
	})
	node.OnConnect(func(*centrifuge.Client) {})
	if err := node.Run(); err != nil {
		return nil, shard, fmt.Errorf("centrifuge node %s: run: %w", name, err)
	}
	return node, shard, nil
}

// publish calls node A's Publish on user's personal channel; it returns
// when the broker accepted the publication. The context is not used:
// node.Publish takes none, and the shard's I/O timeout bounds it.
func (p *centrifugePair) publish(_ context.Context, user string, payload []byte) error {
	var opts []centrifuge.PublishOption
	if p.history {
		opts = append(opts, centrifuge.WithHistory(historySize, historyTTL))
	}
	_, err := p.nodeA.Publish(personalChannel(user), payload, opts...)
	return err
}

// streamURL is user's stream on node B, with the connect command in the
// query.
func (p *centrifugePair) streamURL(user string) string {
	return p.base + "/sse?user=" + url.QueryEscape(user) + "&" + wire.ConnectParam
}

// close shuts both nodes down (5 s each), then B's HTTP server and the
// Redis shards.
func (p *centrifugePair) close() {
	for _, n := range []*centrifuge.Node{p.nodeA, p.nodeB} {
		if n != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = n.Shutdown(ctx)
			cancel()
		}
	}
	if p.srv != nil {
		_ = p.srv.Close()
	}
	for _, s := range []*centrifuge.RedisShard{p.shardA, p.shardB} {
		if s != nil {
			s.Close()
		}
	}
}
