package ssekify

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Defaults of Options and RegisterOptions. A zero field means its default; a
// negative value disables the feature where the field says so.
const (
	DefaultChannel          = "ssekify:bus"
	DefaultKeepAlive        = 15 * time.Second
	DefaultRetry            = 2 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	DefaultMaxQueueItems    = 100
	DefaultMaxQueueBytes    = 256 << 10
	DefaultMaxPayloadBytes  = 64 << 10
	DefaultRecentBufferSize = 4096
	DefaultRecentTTL        = 30 * time.Minute
	DefaultRecentMaxUsers   = 10000
	DefaultRecentMaxBytes   = 64 << 20
	DefaultGapEvent         = "ssekify:gap"
	DefaultRouteGrace       = 5 * time.Second
	DefaultSeqField         = "seq"
	DefaultSeqKeyPrefix     = "ssekify:seq:"
	DefaultSeqRedisTTL      = 24 * time.Hour
	DefaultSeqMaxKeys       = 100000
	DefaultSeqKeyTTL        = time.Hour
)

// DropPolicy says what a connection's queue does when a new event does not
// fit. Every loss is told to the client, in its stream, by the gap event at
// the place of loss.
type DropPolicy int

const (
	// CatchUp drops the queue and continues from the stream's logs at its
	// position: nothing the logs still hold is lost, and memory stays
	// bounded by the queue plus the shared logs. What the logs no longer
	// hold is announced by the gap event, before the next event. It is the
	// default: a healthy client loses nothing in bursts.
	CatchUp DropPolicy = iota
	// DropOldest drops events from the head of the queue until the new one
	// fits; the gap event takes their place.
	DropOldest
	// DropNewest discards the new event and keeps the queue as it is; the
	// gap event follows what was queued.
	DropNewest
	// Disconnect closes the connection; the client reconnects and replays
	// what it missed from the logs.
	Disconnect
)

// String returns the policy's name.
func (p DropPolicy) String() string {
	switch p {
	case CatchUp:
		return "catchup"
	case DropOldest:
		return "oldest"
	case DropNewest:
		return "newest"
	case Disconnect:
		return "disconnect"
	}
	return fmt.Sprintf("DropPolicy(%d)", int(p))
}

