// Package ssekifyprom exports the statistics of an ssekify.Hub to Prometheus.
//
// It is a module of its own, so that the ssekify core never depends on the
// Prometheus client library:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(ssekifyprom.NewCollector(hub))
//	http.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every field of ssekify.Stats becomes one metric named ssekify_<name>:
// counters (ending in _total) for what only grows, gauges for the rest. A
// scrape calls Hub.Stats once, which takes no lock.
package ssekifyprom

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ssekify/ssekify"
)

// DefaultNamespace prefixes every metric name.
const DefaultNamespace = "ssekify"

// Option configures NewCollector.
type Option func(*config)

type config struct {
	namespace string
	labels    prometheus.Labels
}

// WithNamespace replaces the "ssekify" prefix of the metric names.
func WithNamespace(ns string) Option { return func(c *config) { c.namespace = ns } }

// WithConstLabels adds labels to every metric, e.g. {"tenant": id} when a
// process runs one hub per tenant and registers a collector for each.
func WithConstLabels(l prometheus.Labels) Option { return func(c *config) { c.labels = l } }

// metric describes how one Stats field is exported.
type metric struct {
	json  string // the Stats field's JSON name
	name  string // the metric name, without the namespace
	help  string
	typ   prometheus.ValueType
	value func(*ssekify.Stats) float64
}

// metrics lists every Stats field.
var metrics = []metric{
	gauge("connections", "connections", "Open streams on this instance.",
		func(s *ssekify.Stats) int64 { return s.Connections }),
	gauge("leanStreams", "lean_streams", "Open streams the hub took over after their headers (Options.Lean).",
		func(s *ssekify.Stats) int64 { return s.LeanStreams }),
	gauge("users", "users", "Users with at least one open stream on this instance.",
		func(s *ssekify.Stats) int64 { return s.Users }),
	gauge("rooms", "rooms", "Rooms with at least one open stream on this instance.",
		func(s *ssekify.Stats) int64 { return s.Rooms }),
	counter("sent", "sent_frames_total", "Event frames written to clients (heartbeats excluded).",
		func(s *ssekify.Stats) int64 { return s.Sent }),
	counter("droppedOldest", "dropped_oldest_frames_total", "Queued frames dropped to make room for newer ones (DropOldest).",
		func(s *ssekify.Stats) int64 { return s.DroppedOldest }),
	counter("droppedNewest", "dropped_newest_frames_total", "New frames discarded because a queue was full (DropNewest).",
		func(s *ssekify.Stats) int64 { return s.DroppedNewest }),
	counter("disconnectedByBackpressure", "backpressure_disconnects_total", "Streams closed because their queue was full (Disconnect).",
		func(s *ssekify.Stats) int64 { return s.DisconnectedByBackpressure }),
	gauge("queueItemsMax", "queue_items_max", "Highest number of frames queued on any stream so far.",
		func(s *ssekify.Stats) int64 { return s.QueueItemsMax }),
	gauge("queueBytesMax", "queue_bytes_max", "Highest number of bytes queued on any stream so far.",
		func(s *ssekify.Stats) int64 { return s.QueueBytesMax }),
	counter("errorCount", "errors_total", "Errors reported through OnError.",
		func(s *ssekify.Stats) int64 { return s.ErrorCount }),
	counter("seqIncrsLocal", "seq_incrs_local_total", "Sequence numbers drawn from the in-memory counter.",
		func(s *ssekify.Stats) int64 { return s.SeqIncrsLocal }),
	counter("seqIncrsRedis", "seq_incrs_redis_total", "Sequence numbers drawn from the broker's shared counter.",
		func(s *ssekify.Stats) int64 { return s.SeqIncrsRedis }),
	{json: "lastSeqKvFallbackAt", name: "last_seq_kv_fallback_timestamp_seconds",
		help:  "When sequence numbers last fell back from the shared counter to memory, in Unix seconds (0: never).",
		typ:   prometheus.GaugeValue,
		value: func(s *ssekify.Stats) float64 { return float64(s.LastSeqKvFallbackAt) / 1000 }},
	counter("replayHits", "replay_hits_total", "Reconnects whose Last-Event-ID was found in the replay buffer.",
		func(s *ssekify.Stats) int64 { return s.ReplayHits }),
	counter("replayMisses", "replay_misses_total", "Reconnects whose Last-Event-ID was unknown (gap signalled).",
		func(s *ssekify.Stats) int64 { return s.ReplayMisses }),
	counter("replayedEvents", "replayed_events_total", "Events written from the logs (reconnects and catch-ups).",
		func(s *ssekify.Stats) int64 { return s.ReplayedEvents }),
	gauge("replayLogs", "replay_logs", "Logs held: everyone's, and the users' and rooms' read within RecentTTL.",
		func(s *ssekify.Stats) int64 { return s.ReplayLogs }),
	gauge("replayBytes", "replay_bytes", "Bytes the logs hold: events, logs and the position index.",
		func(s *ssekify.Stats) int64 { return s.ReplayBytes }),
	counter("replayEvicted", "replay_evicted_total", "Events and logs dropped (count, age, byte or log bound).",
		func(s *ssekify.Stats) int64 { return s.ReplayEvicted }),
	counter("catchUps", "catch_ups_total", "Queue overflows after which a stream read its logs (CatchUp).",
		func(s *ssekify.Stats) int64 { return s.CatchUps }),
	counter("gapEvents", "gap_events_total", "Gap events written: losses told to clients in their streams.",
		func(s *ssekify.Stats) int64 { return s.GapEvents }),
	counter("missedEvents", "missed_events_total", "Events the gap events counted as lost.",
		func(s *ssekify.Stats) int64 { return s.MissedEvents }),
	counter("published", "published_total", "Envelopes published to other instances.",
		func(s *ssekify.Stats) int64 { return s.Published }),
	counter("publishErrors", "publish_errors_total", "Envelopes the broker refused.",
		func(s *ssekify.Stats) int64 { return s.PublishErrors }),
	counter("received", "received_total", "Envelopes received from other instances.",
		func(s *ssekify.Stats) int64 { return s.Received }),
	counter("invalidEnvelopes", "invalid_envelopes_total", "Malformed envelopes received and dropped.",
		func(s *ssekify.Stats) int64 { return s.InvalidEnvelopes }),
	counter("brokerReconnects", "broker_reconnects_total", "Times the broker subscription was lost and restarted.",
		func(s *ssekify.Stats) int64 { return s.BrokerReconnects }),
	counter("logRecoveries", "log_recoveries_total", "Reads of the logs on Redis after missed envelopes or an outage.",
		func(s *ssekify.Stats) int64 { return s.LogRecoveries }),
	counter("recoveredEvents", "recovered_events_total", "Events those reads delivered.",
		func(s *ssekify.Stats) int64 { return s.RecoveredEvents }),
	counter("logFetches", "log_fetches_total", "Streams that read the logs on Redis on a reconnect.",
		func(s *ssekify.Stats) int64 { return s.LogFetches }),
	counter("fetchedEvents", "fetched_events_total", "Events streams wrote from the logs on Redis.",
		func(s *ssekify.Stats) int64 { return s.FetchedEvents }),
	counter("logResets", "log_resets_total", "New epochs of the logs on Redis (Redis lost them; streams told).",
		func(s *ssekify.Stats) int64 { return s.LogResets }),
	gauge("routes", "routes", "User and room channels this instance subscribes to (interest routing), confirmed by Redis.",
		func(s *ssekify.Stats) int64 { return s.Routes }),
	gauge("routesPending", "routes_pending", "User and room channels asked for and not yet confirmed by Redis.",
		func(s *ssekify.Stats) int64 { return s.RoutesPending }),
	counter("routeCommands", "route_commands_total", "SUBSCRIBE and UNSUBSCRIBE commands sent for user and room channels.",
		func(s *ssekify.Stats) int64 { return s.RouteCommands }),
	counter("brokerEnvelopes", "broker_envelopes_total", "Envelopes read from the broker subscription, own and others', duplicates included.",
		func(s *ssekify.Stats) int64 { return s.BrokerEnvelopes }),
	{json: "accepting", name: "accepting", help: "1 while the hub accepts new streams, 0 after StopAccepting or Shutdown.",
		typ: prometheus.GaugeValue,
		value: func(s *ssekify.Stats) float64 {
			if s.Accepting {
				return 1
			}
			return 0
		}},
}

