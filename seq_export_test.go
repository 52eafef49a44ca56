package ssekify

import (
	"context"
	"time"
)

// SeqRetryAfter is how long the hub numbers locally after a Counter
// failure before it tries the Counter again.
const SeqRetryAfter = seqRetryAfter

// SetSeqTimeouts replaces the bound of a Counter call and the retry
// interval of h's seq allocator. Call it before the hub is used.
func SetSeqTimeouts(h *Hub, call, retryAfter time.Duration) {
	h.seq.callTimeout, h.seq.retryAfter = call, retryAfter
}

// BuildInfo is what build made of an event.
type BuildInfo struct {
	// Frame is the event without its id line; IDLine the line of a caller's
	// or FrameID's id (a default id, the position, comes with delivery).
	Data, Frame, IDLine []byte
	DataInFrame         bool
	HeldBytes           int
}

// Build prepares ev for user as SendToUser does, without delivering it.
func Build(h *Hub, user string, ev Event) (BuildInfo, error) {
	m, err := h.prepare(context.Background(), kindUser, user, ev, false, nil)
	if err != nil {
		return BuildInfo{}, err
	}
	return BuildInfo{Data: m.data, Frame: m.frame, IDLine: m.idLine, DataInFrame: m.dataInFrame, HeldBytes: m.heldBytes()}, nil
}

// IncrScriptHash is the SHA1 of the script of RedisBroker.IncrFloor, the
// Counter call a seq number costs when the publish script does not take it.
func IncrScriptHash() string { return incrScript.Hash() }

// SetSeqAhead marks scope key of h as numbered locally up to next-1, as
// during an outage of the Counter: the next number the Counter gives must
// be next at least.
func SetSeqAhead(h *Hub, key string, next int64) {
	s := h.seq
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.touch(key, h.now().UnixNano())
	k.next, k.ahead = next, true
}
