package ssekify

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors, for errors.Is. Errors returned by the hub wrap one of these
// with context; errors reported through Options.OnError are *Error values that
// wrap them too.
var (
	// ErrNotAccepting is returned by Register after StopAccepting or during Shutdown.
	ErrNotAccepting = errors.New("ssekify: not accepting new connections")
	// ErrClosed is returned by every call made after Shutdown completed.
	ErrClosed = errors.New("ssekify: hub closed")
	// ErrInvalidEvent reports an event name or id containing CR, LF or NUL (or
	// invalid UTF-8), or data that is not valid UTF-8.
	ErrInvalidEvent = errors.New("ssekify: invalid event")
	// ErrPayloadTooLarge reports a serialized payload above MaxPayloadBytes.
	ErrPayloadTooLarge = errors.New("ssekify: payload too large")
	// ErrSerialize wraps an error returned by the Serializer.
	ErrSerialize = errors.New("ssekify: serialize")
	// ErrNoStreaming reports a ResponseWriter that can not flush. It matches
	// http.ErrNotSupported too.
	ErrNoStreaming = fmt.Errorf("ssekify: response writer can not stream: %w", http.ErrNotSupported)
	// ErrEmptyTarget reports an empty userID or room: never a silent broadcast.
	ErrEmptyTarget = errors.New("ssekify: empty user id or room")
	// ErrMissingField reports an auto field in required mode that the payload lacks.
	ErrMissingField = errors.New("ssekify: required field missing")
	// ErrSlowClient ends a stream that the Disconnect drop policy closed.
	ErrSlowClient = errors.New("ssekify: slow client disconnected")
	// ErrBroker wraps a failure of the cross-instance broker.
	ErrBroker = errors.New("ssekify: broker")
	// ErrInvalidEnvelope reports a malformed message received from the broker.
	ErrInvalidEnvelope = errors.New("ssekify: invalid envelope")
	// ErrTooLong reports an input longer than its bound (see MaxEventIDBytes
	// and the other Max*Bytes constants).
	ErrTooLong = errors.New("ssekify: input too long")
)

// Level says how serious a reported *Error is.
type Level string

// Levels of reported errors.
const (
	LevelError Level = "error"
	LevelWarn  Level = "warn"
	LevelInfo  Level = "info"
)

// Error codes carried by *Error. They are stable strings meant for logs,
// metrics and alerting.
const (
	CodeInvalidEvent     = "INVALID_EVENT"
	CodePayloadTooLarge  = "PAYLOAD_TOO_LARGE"
	CodeSerialize        = "SERIALIZE"
	CodeEmptyTarget      = "EMPTY_TARGET"
	CodeMissingField     = "MISSING_FIELD"
	CodeDropOldest       = "DROP_OLDEST"
	CodeDropNewest       = "DROP_NEWEST"
	CodeSlowClient       = "BACKPRESSURE_DISCONNECT"
	CodeWrite            = "WRITE"
	CodeNoStreaming      = "NO_STREAMING"
	CodeNotAccepting     = "NOT_ACCEPTING"
	CodeClosed           = "CLOSED"
	CodeBrokerPublish    = "BROKER_PUBLISH"
	CodeBrokerSubscribe  = "BROKER_SUBSCRIBE"
	CodeInvalidEnvelope  = "INVALID_ENVELOPE"
	CodeSeqKVFallback    = "SEQ_KV_FALLBACK"
	CodeHookPanic        = "HOOK_PANIC"
	CodeInvalidLastEvent = "INVALID_LAST_EVENT_ID"
)

// Error is what the hub reports through Options.OnError: a stable Code, a
// Level, the operation that failed, the user or room concerned (if any) and
// the underlying error, which usually wraps one of the sentinel errors.
type Error struct {
	Code   string
	Level  Level
	Op     string // "send", "register", "write", "publish", "subscribe", ...
	Target string // user id, room or connection id; empty when none
	Err    error
}

// Error implements error.
func (e *Error) Error() string {
	s := "ssekify: " + e.Op
	if e.Target != "" {
		s += " " + e.Target
	}
	s += ": " + e.Code
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// codeOf maps a sentinel error to its code.
func codeOf(err error) string {
	switch {
	case errors.Is(err, ErrInvalidEvent):
		return CodeInvalidEvent
	case errors.Is(err, ErrPayloadTooLarge):
		return CodePayloadTooLarge
	case errors.Is(err, ErrSerialize):
		return CodeSerialize
	case errors.Is(err, ErrEmptyTarget):
		return CodeEmptyTarget
	case errors.Is(err, ErrMissingField):
		return CodeMissingField
	case errors.Is(err, ErrNoStreaming):
		return CodeNoStreaming
	case errors.Is(err, ErrNotAccepting):
		return CodeNotAccepting
	case errors.Is(err, ErrClosed):
		return CodeClosed
	case errors.Is(err, ErrSlowClient):
		return CodeSlowClient
	case errors.Is(err, ErrInvalidEnvelope):
		return CodeInvalidEnvelope
	}
	return CodeWrite
}