func gauge(json, name, help string, v func(*ssekify.Stats) int64) metric {
	return metric{json: json, name: name, help: help, typ: prometheus.GaugeValue,
		value: func(s *ssekify.Stats) float64 { return float64(v(s)) }}
}

func counter(json, name, help string, v func(*ssekify.Stats) int64) metric {
	return metric{json: json, name: name, help: help, typ: prometheus.CounterValue,
		value: func(s *ssekify.Stats) float64 { return float64(v(s)) }}
}

// collector is the prometheus.Collector of one hub.
type collector struct {
	hub   *ssekify.Hub
	descs []*prometheus.Desc // parallel to metrics
}

// NewCollector returns a collector exporting hub's Stats. Register it with
// a prometheus.Registerer; register one per hub, told apart by
// WithConstLabels (or WithNamespace).
func NewCollector(hub *ssekify.Hub, opts ...Option) prometheus.Collector {
	cfg := config{namespace: DefaultNamespace}
	for _, o := range opts {
		o(&cfg)
	}
	c := &collector{hub: hub, descs: make([]*prometheus.Desc, len(metrics))}
	for i, m := range metrics {
		c.descs[i] = prometheus.NewDesc(prometheus.BuildFQName(cfg.namespace, "", m.name), m.help, nil, cfg.labels)
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one Stats snapshot per scrape.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := c.hub.Stats()
	for i, m := range metrics {
		ch <- prometheus.MustNewConstMetric(c.descs[i], m.typ, m.value(&st))
	}
}
