package ssekify

import "net/http"

// catchUpPage bounds the events one read of the logs returns: a stream far
// behind reads its logs page by page, each read a short critical section.
const catchUpPage = 4096

// catchUp writes what the stream's logs hold after its cursor, page by
// page, until it has read them to their end; the last read, under the
// hub's lock, switches the queue back to live, so every later event is
// queued and none falls in between. What the logs no longer hold is
// announced by the gap event at its place, before the events after it.
func (c *Conn) catchUp(w http.ResponseWriter) error {
	h := c.hub
	for {
		h.mu.Lock()
		c.keys = c.logKeys(c.keys[:0])
		page, lost, more := h.logs.read(c.keys, c.cursor, c.told, catchUpPage, c.batch[len(c.batch):])
		if !more {
			c.q.resume()
		}
		h.mu.Unlock()
		h.stats.replayedEvents.Add(int64(len(page)))
		msgs := page
		if lost.any() {
			lost.reason = reasonRetention
			c.told = max(c.told, lost.last)
			msgs = append([]*message{{gap: &lost}}, page...)
			if !more {
				c.cursor = max(c.cursor, lost.last)
			}
		}
		err := c.send(w, msgs)
		clear(page)
		if err != nil || !more {
			return err
		}
	}
}

// logKeys appends the keys of the logs the stream reads: its user's, its
// rooms' and everyone's. The server decides them, never the client. h.mu held.
func (c *Conn) logKeys(dst []logKey) []logKey {
	dst = append(dst, logKey{kindUser, c.userID}, allLog)
	for room := range c.rooms {
		dst = append(dst, logKey{kindRoom, room})
	}
	return dst
}

// send writes msgs in one write and one flush and moves the cursor past
// them. Gap markers become gap events here, on the stream's own goroutine.
func (c *Conn) send(w http.ResponseWriter, msgs []*message) error {
	h := c.hub
	frames := c.frames[:0]
	events := 0
	for _, m := range msgs {
		line := m.idLine
		if h.follows {
			var gap []byte
			var skip bool
			line, gap, skip = c.redisPart(m)
			if gap != nil {
				frames = append(frames, gap)
				events++
			}
			if skip {
				continue
			}
		}
		switch {
		case m.gap != nil:
			h.stats.gapMissed.Add(int64(m.gap.missed))
			if h.opts.NoGapEvent {
				continue // counted, not told (the option's choice)
			}
			frames = append(frames, h.gapFrame(*m.gap, ""))
			h.stats.gapEvents.Add(1)
		case line != nil:
			frames = append(frames, line, m.frame)
		default:
			frames = append(frames, m.frame)
		}
		events++
		if m.pos > c.cursor {
			c.cursor = m.pos
		}
	}
	if events == 0 {
		return nil
	}
	err := c.write(w, frames)
	clear(frames)
	c.frames = frames[:0]
	if err == nil {
		h.stats.sent.add(c.shard, int64(events))
	}
	return err
}

// redisPart keeps the stream's place in the log on Redis (Conn.rpos) as m
// is written: an event of the log the stream had already (from a fetch, or
// an instance it came from that was ahead) is skipped; an event of another
// epoch than the stream's means Redis lost the logs in between, which the
// gap event (reason "reset") tells first, unless a reset marker did; the
// id line of a default-id event whose Redis part is behind the stream's is
// rewritten, so the client's token never goes back.
func (c *Conn) redisPart(m *message) (line, gap []byte, skip bool) {
	h := c.hub
	line = m.idLine
	if m.repoch == 0 {
		return line, nil, false
	}
	if m.repoch != c.repoch {
		if c.repoch != 0 && m.gap == nil && !h.opts.NoGapEvent {
			gap = h.gapFrame(loss{reason: reasonReset}, "")
			h.stats.gapEvents.Add(1)
		}
		c.repoch, c.rpos = m.repoch, 0
	}
	if m.gap != nil { // a reset marker: the stream starts after it
		c.rpos = m.rpos
		return line, gap, false
	}
	if m.inRedis && m.rpos <= c.rpos {
		return line, gap, true
	}
	if m.id == "" && m.rpos < c.rpos {
		line = h.positionLine(m.pos, c.repoch, c.rpos)
	}
	c.rpos = max(c.rpos, m.rpos)
	return line, gap, false
}
