// Package ssekify turns any net/http server into a Server-Sent Events hub.
//
// Create one Hub per process (or per tenant) with New, call Hub.Register
// inside the handler of your stream route, and send from anywhere:
//
//	hub, _ := ssekify.New(nil)
//	http.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
//		hub.Register(w, r, userFrom(r), &ssekify.RegisterOptions{Rooms: []string{"global"}})
//	})
//	hub.SendToUser("alice", ssekify.Event{Name: "notify", Data: map[string]any{"text": "hi"}})
//
// # Targeting
//
// SendToUser, SendToRoom and SendToAll deliver on this instance and return
// how many streams they queued the event for. PublishToUser, PublishToRoom
// and Publish deliver here at once and then, through a Broker (Redis
// Pub/Sub), on every other instance.
//
// # Slow clients
//
// Every stream has a bounded queue (MaxQueueItems, MaxQueueBytes). Sends
// never block: they encode an event once, enqueue a reference to the shared
// frame and return. The handler goroutine of each stream writes everything
// queued in one write and one flush, under a write deadline. When a queue is
// full the DropPolicy applies. CatchUp (the default) drops the queue and
// lets the stream continue from its logs at its position (see Replay): a
// healthy client that falls behind in a burst loses nothing, and memory
// stays bounded by the queue plus the shared logs. DropOldest and DropNewest
// drop events and put the gap event at the place of loss; Disconnect closes
// the stream, and the client's reconnect replays from the logs. A stalled
// peer costs at most its queue bounds plus kernel buffers, never slows the
// others, and is cut after WriteTimeout.
//
// # Wire format
//
// Frames follow the WHATWG "server-sent events" format: id, event and one
// data line per line of the serialized payload. Event names and ids with CR,
// LF or NUL are rejected with ErrInvalidEvent, so no input can inject fields
// or events. Heartbeats are ": ping" comments.
//
// # Replay
//
// The logs are the truth; a stream's queue is a cache of their newest part.
// The hub keeps recent events per target: one log per user (the events sent
// to that user, kept while the user is offline too), one per room, one for
// everyone. Each event is appended to one log, shared and never copied,
// and a broadcast is one append, whatever the number of users.
//
// Positions: every event gets the next position of one hub-wide counter,
// in the critical section that logs and queues it, so positions order
// every log and every stream. The SSE id of an event without a caller's id
// is the token of its position, "v1.<epoch>.<position>" (base 36; the epoch
// is random per hub, so tokens of another instance or of an earlier run
// name nothing here). A stream opening without Last-Event-ID names its
// start position with an id line without data, which sets the browser's
// last event id without dispatching an event.
//
// A stream reads the logs of its user, its rooms and everyone, merged by
// position: after a reconnect with Last-Event-ID (the header, else the
// lastEventId or last-event-id query parameter), from the position it
// names, before any live event; and when its queue overflowed (CatchUp),
// from the last position it was given. Its writer reads the logs page by
// page and switches back to its queue under the lock that sends take, so
// nothing is replayed twice or falls in between. Which logs a stream reads
// is decided by the server, from the registered user and the stream's
// rooms, never by the token: a forged id can not read another user's
// events. A caller's Event.ID (or an Options.FrameID id) is searched in the
// stream's own logs instead, newest first.
//
// # No loss is silent
//
// Whatever a stream can not get is told to it, in its stream, at the place
// of loss, by the gap event (Options.GapEvent, default "ssekify:gap";
// NoGapEvent turns it off), before the next event:
//
//	{"reason":"retention","missed":12,"exact":true,"first":"v1.k3x9f2a.2s","last":"v1.k3x9f2a.37"}
//
// reason is "overflow" (DropOldest or DropNewest dropped events),
// "retention" (the logs no longer hold them), "unknown-id" (the
// Last-Event-ID names no position here; lastEventId then carries it,
// clipped to 64 bytes) or "broker" (the broker subscription was lost and
// restored, so events of other instances may be missing). missed counts
// the events lost, exactly when exact is true, at least otherwise; first
// and last are the tokens of the first and last positions lost (first only
// when exact: otherwise the loss lies after the client's position, up to
// last).
//
// Retention, without a goroutine or a timer: each log keeps its newest
// RecentBufferSize events (default 4096); events older than RecentTTL
// (default 30 min) are dropped, and so is a user's or room's log unread for
// that long; beyond RecentMaxUsers (default 10,000) unread logs, the one
// unread the longest is forgotten in O(1); beyond RecentMaxBytes (default
// 64 MiB, counting every byte the logs hold) the oldest events go first,
// whatever their log, in O(1) through a hub-wide index in position order.
// All of it is swept lazily, by the next call into the logs. A log
// remembers what it dropped, and the hub what it forgot, so a client behind
// them gets the gap event. ClearRecent(userID) empties a user's log,
// ClearRecent("") every log. Stats reports ReplayHits, ReplayMisses,
// ReplayedEvents, ReplayLogs, ReplayBytes, ReplayEvicted, CatchUps,
// GapEvents and MissedEvents.
//
// Without Redis the logs are in memory and positions are per instance: a
// client that reconnects to another instance gets the gap event (reason
// "unknown-id"). With a RedisBroker the Publish* events are also in logs on
// Redis, and a default id is a token of both places (this instance's and
// the log's on Redis), so a reconnect to any instance replays them (see
// Redis below); SendTo* events replay on the instance that sent them.
//
// # Auto fields
//
// Object payloads (maps, structs, and JSON objects given as
// json.RawMessage or []byte) get a "timestamp" member when they lack one
// (AutoFields.Timestamp: ISO 8601 UTC with milliseconds by default, epoch
// milliseconds, or off), and, when configured, requestId and traceId
// (AutoField modes: off, if-missing with a Getter given the send's context,
// or required: the send fails with ErrMissingField, nothing is written and
// OnError fires). Members are added to the serialized bytes, before the
// closing brace, so any Serializer whose output is a JSON object works.
// Arrays, scalars and output that is not one well-formed JSON object are
// never touched, and existing members are never changed.
//
// # Sequence numbers
//
// An object payload with a scope key and no "seq" member (Seq.FieldName)
// gets "seq": the next number of its scope, starting at Seq.StartAt
// (default 0). The scope key is, by default, the string or number value of
// the top-level "requestId", else of "streamId" (one key space for both), or
// what Seq.KeyExtractor returns. A final message (Seq.FinalPredicate; by
// default "final": true, or "phase" equal to "done" or "error") gets its
// number and ends the scope: the next message of that key starts again at
// StartAt. A payload that has its own seq is left alone and uses no number.
// This serves the postAndListen pattern: the chunks of one request carry
// its requestId and arrive numbered 0, 1, 2…, the last with phase "done".
//
// On one instance the counters live in memory, in a map bounded by
// Seq.MaxKeys (least recently used evicted in O(1)) whose keys unused for
// Seq.KeyTTL are swept lazily by the next allocation, again without a timer
// (Stats.SeqIncrsLocal). With a broker that is a Counter (RedisBroker is),
// every number comes from an atomic INCR of Seq.KeyPrefix+key with expiry
// Seq.RedisTTL, so all instances, and Send* and Publish* alike, share one
// sequence per key; a final message deletes the key (Stats.SeqIncrsRedis).
// A Publish* through a RedisBroker's logs has the publish script take that
// number, in its one round trip (except on a Cluster, with FrameID, and
// while the Counter is down: then the INCR comes first).
// A send that is refused uses no number: every check runs before the
// number is taken (MaxPayloadBytes includes room for the seq member), and
// when Options.FrameID refuses the final payload the number is given back.
// When the Counter fails, the hub numbers locally for a few seconds before
// it tries Redis again, so a stalled Redis does not slow every send, and
// reports SEQ_KV_FALLBACK (level warn) once per outage, setting
// Stats.LastSeqKvFallbackAt. The numbers handed out locally are a floor for
// the Counter when it is back (FloorCounter, which RedisBroker is), so a
// scope never repeats a number after an outage; two instances numbering
// the same scope during one outage may. A broker without a Counter is
// reported once, the same way.
//
// # Redis
//
// Several instances behind a load balancer form one hub when they share a
// RedisBroker: each Publish* runs one Lua script that appends the event (a
// versioned binary envelope: origin instance, kind, target, event name, a
// caller's id, time, the already encoded payload) to its target's log, a
// Redis Stream under Options.Channel (default "ssekify:bus"), and
// publishes it; every instance, the publisher too, delivers it from its
// subscription, in position order. An instance subscribes to the channels
// of the users and rooms it holds streams for (interest routing) and to
// the tenant channel, which carries everyone's events: it receives what
// its streams need, not the whole cluster's traffic. A client that
// reconnects to any instance with its Last-Event-ID gets exactly the
// Publish* events it missed; an instance whose subscription was lost reads
// what its streams missed from the logs. Malformed envelopes are reported
// (INVALID_ENVELOPE) and dropped. With a Counter (RedisBroker has one) the
// seq of a requestId comes from one Redis INCR with expiry, the same for
// every instance and for Send* and Publish* alike; a publish takes it in
// its own script, so it still costs one round trip.
//
// The simplest set-up is a URL; the hub then owns the client and closes it
// on Shutdown:
//
//	hub, err := ssekify.New(&ssekify.Options{RedisURL: "rediss://app:secret@redis.internal:6380/0"})
//
// For Sentinel or Cluster, or to share a client, build the go-redis client
// yourself and pass NewRedisBroker(client) as Options.Redis; you own that
// client and close it after Hub.Shutdown:
//
//	client := redis.NewFailoverClient(&redis.FailoverOptions{
//		MasterName:    "mymaster",
//		SentinelAddrs: []string{"sentinel-1:26379", "sentinel-2:26379", "sentinel-3:26379"},
//		Password:      os.Getenv("REDIS_PASSWORD"),
//	})
//	// or: redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"node-1:6379", "node-2:6379", "node-3:6379"}})
//	hub, err := ssekify.New(&ssekify.Options{Redis: ssekify.NewRedisBroker(client)})
//
// Multi-tenant: one Hub per tenant, each with its own channel
// ("ssekify:bus:tenant:<id>") and, if they share a scope key space, its own
// Seq.KeyPrefix; the hubs may share one client and never see each other's
// events.
//
// When Redis goes away, local sends keep working and Publish* return an
// error wrapping ErrBroker (such an event is not delivered anywhere); the
// subscription is reported lost (BROKER_SUBSCRIBE, Stats.BrokerReconnects)
// and comes back by itself, with backoff, when Redis returns, which the
// Logger records; the instance then recovers from the logs what its
// streams missed. A Redis that lost its data (a new epoch) is told to the
// streams by the gap event (reason "reset"). A custom Broker keeps no
// logs: it delivers at most once, Publish* deliver here at once, and after
// an outage every stream gets the gap event (reason "broker").
//
// # Shutdown
//
// An SSE stream never ends by itself, so http.Server.Shutdown alone would
// wait for the streams forever. Shut the hub down first, then the server:
//
//	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
//	defer cancel()
//	hub.Shutdown(ctx, ssekify.ShutdownOptions{}) // announce, grace, close streams, broker
//	srv.Shutdown(ctx)                            // no stream holds the server any more
//
// Hub.Shutdown stops accepting (Register answers 503 with Retry-After),
// sends every stream a "server:shutdown" event with a "retry:" hint of its
// own, spread over ShutdownOptions.RetrySpread so that clients reconnect
// spread out rather than all at once, waits the grace period (sends still
// work meanwhile), closes every stream, stops the broker subscription and
// closes what the hub opened. Afterwards sends and publishes return
// ErrClosed. Hub.StopAccepting alone refuses new streams and keeps the open
// ones, for a load balancer to drain the instance first.
//
// # Lean streams
//
// An SSE hub holds many connections that are idle most of the time, so
// what an idle one costs decides how many users a machine serves. On the
// handler path that floor is net/http's: two goroutines per connection
// (the handler's stack grows in net/http's write path and stays so) and
// its buffers. With Options.Lean (or RegisterOptions.Lean: LeanOn, LeanOff
// for one stream), the hub takes an HTTP/1.1 connection over once its
// headers and opening are written (Hijack), and the stream costs about 2
// KiB and no goroutine while idle (TestLeanIdleMemory measures 20,000):
//
//   - Writes happen on demand: sends queue as always and start a writer
//     goroutine only when none runs; it writes everything queued, or reads
//     the logs after an overflow, and ends when nothing is left. Frames are
//     written as chunks of the response body (net/http chunked the head),
//     one Write per batch, under WriteTimeout as on the handler path (the
//     deadline stays set between writes and is renewed before a write once
//     half spent: an expired deadline does nothing to an idle TCP
//     connection); a close by the hub ends the body with its last chunk,
//     then closes the connection.
//   - Heartbeats come from one timer for the whole hub: a wheel of ticks
//     (1/128 of KeepAlive, at most 250ms) that looks only at the streams
//     due, so a ": ping" comes at most a tick after KeepAlive of silence.
//   - A client's leaving (FIN or reset) is noticed at once: on Linux one
//     epoll instance and one goroutine watch every lean socket of the hub;
//     elsewhere, and for a connection that has no descriptor, a goroutine
//     with a 16-byte buffer blocked in a read does.
//
// Everything else is the same: framing, replay and catch-up from the
// logs, queues and policies, Stats (LeanStreams counts the lean ones),
// hooks, StopAccepting and Shutdown, which closes lean streams and waits
// for their writers. TLS works: the connection taken over is the
// *tls.Conn. HTTP/2, HTTP/1.0 and HEAD requests, and ResponseWriters that
// can not be hijacked (themselves or through Unwrap), take the handler
// path by themselves.
//
// What changes for the caller: Register returns nil as soon as a lean
// stream is open, and the stream's end is reported by OnDisconnect only
// (on a goroutine of the hub). Middleware sees status 200 and a handler
// that returns at once: access logs and tracing spans cover the opening,
// not the stream's life, and the request's context ends when the handler
// returns (the stream does not use it). The connection is no longer the
// server's: http.Server.Shutdown and Close do not close it (Hub.Shutdown
// does), and ConnState reports it StateHijacked.
//
// # Observability
//
// Hub.Stats returns counters and gauges (the JSON names of the original
// library) without taking a lock; the github.com/ssekify/ssekify/prometheus
// module exports them to Prometheus. Options.Logger (log/slog, silent by
// default) receives what the caller can not see otherwise: broker
// reconnects, shutdown progress and recovered hook panics (replay evictions
// are counted in Stats.ReplayEvicted). Hooks run without hub
// locks held; a hook that panics is recovered, logged, reported through
// OnError (code HOOK_PANIC) and the hub carries on.
package ssekify
