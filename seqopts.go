package ssekify

import "time"

// SeqOptions configures automatic sequence numbers. When a payload is a JSON
// object with a scope key (by default its "requestId", else its "streamId";
// at most MaxScopeKeyBytes, or the send fails with ErrTooLong) and no seq
// field, the hub sets seq to the next number of that scope.
//
// A send that is refused uses no number, and a refused final message does
// not end its scope: every check comes before the number is taken, and
// Options.MaxPayloadBytes then includes room for the seq member at its
// largest (a comma, the quoted FieldName, a colon and 20 digits), whatever
// the number. Only a FrameID result that is refused comes after, as FrameID
// sees the final payload: the number is then given back (see FloorCounter
// for a Counter).
//
// With a broker that is a Counter the numbers come from it; see Counter for
// what holds when it fails (SEQ_KV_FALLBACK, reported once per outage).
type SeqOptions struct {
	// Disabled turns auto seq off (it is on by default).
	Disabled bool
	// KeyExtractor returns the scope key of a payload, "" for none. Default:
	// the string (or number) value of "requestId", else of "streamId".
	KeyExtractor func(Fields) string
	// StartAt is the first number of every scope. Default 0.
	StartAt int64
	// FieldName is the field set. Default "seq".
	FieldName string
	// FinalPredicate says a message ends its scope: the next message of the
	// same key starts again at StartAt. Default: "final": true, or "phase"
	// equal to "done" or "error".
	FinalPredicate func(Fields) bool
	// KeyPrefix prefixes the broker counter's keys. Default "ssekify:seq:",
	// or Options.Channel + ":seq:" when Channel is not the default, so that
	// hubs of different tenants keep separate counters on a shared Redis.
	KeyPrefix string
	// RedisTTL is the expiry of a broker counter key. Default 24h.
	RedisTTL time.Duration
	// MaxKeys bounds the in-memory counters; beyond it the least recently
	// used is evicted. Default 100,000.
	MaxKeys int
	// KeyTTL drops in-memory counters unused that long. Default 1h.
	KeyTTL time.Duration
}

func (s *SeqOptions) resolve() {
	def(&s.FieldName, DefaultSeqField)
	def(&s.KeyPrefix, DefaultSeqKeyPrefix)
	def(&s.RedisTTL, DefaultSeqRedisTTL)
	def(&s.MaxKeys, DefaultSeqMaxKeys)
	def(&s.KeyTTL, DefaultSeqKeyTTL)
}
