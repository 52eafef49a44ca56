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
// full the DropPolicy applies: DropOldest (default), DropNewest or
// Disconnect. A stalled peer costs at most its queue bounds plus kernel
// buffers, and never slows the others.
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
// Every event gets an id: by default "<epochMs>-<instanceID>-<counter>",
// whose counter strictly increases per hub (never two equal ids, even in
// one millisecond); Options.FrameID may supply another, and a caller-given
// Event.ID always wins. The hub keeps, per user, the last RecentBufferSize
// (default 20) events meant for that user, so that a client reconnecting
// with Last-Event-ID (the header, else the lastEventId or last-event-id
// query parameter) gets exactly the events after that id, in order, before
// any live event. Registration and replay happen under the lock that sends
// take, so nothing is duplicated or skipped in between.
//
// Which events are recorded for whom: the hub knows a user from its first
// stream on this instance until RecentTTL (default 30 min) after its last
// one ended. For every known user, connected or not, it records the events
// sent to that user (SendToUser, PublishToUser, and the same from other
// instances), to a room the user is in, and to everyone. A user's rooms are
// those its streams joined; a user whose last stream ends keeps them, so
// room events sent while it is away are recorded too (a room left while
// connected is dropped; a new stream starts afresh with its own rooms). Each
// event is recorded at most once per user, and never copied: buffers share
// the frame the queues hold. A user who never connected to this instance
// has no buffer, and nothing is recorded for it.
//
// When the id is not in the user's buffer (too old, swept, evicted,
// cleared, from another instance, or replay disabled), the hub sends the gap
// event (Options.GapEvent, default "ssekify:gap"; NoGapEvent turns it off)
// and then continues live. Its data tells the client to refetch its state:
//
//	{"lastEventId":"<the id received, clipped to 64 bytes>","oldestId":"<oldest id held, or empty>","reason":"unknown-id"}
//
// with reason "replay-disabled" when RecentBufferSize is negative. Nothing
// is replayed silently wrong: a buffer loses events only from its oldest
// end, or whole.
//
// Memory is bounded three ways, without a goroutine or a timer. Users
// offline for RecentTTL are swept lazily: whenever an event is recorded or
// a user connects or disconnects, expired users are popped from the tail of
// a least-recently-active list, which costs O(1) amortized; that is why the
// hub runs no janitor and an idle hub keeps nothing alive. Beyond
// RecentMaxUsers (default 10,000) the user offline the longest is forgotten,
// in O(1). Beyond RecentMaxBytes (default 64 MiB; a shared frame counts
// once) whole buffers are dropped, offline users' first. A user with an
// open stream is never swept nor forgotten; only the byte bound may empty
// its buffer. ClearRecent(userID) forgets an offline user, or empties a
// connected user's buffer; ClearRecent("") does so for everyone. Stats
// reports ReplayHits, ReplayMisses, ReplayedEvents, ReplayUsers, ReplayBytes
// and ReplayEvicted.
//
// The store sits behind a small internal interface so that one shared by
// every instance can replace it without the hub changing. Until then replay
// is per instance: a client that reconnects to another instance gets the
// gap event.
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
// When an INCR fails, that message is numbered by the local counter, which
// follows the last number the Counter gave, and SEQ_KV_FALLBACK (level
// warn) is reported and Stats.LastSeqKvFallbackAt set. A broker without a
// Counter is reported once, the same way.
//
// # Redis
//
// Several instances behind a load balancer form one hub when they share a
// Broker: each Publish* delivers to the streams of its own instance at once,
// then publishes a versioned JSON envelope (kind, target, event name, id,
// the already encoded payload, origin instance, time) on Options.Channel
// (default "ssekify:bus"); every other instance delivers it to its streams,
// and an instance ignores its own. Malformed envelopes are reported
// (INVALID_ENVELOPE) and dropped. With a Counter (RedisBroker has one) the
// seq of a requestId comes from one Redis INCR with expiry, the same for
// every instance and for Send* and Publish* alike.
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
// When Redis goes away, local sends keep working and Publish* deliver
// locally and return an error wrapping ErrBroker; the subscription is
// reported lost (BROKER_SUBSCRIBE, Stats.BrokerReconnects) and comes back by
// itself, with backoff, when Redis returns, which the Logger records. Pub/Sub
// delivers at most once: events published during the outage do not reach
// the other instances, and a client that reconnects elsewhere gets the gap
// event rather than a wrong replay. Redis delivers the events of different
// publishers in the order it executed their PUBLISH commands; see
// RedisBroker.
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