// Options configures a Hub. The zero value of every field means its
// documented default; New copies the struct and never mutates the caller's.
type Options struct {
	// Redis is the cross-instance broker (see NewRedisBroker). Nil, with an
	// empty RedisURL, means this instance only. The hub does not close a
	// broker it was given: its creator does.
	Redis Broker
	// RedisURL builds a Redis broker from a URL (redis://user:pass@host:6379/0,
	// rediss:// for TLS) when Redis is nil. The hub owns that broker and
	// closes it on Shutdown.
	RedisURL string
	// Channel is the Pub/Sub channel of cross-instance messages. Default
	// "ssekify:bus"; one per tenant for isolation ("ssekify:bus:tenant:<id>").
	// A custom Channel also names the seq counters (see SeqOptions.KeyPrefix)
	// and, with a RedisBroker, the logs on Redis, all under the hash tag
	// "{"+Channel+"}" so that on a Cluster a channel lives in one slot. At
	// most MaxChannelBytes.
	Channel string
	// PublishOnly makes the hub publish through the broker without
	// subscribing: for a service that holds no streams and only publishes
	// (it then receives nothing from the other instances).
	PublishOnly bool
	// RouteGrace is how long, with a RedisBroker, this instance stays
	// subscribed to a user's or room's channel after the last stream here
	// that read it left (interest routing), so that a client that comes
	// back at once costs no SUBSCRIBE; a client back after it reads what
	// it missed from the logs on Redis. Default DefaultRouteGrace (5s);
	// negative: unsubscribe at the next sweep (every 10ms at the least).
	RouteGrace time.Duration
	// InstanceID names this instance in frame ids and envelopes. Default: 8
	// random hex characters. Must not contain '-', CR, LF or NUL; at most
	// MaxInstanceIDBytes.
	InstanceID string

	// KeepAlive is the heartbeat interval: a ": ping" comment is written on a
	// connection that wrote nothing else for that long. Default 15s;
	// negative disables. Keep it below your proxies' idle timeout.
	KeepAlive time.Duration
	// Retry is sent as the "retry:" line at the start of each stream, the
	// browser's reconnection delay. Default 2s; negative sends none.
	Retry time.Duration
	// WriteTimeout bounds each write in progress; a peer that does not read
	// within it is disconnected. The deadline is set before a write (renewed
	// when less than half of it is left, so a stalled write is cut after
	// between WriteTimeout/2 and WriteTimeout) and cleared once the writer
	// has nothing left to write: an idle stream holds no deadline, which
	// matters on HTTP/2, where an expired deadline resets the stream even
	// between writes (a lean stream keeps its deadline between writes: see
	// Lean). Default 10s; negative disables (not recommended: a dead peer
	// then holds its memory until TCP gives up).
	WriteTimeout time.Duration
	// Headers are added to every stream's response, under their canonical
	// keys. They can not replace or double Content-Type, Cache-Control,
	// X-Accel-Buffering or Connection, in any case. At most MaxHeaderBytes
	// of keys and values.
	Headers http.Header
	// Lean makes the hub take HTTP/1.1 connections over once their
	// response headers are out (Hijack): the stream then costs no goroutine
	// while idle and none of net/http's buffers, Register returns as soon
	// as the stream is open, and the stream's end is reported by
	// OnDisconnect. HTTP/2, HTTP/1.0, HEAD requests and ResponseWriters that
	// can not be hijacked keep the handler path. See the package doc, "Lean
	// streams". RegisterOptions.Lean overrides it per stream. Default off.
	Lean bool

	// MaxQueueItems bounds each connection's queue in frames. Default 100.
	MaxQueueItems int
	// MaxQueueBytes bounds each connection's queue in bytes. Default 256 KiB.
	MaxQueueBytes int
	// DropPolicy applies when a queue is full. Default CatchUp.
	DropPolicy DropPolicy

	// Serializer turns Event.Data into the bytes of the data lines. Default
	// encoding/json; json.RawMessage and []byte pass through unchanged, a
	// string is JSON-encoded. Its output must be valid UTF-8.
	Serializer func(any) ([]byte, error)
	// MaxPayloadBytes bounds the serialized data of one event. It may be at
	// most a quarter of MaxQueueBytes (New refuses more), so that one event
	// of the largest size never makes a healthy stream's queue drop frames
	// or disconnect: it fits beside three others. Default 64 KiB, or
	// MaxQueueBytes/4 when that is smaller; negative disables (a frame
	// larger than a queue's byte bound is then admitted into an empty queue
	// only).
	MaxPayloadBytes int

	// FrameID returns the SSE id of an event that has none. Default (nil):
	// the token of the event's position, "v1.<epoch>.<position>", from
	// which a reconnect replays exactly. With FrameID, a reconnect finds the
	// id in the stream's logs (see Event.ID): keep its ids unique. payload
	// is the serialized data.
	FrameID func(ev Event, payload []byte) string

	// RecentBufferSize is how many recent events each log keeps: the log
	// of a user (events sent to that user, kept while it is offline too),
	// of a room, and of everyone. A stream reads its logs after a reconnect
	// (Last-Event-ID) and when its queue overflowed (CatchUp). Default
	// 4096, enough for bursts of thousands of events; negative keeps none
	// (every reconnect and overflow then gets the gap event).
	RecentBufferSize int
	// RecentTTL is how long the logs keep an event, and a user's or room's
	// log after its last stream left. Default 30 min; negative: no age bound.
	RecentTTL time.Duration
	// RecentMaxUsers bounds the logs of users and rooms that no stream
	// reads any more; beyond it the one unread the longest is forgotten, in
	// O(1). Logs with a stream are bounded by the connections. Default
	// 10,000; negative: unbounded.
	RecentMaxUsers int
	// RecentMaxBytes bounds, in bytes, everything the logs hold: each
	// event (frame, id line, data when it is not a slice of the frame, id,
	// name, target and the struct, once however many streams share it),
	// each log (its name, ring and remembered drops) and the hub-wide index
	// of positions. Beyond it the oldest events go first, whatever their
	// log, then the offline logs unread the longest. Default 64 MiB;
	// negative: unbounded.
	RecentMaxBytes int64
	// GapEvent is the name of the event that tells a client, in its stream,
	// where it lost events and how many (see the package doc, "No loss is
	// silent"). Default "ssekify:gap".
	GapEvent string
	// NoGapEvent turns the gap event off (not recommended: losses are then
	// silent to the client; they are still counted and reported).
	NoGapEvent bool

	// AutoFields adds timestamp, requestId and traceId to object payloads.
	AutoFields AutoFields
	// Seq numbers the messages of a scope (requestId or streamId).
	Seq SeqOptions

	// Logger receives what the caller can not see otherwise: broker
	// subscription losses and recoveries, shutdown progress, recovered hook
	// panics. Replay evictions are counted (Stats.ReplayEvicted), not
	// logged. Default: discard.
	Logger *slog.Logger

	// OnConnect is called when a stream starts.
	OnConnect func(ConnInfo)
	// OnDisconnect is called when a stream ends; err is nil on a normal end.
	// For a lean stream it runs on the hub's goroutine that ended it, and it
	// is the only report of the end (Register returned at the start).
	OnDisconnect func(info ConnInfo, err error)
	// OnMessageSent is called once per message after it was queued for its
	// local recipients.
	OnMessageSent func(MessageInfo)
	// OnPublish is called for each message received from another instance.
	OnPublish func(MessageInfo)
	// OnError receives every error the hub reports, as an *Error.
	OnError func(err error)
}

