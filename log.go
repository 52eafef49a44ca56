package ssekify

// The logs are the truth; a stream's queue is a cache of their newest part.
//
// The hub keeps recent events per target: one log per user (the events sent
// to that user), one per room, one for everyone. Every event is appended to
// exactly one log, the log of its target, with its position (cursor.go), in
// the critical section that queues it for the target's local streams. A
// stream reads the logs of its user, its rooms and everyone, merged by
// position: after a reconnect (from the position its Last-Event-ID names),
// and whenever its queue overflowed (from the last position it was given).
// When a log no longer holds what a stream needs, the stream is told, in
// its stream, by the gap event.
//
// logStore is the interface of the logs, so that logs shared by every
// instance can replace the in-memory ones (log_mem.go) without the hub
// changing. The hub calls it with h.mu held.
type logStore interface {
	// attach: a stream that reads key registered (or joined its room).
	// The log of a target is kept while a stream reads it, and for
	// RecentTTL after the last one left.
	attach(key logKey)
	// detach: a stream that read key ended (or left its room).
	detach(key logKey)
	// append keeps m, whose position is set, in the log of its target, when
	// that log exists (a target no stream here reads or read within
	// RecentTTL has none: nobody can miss its events here).
	append(m *message)
	// read appends to dst the events of the logs keys after position
	// after, oldest first, at most max of them; more is true when there
	// are more to read. lost describes what the logs no longer hold after
	// after, up to the page's end: it comes before the returned events.
	// told is the newest position of a loss the reader was told already,
	// so that a loss of unknown extent is told once.
	read(keys []logKey, after, told uint64, max int, dst []*message) (page []*message, lost loss, more bool)
	// covers reports whether the logs keys hold every event after
	// position after: each exists and dropped nothing after it.
	covers(keys []logKey, after uint64) bool
	// find returns the position of the newest event of the logs keys whose
	// id is id (a caller's Event.ID or an Options.FrameID id).
	find(keys []logKey, id string) (pos uint64, ok bool)
	// partial: the log of key may lack Publish* events the instance did
	// not receive (its route was not subscribed) up to now, whose
	// position is pos: it no longer covers a position at or before pos.
	partial(key logKey, pos uint64)
	// partialOffline is partial for every log no stream reads now: after
	// an outage of the subscription, whose recovery delivers only to the
	// streams here.
	partialOffline(pos uint64)
	// clear drops the events of one user's log, or of every log for "".
	clear(userID string)
}

// logKey names a target's log.
type logKey struct {
	kind   targetKind
	target string // empty for kindAll
}

// allLog is the key of the log for everyone.
var allLog = logKey{kind: kindAll}

// loss is what a stream can no longer read from its logs: missed events
// (exact, or a lower bound when !exact) between positions first and last
// (0 when unknown).
type loss struct {
	reason      string // reasonOverflow, reasonRetention, ...
	missed      int
	exact       bool
	first, last uint64
}

// Reasons of a gap event.
const (
	reasonOverflow  = "overflow"   // DropOldest or DropNewest dropped events
	reasonRetention = "retention"  // the logs no longer hold them
	reasonUnknownID = "unknown-id" // the Last-Event-ID names no position here
	reasonBroker    = "broker"     // the broker subscription was lost meanwhile
	reasonReset     = "reset"      // the log on Redis lost its data (a new epoch)
)

// any reports whether something was lost.
func (l loss) any() bool { return l.missed > 0 || !l.exact }

// add merges o into l.
func (l *loss) add(o loss) {
	if !o.any() {
		return
	}
	if !l.any() {
		reason := l.reason
		*l = o
		if reason != "" {
			l.reason = reason
		}
		return
	}
	l.missed += o.missed
	l.exact = l.exact && o.exact
	switch {
	case !l.exact:
		l.first = 0 // unknown once any part is
	case o.first != 0 && (l.first == 0 || o.first < l.first):
		l.first = o.first
	}
	l.last = max(l.last, o.last)
}

// noLoss is the zero-loss value.
var noLoss = loss{exact: true}
