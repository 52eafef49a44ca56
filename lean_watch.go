package ssekify

import (
	"crypto/tls"
	"net"
)

// A lean stream notices its client's leaving in one of two ways. On Linux,
// the hub's poller (lean_poll_linux.go) watches every lean socket for the
// peer's FIN or RST through one epoll instance and one goroutine for the
// whole hub, so an idle stream costs no goroutine. Elsewhere, or for a
// connection without a descriptor, a small goroutine blocked in a read,
// with a 16-byte buffer, notices it. A client sends nothing after its
// request; the reader discards what it sends anyway. Either way the stream
// is closed at once (errClientGone), a normal end.

// watchState is how a lean stream is watched.
type watchState struct {
	p    *poller       // the poller it is registered with; nil with a reader
	done chan struct{} // closed when the reader returned; nil with a poller
}

// watch starts watching a stream handed over: with the hub's poller when
// there is one and the connection has a descriptor, else with a reader.
func (c *Conn) watch() {
	if p := c.hub.leanPoller(); p != nil {
		if p.add(c) {
			c.lean.watch.p = p
			return
		}
		c.hub.leanPollerRelease(p)
	}
	c.lean.watch.done = make(chan struct{})
	go c.readUntilGone()
}

// readUntilGone reads until the connection fails, then closes the stream
// (nothing happens when the stream ended first).
func (c *Conn) readUntilGone() {
	defer close(c.lean.watch.done)
	buf := make([]byte, 16)
	for {
		if _, err := c.lean.nc.Read(buf); err != nil {
			c.close(errClientGone)
			return
		}
	}
}

// unwatch stops watching an ending stream before its connection is
// closed; awaitWatch waits for its reader once the connection is closed.
func (c *Conn) unwatch() {
	if p := c.lean.watch.p; p != nil {
		p.remove(c)
		c.hub.leanPollerRelease(p)
	}
}

func (c *Conn) awaitWatch() {
	if d := c.lean.watch.done; d != nil {
		<-d
	}
}

// rawConn is the connection under TLS, or nc itself.
func rawConn(nc net.Conn) net.Conn {
	if tc, ok := nc.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return nc
}