// RegisterOptions configures one stream. Zero fields take the hub's values.
type RegisterOptions struct {
	// Rooms the connection joins at once.
	Rooms []string
	// Headers are added to this response (after Options.Headers, replacing
	// a key given there), as Options.Headers are. At most MaxHeaderBytes.
	Headers http.Header
	// KeepAlive overrides Options.KeepAlive for this stream.
	KeepAlive time.Duration
	// Retry overrides Options.Retry for this stream.
	Retry time.Duration
	// MaxQueueItems overrides Options.MaxQueueItems for this stream.
	MaxQueueItems int
	// MaxQueueBytes overrides Options.MaxQueueBytes for this stream.
	MaxQueueBytes int
	// DropPolicy overrides Options.DropPolicy when SetDropPolicy is true.
	DropPolicy DropPolicy
	// SetDropPolicy makes DropPolicy apply (CatchUp is the zero value).
	SetDropPolicy bool
	// OnOpen is called with the connection handle once it is registered, on
	// the handler goroutine, before the first write.
	OnOpen func(*Conn)
	// Lean overrides Options.Lean for this stream: LeanOn or LeanOff; the
	// zero value, LeanDefault, takes the hub's.
	Lean LeanMode
}

// LeanMode chooses, per stream, whether the hub takes the connection over
// (see Options.Lean).
type LeanMode int8

const (
	// LeanDefault takes Options.Lean.
	LeanDefault LeanMode = iota
	// LeanOn makes this stream lean where the request allows it (HTTP/1.1,
	// a ResponseWriter that can be hijacked).
	LeanOn
	// LeanOff keeps this stream on the handler path.
	LeanOff
)

// resolve fills defaults on a copy and validates.
func (o *Options) resolve() (Options, error) {
	var r Options
	if o != nil {
		r = *o
	}
	var errs []error
	negative := func(name string, v int64) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", name))
		}
	}
	negative("MaxQueueItems", int64(r.MaxQueueItems))
	negative("MaxQueueBytes", int64(r.MaxQueueBytes))
	negative("Seq.MaxKeys", int64(r.Seq.MaxKeys))
	negative("Seq.StartAt", r.Seq.StartAt)
	if r.DropPolicy < CatchUp || r.DropPolicy > Disconnect {
		errs = append(errs, fmt.Errorf("unknown DropPolicy %d", int(r.DropPolicy)))
	}
	if r.Redis != nil && r.RedisURL != "" {
		errs = append(errs, errors.New("set Redis or RedisURL, not both"))
	}
	if r.InstanceID == "" {
		r.InstanceID = randomID()
	} else if strings.ContainsAny(r.InstanceID, "-\r\n\x00") {
		errs = append(errs, errors.New("InstanceID must not contain '-', CR, LF or NUL"))
	}
	if err := checkLen("InstanceID", r.InstanceID, MaxInstanceIDBytes); err != nil {
		errs = append(errs, err)
	}
	if err := checkLen("Channel", r.Channel, MaxChannelBytes); err != nil {
		errs = append(errs, err)
	}
	if n := headerBytes(r.Headers); n > MaxHeaderBytes {
		errs = append(errs, fmt.Errorf("the Headers hold %d bytes, limit %d", n, MaxHeaderBytes))
	}
	if r.GapEvent != "" && !validField(r.GapEvent) {
		errs = append(errs, errors.New("GapEvent must not contain CR, LF or NUL"))
	}
	if err := r.AutoFields.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return r, fmt.Errorf("%w: %w", ErrInvalidOptions, errors.Join(errs...))
	}
	def(&r.Channel, DefaultChannel)
	def(&r.KeepAlive, DefaultKeepAlive)
	def(&r.Retry, DefaultRetry)
	def(&r.WriteTimeout, DefaultWriteTimeout)
	def(&r.MaxQueueItems, DefaultMaxQueueItems)
	def(&r.MaxQueueBytes, DefaultMaxQueueBytes)
	def(&r.MaxPayloadBytes, min(DefaultMaxPayloadBytes, r.MaxQueueBytes/payloadShare))
	if r.MaxPayloadBytes > r.MaxQueueBytes/payloadShare {
		return r, fmt.Errorf("%w: MaxPayloadBytes %d is more than a quarter of MaxQueueBytes %d: one such event would drop a healthy stream's frames",
			ErrInvalidOptions, r.MaxPayloadBytes, r.MaxQueueBytes)
	}
	def(&r.RecentBufferSize, DefaultRecentBufferSize)
	def(&r.RecentTTL, DefaultRecentTTL)
	def(&r.RecentMaxUsers, DefaultRecentMaxUsers)
	def(&r.RecentMaxBytes, DefaultRecentMaxBytes)
	def(&r.GapEvent, DefaultGapEvent)
	def(&r.RouteGrace, DefaultRouteGrace)
	if r.Serializer == nil {
		r.Serializer = defaultSerializer
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	r.Headers = r.Headers.Clone()
	r.AutoFields.resolve()
	if r.Seq.KeyPrefix == "" && r.Channel != DefaultChannel {
		r.Seq.KeyPrefix = r.Channel + ":seq:" // tenants never share a counter by accident
	}
	r.Seq.resolve()
	return r, nil
}

