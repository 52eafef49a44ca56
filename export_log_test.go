package ssekify

import (
	"fmt"
	"time"
	"unsafe"
)

// ParseToken and AppendToken expose the position token to the external tests.
var (
	ParseToken  = parseToken
	AppendToken = appendToken
)

// LuaUvarint and LuaEntryID are the sources of the scripts' Lua functions
// uv(n) and entryID(p).
const (
	LuaUvarint = luaUvarint
	LuaEntryID = luaEntryID
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
	stale := 0
	for i := 0; i < s.fifo.n; i++ {
		if !s.fifo.buf[(s.fifo.head+i)%len(s.fifo.buf)].live() {
			stale++
		}
	}
	if stale != s.stale {
		return fmt.Errorf("%d stale index entries, counted %d", stale, s.stale)
	}
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

// Logs drives the in-memory logs directly, without a hub, for the
// store-level tests: positions are numbered by the driver as deliver does.
type Logs struct {
	s   *memLogs
	st  counters
	pos uint64
	ids map[*targetLog]int
}

// LogLoss is what a read of the logs says was lost before its page.
type LogLoss struct {
	Missed      int
	Exact       bool
	First, Last uint64
}

// NewLogs returns logs with opts' retention bounds (resolved as New does:
// zero is the default, negative turns a bound off) and clock now.
func NewLogs(opts *Options, now func() time.Time) (*Logs, error) {
	o, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	d := &Logs{ids: make(map[*targetLog]int)}
	d.s = newMemLogs(&o, now, &d.st)
	return d, nil
}

func driverKey(kind, target string) logKey {
	switch kind {
	case "user":
		return logKey{kindUser, target}
	case "room":
		return logKey{kindRoom, target}
	case "all":
		return allLog
	}
	panic("logs driver: unknown kind " + kind)
}

// Attach tells the logs that a stream reads the log of kind ("user",
// "room" or "all") and target.
func (d *Logs) Attach(kind, target string) { d.s.attach(driverKey(kind, target)) }

// Detach tells the logs that a stream reading that log ended.
func (d *Logs) Detach(kind, target string) { d.s.detach(driverKey(kind, target)) }

// Append sends an event whose frame is size bytes to the target and returns
// its position.
func (d *Logs) Append(kind, target string, size int) uint64 {
	k := driverKey(kind, target)
	d.pos++
	m := &message{kind: k.kind, target: k.target, frame: make([]byte, size), dataInFrame: true, pos: d.pos}
	d.s.append(m)
	return d.pos
}

// Read reads, as a stream of user in rooms does (its user's log, everyone's,
// its rooms'), at most limit events after position after.
func (d *Logs) Read(user string, rooms []string, after uint64, limit int) (positions []uint64, missed int, exact bool, more bool) {
	positions, lost, more := d.ReadLoss(user, rooms, after, limit)
	return positions, lost.Missed, lost.Exact, more
}

// ReadLoss is Read with the first and last positions of the loss.
func (d *Logs) ReadLoss(user string, rooms []string, after uint64, limit int) ([]uint64, LogLoss, bool) {
	return d.ReadLossTold(user, rooms, after, 0, limit)
}

// ReadLossTold is ReadLoss by a reader that was told of losses up to told
// already, as a stream's writer reads page by page.
func (d *Logs) ReadLossTold(user string, rooms []string, after, told uint64, limit int) ([]uint64, LogLoss, bool) {
	keys := []logKey{{kindUser, user}, allLog}
	for _, r := range rooms {
		keys = append(keys, logKey{kindRoom, r})
	}
	page, lost, more := d.s.read(keys, after, told, limit, nil)
	positions := make([]uint64, len(page))
	for i, m := range page {
		positions[i] = m.pos
	}
	return positions, LogLoss{Missed: lost.missed, Exact: lost.exact, First: lost.first, Last: lost.last}, more
}

// Clear empties user's log, or every log for "".
func (d *Logs) Clear(user string) { d.s.clear(user) }

// Check recounts the logs (see CheckLogs).
func (d *Logs) Check() error { return checkLogs(d.s) }

// Bytes returns the running figure of the bytes the logs hold.
func (d *Logs) Bytes() int64 { return d.s.bytes }

// Evicted returns Stats().ReplayEvicted's figure.
func (d *Logs) Evicted() int64 { return d.st.replayEvicted.Load() }

// LogID names the log of kind and target while it exists: 0 when there is
// none, else a number that a new log for the same target (after the store
// forgot the old one) does not share.
func (d *Logs) LogID(kind, target string) int {
	l := d.s.logs[driverKey(kind, target)]
	if l == nil {
		return 0
	}
	id, ok := d.ids[l]
	if !ok {
		id = len(d.ids) + 1
		d.ids[l] = id
	}
	return id
}

// Publish sets the replay gauges from the running figures, as the store
// does after the operations that change them.
func (d *Logs) Publish() { d.s.publish() }

// Trim applies the byte bound now, as append and detach do.
func (d *Logs) Trim() {
	d.s.trim()
	d.s.publish()
}

// LogStructFits reports whether a targetLog and its map entry fit the
// overhead each log is charged.
func LogStructFits() error {
	if n := unsafe.Sizeof(targetLog{}) + unsafe.Sizeof(logKey{}) + 8; n > logOverhead {
		return fmt.Errorf("a log takes %d bytes, charged %d", n, logOverhead)
	}
	if n := unsafe.Sizeof(message{}); n > messageOverhead {
		return fmt.Errorf("a message takes %d bytes, charged %d", n, messageOverhead)
	}
	return nil
}

// MessageOverhead is what a message is charged besides its bytes.
const MessageOverhead = messageOverhead

// ParseToken2 exposes the two-part token of a hub whose broker keeps logs.
func ParseToken2(s string) (epoch, pos, repoch, rpos uint64, ok bool) {
	t, ok := parseToken2(s)
	return t.epoch, t.pos, t.repoch, t.rpos, ok
}

// IsPositionToken reports whether s is a position token of either form.
func IsPositionToken(s string) bool {
	_, _, ok1 := parseToken(s)
	_, ok2 := parseToken2(s)
	return ok1 || ok2
}

// PublishPositions reads a publish script's reply res for n events, seqs of
// them numbered by the script, into each event's epoch and position.
func PublishPositions(res []any, n, seqs int) ([][2]uint64, error) {
	segs, err := publishSegments(res, nil, n, seqs)
	if err != nil {
		return nil, err
	}
	out := make([][2]uint64, n)
	at := -1
	for i := range out {
		for at+1 < len(segs) && segs[at+1].first <= i {
			at++
		}
		if at >= 0 {
			out[i] = [2]uint64{segs[at].epoch, segs[at].pos + uint64(i-segs[at].first)}
		}
	}
	return out, nil
}
