package ssekify

import "fmt"

// ParseToken and AppendToken expose the position token to the external tests.
var (
	ParseToken  = parseToken
	AppendToken = appendToken
)

// LastPosition returns the position of h's newest event.
func LastPosition(h *Hub) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pos
}

// Epoch returns the epoch of h's position tokens.
func Epoch(h *Hub) uint64 { return h.epoch }

// CheckLogs recounts from scratch what h's in-memory logs hold and compares
// it with the running figures; it also checks that every log is in
// position order and that offline logs have no reader.
func CheckLogs(h *Hub) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return checkLogs(h.logs.(*memLogs))
}

func checkLogs(s *memLogs) error {
	var total int64
	for key, l := range s.logs {
		if l.key != key || l.gone {
			return fmt.Errorf("log %v: key %v, gone %v", key, l.key, l.gone)
		}
		total += logOverhead + int64(len(key.target)) + int64(len(l.ring))*ringSlotSize
		if l.tombs.total > 0 {
			total += tombsBytes
		}
		var prev uint64
		for i := 0; i < l.n; i++ {
			m := l.at(i)
			if m.pos <= prev {
				return fmt.Errorf("log %v: position %d after %d", key, m.pos, prev)
			}
			prev = m.pos
			total += int64(m.heldBytes())
		}
		if l.n > s.maxEvents {
			return fmt.Errorf("log %v holds %d events, bound %d", key, l.n, s.maxEvents)
		}
		if (l.readers == 0) != (l.lru.prev != nil || l.lru.next != nil || s.off.head == l) && l != s.all {
			return fmt.Errorf("log %v: %d readers, offline list membership wrong", key, l.readers)
		}
	}
	total += int64(s.fifo.n) * fifoEntry
	if total != s.bytes {
		return fmt.Errorf("recounted %d bytes, running figure %d", total, s.bytes)
	}
	if got := s.stats.replayBytes.Load(); got != s.bytes {
		return fmt.Errorf("Stats().ReplayBytes %d, running figure %d", got, s.bytes)
	}
	if s.maxBytes >= 0 && s.bytes > s.maxBytes && (s.fifo.n > 0 || s.off.n > 0) {
		return fmt.Errorf("%d bytes over the bound %d with something left to drop", s.bytes, s.maxBytes)
	}
	return nil
}

// wire returns m as a stream writes it: its id line, then its frame.
func (m *message) wire() []byte { return append(append([]byte(nil), m.idLine...), m.frame...) }
