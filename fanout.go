package ssekify

import (
	"fmt"
	"strconv"
)

// deliver gives m its position, appends it to its target's log and queues
// it for its local recipients, in one critical section (see Hub.mu), then
// reports what happened.
func (h *Hub) deliver(m *message) int {
	var fx effects
	h.mu.Lock()
	h.pos++
	m.pos = h.pos
	if h.follows {
		if m.inRedis {
			h.fol.last = m.rpos
		} else {
			m.rpos, m.repoch = h.fol.last, h.fol.epoch
		}
	}
	if m.idLine == nil {
		m.idLine = h.positionLine(m.pos, m.repoch, m.rpos)
	} else {
		h.customIDs.Store(true)
	}
	for _, c := range h.recipients(m.kind, m.target) {
		h.enqueue(c, m, &fx)
	}
	// Logged after the writers were woken (they start on the other cores
	// meanwhile); still under h.mu, so a writer that catches up finds it.
	h.logs.append(m)
	for _, c := range fx.disconnect {
		h.remove(c)
	}
	h.mu.Unlock()
	h.settle(&fx)
	return fx.delivered
}

// positionLine returns the id line of position pos: "id: v1.<epoch>.<pos>\n",
// or, with a broker that keeps logs, "id: v2.<epoch>.<pos>.<repoch>.<rpos>\n".
func (h *Hub) positionLine(pos, repoch, rpos uint64) []byte {
	if h.follows {
		b := make([]byte, 0, len("id: \n")+len(tokenPrefix2)+4*(maxTokenField+1))
		b = appendToken2(append(b, "id: "...), h.epoch, pos, repoch, rpos)
		return append(b, '\n')
	}
	b := make([]byte, 0, len(h.idPrefix)+maxTokenField+1)
	b = append(b, h.idPrefix...)
	b = strconv.AppendUint(b, pos, 36)
	return append(b, '\n')
}

// recipients returns the connections a message is for. The slice belongs to
// the hub: use it only with h.mu held.
func (h *Hub) recipients(kind targetKind, target string) []*Conn {
	switch kind {
	case kindUser:
		if u := h.users[target]; u != nil {
			return u.conns
		}
	case kindRoom:
		return h.rooms[target]
	case kindAll:
		return h.all
	}
	return nil
}

// effects collects what fan-out did, to count and report once h.mu is released.
type effects struct {
	delivered  int
	dropped    []dropReport
	disconnect []*Conn
}

type dropReport struct {
	conn   *Conn
	code   string
	frames int
}

// enqueue queues m for c and applies its drop policy. h.mu held.
func (h *Hub) enqueue(c *Conn, m *message, fx *effects) {
	r := c.q.push(m)
	if r.wake {
		c.signal()
	}
	switch {
	case r.overflow:
		fx.delivered++
		h.stats.catchUps.Add(1)
	case r.queued:
		fx.delivered++
		h.stats.peak(r.items, r.bytes)
		if r.dropped > 0 {
			h.stats.droppedOldest.Add(int64(r.dropped))
			fx.dropped = append(fx.dropped, dropReport{c, CodeDropOldest, r.dropped})
		}
	case r.dropped > 0:
		h.stats.droppedNewest.Add(1)
		fx.dropped = append(fx.dropped, dropReport{c, CodeDropNewest, 1})
	case r.disconnect:
		if c.close(ErrSlowClient) {
			h.stats.disconnectedByBackpressure.Add(1)
			fx.disconnect = append(fx.disconnect, c)
		}
	}
}

// settle reports drops and backpressure disconnects, without h.mu.
func (h *Hub) settle(fx *effects) {
	for _, d := range fx.dropped {
		h.reportErr(&Error{Code: d.code, Level: LevelWarn, Op: "enqueue", Target: d.conn.id,
			Err: fmt.Errorf("queue full (policy %s): %d event(s) dropped for user %q; the stream gets the gap event", d.conn.cfg.policy, d.frames, d.conn.userID)})
	}
	for _, c := range fx.disconnect {
		h.reportErr(&Error{Code: CodeSlowClient, Level: LevelWarn, Op: "enqueue", Target: c.id,
			Err: fmt.Errorf("%w: user %q", ErrSlowClient, c.userID)})
	}
}
