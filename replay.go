package ssekify

import (
	"encoding/json"
	"time"
)

// replayStore keeps, per user, the recent events sent to that user, so that
// a client reconnecting with Last-Event-ID gets exactly what it missed. The
// hub calls it with h.mu held, which makes recording atomic with fan-out and
// reading atomic with registration; an implementation needs no lock of its
// own for those calls. It is an interface so that a store shared by every
// instance can replace the in-memory one without the hub changing.
type replayStore interface {
	// online: the user's first connection on this instance registered.
	// Its room memberships start afresh (join follows).
	online(userID string)
	// offline: the user's last connection ended. Its buffer and rooms are
	// kept (until swept), so events sent while it is away are recorded.
	offline(userID string)
	// join and leave: the user entered or left a room (through any of its
	// connections). leave is not called when the last connection ends.
	join(userID, room string)
	leave(userID, room string)
	// record keeps m for every user it is meant for: its target user, the
	// members of its room, or every known user.
	record(m *message)
	// since returns the events recorded for userID after lastID, oldest
	// first. found is false when lastID is not in the user's buffer; oldest
	// is then the oldest id still held ("" if none).
	since(userID, lastID string) (msgs []*message, oldest string, found bool)
	// clear drops one user's buffer, or every buffer for "".
	clear(userID string)
}

// newReplayStore returns the store the options ask for: the in-memory one
// (replay_mem.go), or noReplay when RecentBufferSize is negative. now is the
// hub's clock; st receives the replayUsers, replayBytes and replayEvicted
// figures.
func newReplayStore(o *Options, now func() time.Time, st *counters) replayStore {
	if o.RecentBufferSize < 0 {
		return noReplay{}
	}
	return newMemReplay(o, now, st)
}

// noReplay is the store when replay is disabled: it keeps nothing, so every
// Last-Event-ID is unknown and answered by the gap event.
type noReplay struct{}

func (noReplay) online(string)        {}
func (noReplay) offline(string)       {}
func (noReplay) join(string, string)  {}
func (noReplay) leave(string, string) {}
func (noReplay) record(*message)      {}
func (noReplay) since(string, string) ([]*message, string, bool) {
	return nil, "", false
}
func (noReplay) clear(string) {}

// ClearRecent drops the replay buffer of userID, or of every user when
// userID is empty. A user without a stream on this instance is forgotten
// (nothing is recorded for it until it connects again); a connected user's
// buffer is emptied and recording goes on. A client that then reconnects
// with an older Last-Event-ID gets the gap event.
func (h *Hub) ClearRecent(userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.replay.clear(userID)
}

// gapData is the payload of the gap event: the id the client sent (clipped
// to 64 bytes, JSON-escaped, so a hostile id can not forge anything), the
// oldest id still held for the user ("" when none) and why ("unknown-id", or
// "replay-disabled" when RecentBufferSize is negative).
type gapData struct {
	LastEventID string `json:"lastEventId"`
	OldestID    string `json:"oldestId"`
	Reason      string `json:"reason"`
}

// gapFrame returns the event that tells a client its Last-Event-ID is
// unknown (too old, evicted, from another instance, or replay disabled), so
// it can refetch its state; nil when the gap event is off.
func (h *Hub) gapFrame(lastID, oldest string) []byte {
	if h.opts.NoGapEvent {
		return nil
	}
	reason := "unknown-id"
	if h.opts.RecentBufferSize < 0 {
		reason = "replay-disabled"
	}
	data, _ := json.Marshal(gapData{LastEventID: clip(lastID), OldestID: oldest, Reason: reason})
	return appendFrame(make([]byte, 0, frameSize("", h.opts.GapEvent, data)), "", h.opts.GapEvent, data)
}
