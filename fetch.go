package ssekify

import (
	"context"
	"net/http"
	"time"
)

// A stream that registers with a token whose Redis part names a position
// this instance has delivered past (a reconnect, to this instance or any
// other) reads the Publish* events it lacks from the logs on Redis, before
// anything queued: a fetch, on its own writer. Live events queue meanwhile
// (the queue is the buffer), and those the fetch gave already are dropped
// by position (Conn.send), so the stream gets each event once, in order.

// redisFetch is a stream's pending read of the logs on Redis: (after, upto]
// of the given epoch. wait: the instance had not read the log's head yet
// when the stream registered; upto is then where it stands once it has.
type redisFetch struct {
	epoch, after, upto uint64
	wait               bool
}

// Bounds of a fetch.
const (
	// fetchPage is how many events a fetch reads per log and call.
	fetchPage = 1024
	// fetchPatience is how long a fetch retries while Redis does not
	// answer (an outage, a failover) before the stream is told, by the
	// gap event (reason "broker"), and goes on live.
	fetchPatience = 15 * time.Second
)

// fetchRedis runs the stream's pending fetch: page by page, each written
// with its losses (the gap event) in place.
func (c *Conn) fetchRedis(w http.ResponseWriter) error {
	h, f := c.hub, c.fetch
	c.fetch = nil
	h.stats.logFetches.Add(1)
	if f.wait && !c.awaitSync(f) {
		return c.send(w, []*message{{gap: &loss{reason: reasonBroker}}})
	}
	give := time.Now().Add(fetchPatience)
	backoff := subscribeBackoffMin
	for f.after < f.upto {
		h.mu.Lock()
		c.keys = c.logKeys(c.keys[:0])
		h.mu.Unlock()
		r, err := h.readRedis(context.Background(), c.keys, f.after, f.upto, fetchPage)
		switch {
		case c.q.isClosed():
			return errStreamEnded
		case err != nil && time.Now().After(give):
			h.reportErr(&Error{Code: CodeBrokerSubscribe, Level: LevelWarn, Op: "fetch", Target: c.id, Err: err})
			c.rpos = max(c.rpos, f.upto)
			return c.send(w, []*message{{gap: &loss{reason: reasonBroker, first: f.after + 1, last: f.upto}}})
		case err != nil:
			if !c.pause(backoff) {
				return errStreamEnded
			}
			backoff = min(2*backoff, subscribeBackoffMax)
			continue
		case r.epoch != f.epoch:
			// Redis lost the logs meanwhile: the gap event tells it when the
			// stream meets the new epoch.
			c.rpos = max(c.rpos, f.upto)
			return nil
		}
		msgs := make([]*message, 0, len(r.losses)+len(r.msgs))
		for _, kl := range r.losses {
			l := kl.loss
			msgs = append(msgs, &message{gap: &l})
		}
		for _, e := range r.msgs {
			m := e.m
			if m.id == "" {
				m.idLine = h.positionLine(c.cursor, m.repoch, m.rpos)
			}
			msgs = append(msgs, m)
		}
		h.stats.fetchedEvents.Add(int64(len(r.msgs)))
		if err := c.send(w, msgs); err != nil {
			return err
		}
		f.after = r.end
	}
	c.rpos = max(c.rpos, f.upto)
	return nil
}

// awaitSync waits until this instance read the log's head, for at most
// fetchPatience, and completes f: it reports false when the wait ran out.
// A token of another epoch is not read: the stream meets the log's epoch
// with its next event, and the gap event (reason "reset") then (send).
func (c *Conn) awaitSync(f *redisFetch) bool {
	h := c.hub
	t := time.NewTimer(fetchPatience)
	defer t.Stop()
	woken := false
	defer func() {
		if woken {
			c.signal() // the work that woke it is done after the fetch
		}
	}()
	for waiting := true; waiting; {
		select {
		case <-h.fol.synced:
			waiting = false
		case <-t.C:
			return false
		case <-c.wake:
			if c.q.isClosed() {
				return false
			}
			woken = true
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	f.upto = h.fol.upto()
	if f.epoch != h.fol.epoch {
		f.after = f.upto
	}
	return true
}

// pause waits d, or less when the stream is closed meanwhile: it reports
// whether the stream is still open. A wake-up for new work is passed on to
// the writer's next round.
func (c *Conn) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	woken := false
	defer func() {
		if woken {
			c.signal()
		}
	}()
	for {
		select {
		case <-t.C:
			return !c.q.isClosed()
		case <-c.wake:
			if c.q.isClosed() {
				return false
			}
			woken = true
		}
	}
}
