package ssekify

import "encoding/json"

// ClearRecent drops the events held in the log of userID, or in every log
// when userID is empty. A client that then reconnects with an older
// Last-Event-ID gets the gap event (reason "retention"); recording goes on.
func (h *Hub) ClearRecent(userID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.logs.clear(userID)
}

// gapData is the payload of the gap event. reason is "overflow" (the
// stream's queue dropped events under DropOldest or DropNewest),
// "retention" (the logs no longer hold events the stream had not received),
// "unknown-id" (the Last-Event-ID names no position of this hub: foreign,
// stale, forged, too long) or "broker" (the broker subscription was lost,
// so events from other instances may be missing). missed counts the events
// lost, exactly when exact is true and at least otherwise; first and last
// are the tokens of the first and last positions lost (first only when
// exact: otherwise the loss lies somewhere after the client's position, up
// to last);
// lastEventId is the id the client sent (clipped to 64 bytes,
// JSON-escaped), for "unknown-id".
type gapData struct {
	Reason      string `json:"reason"`
	Missed      int    `json:"missed"`
	Exact       bool   `json:"exact"`
	First       string `json:"first,omitempty"`
	Last        string `json:"last,omitempty"`
	LastEventID string `json:"lastEventId,omitempty"`
}

// gapFrame returns the gap event of lost; lastID is the client's id for
// reason "unknown-id".
func (h *Hub) gapFrame(lost loss, lastID string) []byte {
	d := gapData{Reason: lost.reason, Missed: lost.missed, Exact: lost.exact && lost.reason != reasonUnknownID}
	if lost.first != 0 {
		d.First = string(appendToken(nil, h.epoch, lost.first))
	}
	if lost.last != 0 {
		d.Last = string(appendToken(nil, h.epoch, lost.last))
	}
	if lastID != "" {
		d.LastEventID = clip(lastID)
	}
	data, _ := json.Marshal(d)
	return appendFrame(make([]byte, 0, frameSize("", h.opts.GapEvent, data)), "", h.opts.GapEvent, data)
}
