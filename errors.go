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
	// ErrInvalidOptions reports Options that New refuses, or RegisterOptions
	// that Register refuses (it then answers 500: a program error).
	ErrInvalidOptions = errors.New("ssekify: invalid options")
	// ErrShutdownIncomplete is returned by Shutdown when its ctx ended while
	// streams whose writers could not be cut were still open.
	ErrShutdownIncomplete = errors.New("ssekify: shutdown incomplete")
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
// metrics and alerting; each says when it is reported.
const (
	// CodeInvalidEvent: a send or publish refused an event name or id with
	// CR, LF or NUL, or data that is not valid UTF-8 (ErrInvalidEvent).
	CodeInvalidEvent = "INVALID_EVENT"
	// CodePayloadTooLarge: a send or publish refused a payload above
	// MaxPayloadBytes (ErrPayloadTooLarge).
	CodePayloadTooLarge = "PAYLOAD_TOO_LARGE"
	// CodeSerialize: the Serializer (or an auto-field callback) failed or
	// panicked (ErrSerialize).
	CodeSerialize = "SERIALIZE"
	// CodeEmptyTarget: an empty user id or room was refused (ErrEmptyTarget).
	CodeEmptyTarget = "EMPTY_TARGET"
	// CodeTooLong: an id, name, user id, room or scope key beyond its bound
	// was refused (ErrTooLong; see limits.go).
	CodeTooLong = "TOO_LONG"
	// CodeMissingField: an auto field in required mode was missing
	// (ErrMissingField).
	CodeMissingField = "MISSING_FIELD"
	// CodeDropOldest: a full queue under DropOldest dropped frames.
	CodeDropOldest = "DROP_OLDEST"
	// CodeDropNewest: a full queue under DropNewest discarded a new frame.
	CodeDropNewest = "DROP_NEWEST"
	// CodeSlowClient: a full queue under Disconnect closed its stream
	// (ErrSlowClient).
	CodeSlowClient = "BACKPRESSURE_DISCONNECT"
	// CodeWrite: a write to a client failed or timed out; its stream ended.
	CodeWrite = "WRITE"
	// CodeNoStreaming: Register got a ResponseWriter that can not flush
	// (ErrNoStreaming).
	CodeNoStreaming = "NO_STREAMING"
	// CodeNotAccepting: Register was refused after StopAccepting or during
	// Shutdown (ErrNotAccepting).
	CodeNotAccepting = "NOT_ACCEPTING"
	// CodeClosed: a call was refused after Shutdown (ErrClosed).
	CodeClosed = "CLOSED"
	// CodeInvalidOptions: Register refused its RegisterOptions
	// (ErrInvalidOptions).
	CodeInvalidOptions = "INVALID_OPTIONS"
	// CodeBrokerPublish: a Publish* call's broker publish failed (ErrBroker).
	CodeBrokerPublish = "BROKER_PUBLISH"
	// CodeBrokerSubscribe: the broker subscription failed or was lost; the
	// hub subscribes again with backoff (ErrBroker).
	CodeBrokerSubscribe = "BROKER_SUBSCRIBE"
	// CodeInvalidEnvelope: a malformed envelope from the broker was dropped
	// (ErrInvalidEnvelope).
	CodeInvalidEnvelope = "INVALID_ENVELOPE"
	// CodeSeqKVFallback: sequence numbers are counted in memory because the
	// broker has no Counter or the Counter failed (reported once per outage).
	CodeSeqKVFallback = "SEQ_KV_FALLBACK"
	// CodeHookPanic: a hook panicked; the panic was recovered.
	CodeHookPanic = "HOOK_PANIC"
	// CodeInvalidLastEvent: a client sent a Last-Event-ID that no hub makes
	// (too long, or with CR, LF or NUL); it got the gap event.
	CodeInvalidLastEvent = "INVALID_LAST_EVENT_ID"
	// CodeInternal: an error that matches none of the sentinels above.
	CodeInternal = "INTERNAL"
)

// Error is what the hub reports through Options.OnError: a stable Code, a
// Level, the operation that failed, the user or room concerned (if any) and
// the underlying error, which usually wraps one of the sentinel errors.
type Error struct {
	// Code is one of the Code* constants: stable, for alerting.
	Code string
	// Level is how serious the error is.
	Level Level
	// Op is the operation that failed: "send", "register", "write",
	// "publish", "subscribe", "receive", "enqueue", "seq", ...
	Op string
	// Target is the user id, room, connection id or channel concerned
	// (clipped to 64 bytes); empty when none.
	Target string
	// Err is the underlying error; it usually wraps a sentinel error.
	Err error
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

// codeOf maps a sentinel error to its code; fallback is the code of an
// error that matches none.
func codeOf(err error, fallback string) string {
	switch {
	case errors.Is(err, ErrInvalidEvent):
		return CodeInvalidEvent
	case errors.Is(err, ErrPayloadTooLarge):
		return CodePayloadTooLarge
	case errors.Is(err, ErrSerialize):
		return CodeSerialize
	case errors.Is(err, ErrEmptyTarget):
		return CodeEmptyTarget
	case errors.Is(err, ErrTooLong):
		return CodeTooLong
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
	case errors.Is(err, ErrInvalidOptions):
		return CodeInvalidOptions
	}
	return fallback
}
