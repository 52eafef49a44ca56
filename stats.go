package ssekify

import "sync/atomic"

// Stats is a snapshot of the hub's counters and gauges. Its JSON names match
// the original library's stats() so a /stats endpoint looks the same.
type Stats struct {
	// Gauges.
	Connections int64 `json:"connections"`
	// LeanStreams is how many of the connections are lean: taken over by
	// the hub after their headers (Options.Lean).
	LeanStreams int64 `json:"leanStreams"`
	Users       int64 `json:"users"`
	Rooms       int64 `json:"rooms"`
	// Frames written to clients (events, replays and gap signals; not
	// heartbeats).
	Sent int64 `json:"sent"`
	// Backpressure.
	DroppedOldest              int64 `json:"droppedOldest"`
	DroppedNewest              int64 `json:"droppedNewest"`
	DisconnectedByBackpressure int64 `json:"disconnectedByBackpressure"`
	// Highest queue length and queue bytes seen on any connection.
	QueueItemsMax int64 `json:"queueItemsMax"`
	QueueBytesMax int64 `json:"queueBytesMax"`
	// Errors reported through OnError.
	ErrorCount int64 `json:"errorCount"`
	// Sequence numbers.
	SeqIncrsLocal       int64 `json:"seqIncrsLocal"`
	SeqIncrsRedis       int64 `json:"seqIncrsRedis"`
	LastSeqKvFallbackAt int64 `json:"lastSeqKvFallbackAt"` // epoch ms; 0 never
	// Replay and catch-up from the logs (one per user, room and everyone).
	ReplayHits     int64 `json:"replayHits"`     // reconnects with a Last-Event-ID that names a position
	ReplayMisses   int64 `json:"replayMisses"`   // reconnects with an unknown id (gap event sent)
	ReplayedEvents int64 `json:"replayedEvents"` // events written from the logs (reconnects and catch-ups)
	ReplayLogs     int64 `json:"replayLogs"`     // logs held: everyone's, and users' and rooms' read within RecentTTL
	ReplayBytes    int64 `json:"replayBytes"`    // bytes the logs hold: events (frames, data, ids), logs, index; see Options.RecentMaxBytes
	ReplayEvicted  int64 `json:"replayEvicted"`  // events and logs dropped (count, age, byte or log bound)
	CatchUps       int64 `json:"catchUps"`       // queue overflows under CatchUp: the stream read its logs
	GapEvents      int64 `json:"gapEvents"`      // gap events written (overflow, retention, unknown id, broker)
	MissedEvents   int64 `json:"missedEvents"`   // events the gap events counted as lost
	// Cross-instance.
	Published        int64 `json:"published"`        // envelopes published
	PublishErrors    int64 `json:"publishErrors"`    // envelopes the broker refused
	Received         int64 `json:"received"`         // envelopes from other instances
	InvalidEnvelopes int64 `json:"invalidEnvelopes"` // dropped malformed envelopes
	BrokerReconnects int64 `json:"brokerReconnects"` // subscription restarts
	// The logs on Redis (a RedisBroker).
	LogRecoveries   int64 `json:"logRecoveries"`   // reads of the logs after missed envelopes or an outage
	RecoveredEvents int64 `json:"recoveredEvents"` // events those reads delivered
	LogFetches      int64 `json:"logFetches"`      // streams that read the logs on Redis (a reconnect)
	FetchedEvents   int64 `json:"fetchedEvents"`   // events they wrote from there
	LogResets       int64 `json:"logResets"`       // new epochs seen: Redis lost the logs (streams told)
	// Interest routing (a RedisBroker): the channels of users and rooms
	// this instance subscribes to, so that it receives their events only
	// while it holds streams for them (route.go).
	Routes          int64 `json:"routes"`          // user and room channels subscribed, confirmed by Redis
	RoutesPending   int64 `json:"routesPending"`   // user and room channels asked for, not yet confirmed
	RouteCommands   int64 `json:"routeCommands"`   // SUBSCRIBE and UNSUBSCRIBE commands sent for them
	BrokerEnvelopes int64 `json:"brokerEnvelopes"` // envelopes read from the subscription (own and others', before dropping duplicates)
	Accepting       bool  `json:"accepting"`       // false after StopAccepting
}

