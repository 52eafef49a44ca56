package main

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// redisBytes is the dialer of an instance's go-redis client: it counts
// the bytes read from and written to Redis on every connection it dials,
// and tells the subscription connections apart (those that sent a
// SUBSCRIBE-family command: SUBSCRIBE, SSUBSCRIBE, PSUBSCRIBE and their
// UNSUBSCRIBEs, which go-redis sends on a pub/sub connection only). It
// keeps every connection it dialed, closed ones too, so that the totals
// never go back; the pool and the subscriptions bound how many there are.
type redisBytes struct {
	dialer net.Dialer
	mu     sync.Mutex
	conns  []*countedConn
}

// countedConn is a connection to Redis with its byte counts.
type countedConn struct {
	net.Conn
	read, written atomic.Int64
	sub           atomic.Bool
}

// byteTotals sums the counts of the connections.
type byteTotals struct {
	read, written       int64
	subRead, subWritten int64
	conns, subConns     int
}

// newRedisBytes returns a dialer with a 5 s connect timeout.
func newRedisBytes() *redisBytes {
	return &redisBytes{dialer: net.Dialer{Timeout: 5 * time.Second, KeepAlive: 5 * time.Minute}}
}

// dial is a redis.Options.Dialer.
func (r *redisBytes) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := r.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cc := &countedConn{Conn: c}
	r.mu.Lock()
	r.conns = append(r.conns, cc)
	r.mu.Unlock()
	return cc, nil
}

// totals sums the counts of every connection dialed so far.
func (r *redisBytes) totals() byteTotals {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t byteTotals
	for _, c := range r.conns {
		rd, wr := c.read.Load(), c.written.Load()
		t.read += rd
		t.written += wr
		t.conns++
		if c.sub.Load() {
			t.subRead += rd
			t.subWritten += wr
			t.subConns++
		}
	}
	return t
}

// Read counts what it read.
func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// Write counts what it wrote, and marks the connection as a subscription
// when p holds a SUBSCRIBE-family command name.
func (c *countedConn) Write(p []byte) (int, error) {
	if !c.sub.Load() && isSubscribe(p) {
		c.sub.Store(true)
	}
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

// isSubscribe reports whether the RESP bytes p name a SUBSCRIBE-family
// command, in either case (go-redis writes them in lower case). No
// script of the hub holds the word.
func isSubscribe(p []byte) bool {
	return bytes.Contains(p, []byte("subscribe\r\n")) || bytes.Contains(p, []byte("SUBSCRIBE\r\n"))
}