// payloadShare: the largest payload is at most 1/payloadShare of a queue.
const payloadShare = 4

// headerBytes is the size of h's keys and values.
func headerBytes(h http.Header) int {
	n := 0
	for k, vs := range h {
		n += len(k)
		for _, v := range vs {
			n += len(v)
		}
	}
	return n
}

// streamConfig is the per-connection view of the options.
type streamConfig struct {
	keepAlive time.Duration
	retry     time.Duration
	maxItems  int
	maxBytes  int
	policy    DropPolicy
	extra     http.Header
	lean      bool // take the connection over when the request allows it
}

func (h *Hub) streamConfig(ro *RegisterOptions) (streamConfig, error) {
	c := streamConfig{
		keepAlive: h.opts.KeepAlive,
		retry:     h.opts.Retry,
		maxItems:  h.opts.MaxQueueItems,
		maxBytes:  h.opts.MaxQueueBytes,
		policy:    h.opts.DropPolicy,
		lean:      h.opts.Lean,
	}
	if ro == nil {
		return c, nil
	}
	switch ro.Lean {
	case LeanDefault:
	case LeanOn, LeanOff:
		c.lean = ro.Lean == LeanOn
	default:
		return c, fmt.Errorf("%w: unknown RegisterOptions.Lean %d", ErrInvalidOptions, int(ro.Lean))
	}
	if ro.MaxQueueItems < 0 || ro.MaxQueueBytes < 0 {
		return c, fmt.Errorf("%w: RegisterOptions queue bounds must not be negative", ErrInvalidOptions)
	}
	if p := h.opts.MaxPayloadBytes; ro.MaxQueueBytes > 0 && p > 0 && ro.MaxQueueBytes < payloadShare*p {
		return c, fmt.Errorf("%w: RegisterOptions.MaxQueueBytes %d is less than 4 × MaxPayloadBytes %d", ErrInvalidOptions, ro.MaxQueueBytes, p)
	}
	if ro.SetDropPolicy {
		if ro.DropPolicy < CatchUp || ro.DropPolicy > Disconnect {
			return c, fmt.Errorf("%w: unknown DropPolicy %d", ErrInvalidOptions, int(ro.DropPolicy))
		}
		c.policy = ro.DropPolicy
	}
	if n := headerBytes(ro.Headers); n > MaxHeaderBytes {
		return c, fmt.Errorf("%w: RegisterOptions.Headers hold %d bytes, limit %d", ErrInvalidOptions, n, MaxHeaderBytes)
	}
	c.extra = ro.Headers
	override(&c.keepAlive, ro.KeepAlive)
	override(&c.retry, ro.Retry)
	override(&c.maxItems, ro.MaxQueueItems)
	override(&c.maxBytes, ro.MaxQueueBytes)
	return c, nil
}

// def sets *p to d when *p is the zero value.
func def[T comparable](p *T, d T) {
	var zero T
	if *p == zero {
		*p = d
	}
}

// override sets *p to v when v is not the zero value.
func override[T comparable](p *T, v T) {
	var zero T
	if v != zero {
		*p = v
	}
}

func randomID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