// counters are the hub's live statistics: atomics only, so Stats never takes
// the hub lock and costs the same with 10 or 100,000 connections.
type counters struct {
	connections, users, rooms                atomic.Int64
	leanStreams                              atomic.Int64
	sent                                     shardedCounter
	droppedOldest, droppedNewest             atomic.Int64
	disconnectedByBackpressure               atomic.Int64
	queueItemsMax, queueBytesMax             atomic.Int64
	errorCount                               atomic.Int64
	seqIncrsLocal, seqIncrsRedis             atomic.Int64
	lastSeqKvFallbackAt                      atomic.Int64
	replayHits, replayMisses, replayedEvents atomic.Int64
	replayLogs, replayBytes, replayEvicted   atomic.Int64
	catchUps, gapEvents, gapMissed           atomic.Int64
	published, publishErrors, received       atomic.Int64
	invalidEnvelopes, brokerReconnects       atomic.Int64
	logRecoveries, recoveredEvents           atomic.Int64
	logFetches, fetchedEvents, logResets     atomic.Int64
	routes, routesPending, routeCommands     atomic.Int64
	brokerEnvelopes                          atomic.Int64
}

// counterShards is how many cache lines the sent counter is spread over.
const counterShards = 32

// shardedCounter is a counter that many goroutines bump at once: each writer
// adds to its own shard (Conn.shard), a cache line of its own, so writers on
// different cores do not contend for one line; load sums the shards, a
// constant cost.
type shardedCounter struct {
	shards [counterShards]struct {
		n atomic.Int64
		_ [56]byte // pad to a 64-byte cache line
	}
}

func (s *shardedCounter) add(shard uint32, n int64) { s.shards[shard%counterShards].n.Add(n) }

func (s *shardedCounter) load() int64 {
	var sum int64
	for i := range s.shards {
		sum += s.shards[i].n.Load()
	}
	return sum
}

// peak raises the queue high-water marks; it writes only when a mark moves.
func (c *counters) peak(items, bytes int) {
	maxInto(&c.queueItemsMax, int64(items))
	maxInto(&c.queueBytesMax, int64(bytes))
}

func maxInto(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Stats returns a snapshot of the counters. It takes no lock and allocates
// nothing proportional to the number of connections.
func (h *Hub) Stats() Stats {
	c := &h.stats
	return Stats{
		Connections:                c.connections.Load(),
		LeanStreams:                c.leanStreams.Load(),
		Users:                      c.users.Load(),
		Rooms:                      c.rooms.Load(),
		Sent:                       c.sent.load(),
		DroppedOldest:              c.droppedOldest.Load(),
		DroppedNewest:              c.droppedNewest.Load(),
		DisconnectedByBackpressure: c.disconnectedByBackpressure.Load(),
		QueueItemsMax:              c.queueItemsMax.Load(),
		QueueBytesMax:              c.queueBytesMax.Load(),
		ErrorCount:                 c.errorCount.Load(),
		SeqIncrsLocal:              c.seqIncrsLocal.Load(),
		SeqIncrsRedis:              c.seqIncrsRedis.Load(),
		LastSeqKvFallbackAt:        c.lastSeqKvFallbackAt.Load(),
		ReplayHits:                 c.replayHits.Load(),
		ReplayMisses:               c.replayMisses.Load(),
		ReplayedEvents:             c.replayedEvents.Load(),
		ReplayLogs:                 c.replayLogs.Load(),
		ReplayBytes:                c.replayBytes.Load(),
		ReplayEvicted:              c.replayEvicted.Load(),
		CatchUps:                   c.catchUps.Load(),
		GapEvents:                  c.gapEvents.Load(),
		MissedEvents:               c.gapMissed.Load(),
		Published:                  c.published.Load(),
		PublishErrors:              c.publishErrors.Load(),
		Received:                   c.received.Load(),
		InvalidEnvelopes:           c.invalidEnvelopes.Load(),
		BrokerReconnects:           c.brokerReconnects.Load(),
		LogRecoveries:              c.logRecoveries.Load(),
		RecoveredEvents:            c.recoveredEvents.Load(),
		LogFetches:                 c.logFetches.Load(),
		FetchedEvents:              c.fetchedEvents.Load(),
		LogResets:                  c.logResets.Load(),
		Routes:                     c.routes.Load(),
		RoutesPending:              c.routesPending.Load(),
		RouteCommands:              c.routeCommands.Load(),
		BrokerEnvelopes:            c.brokerEnvelopes.Load(),
		Accepting:                  !h.stopped.Load(),
	}
}
