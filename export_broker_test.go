package ssekify

import (
	"context"
)

// StopSubscription stops h's broker subscription and waits for its
// goroutine to end, as Shutdown does.
func StopSubscription(h *Hub) {
	if h.subStop != nil {
		h.subStop()
	}
}

// HubBroker returns h's broker and whether h built it (and so closes it).
func HubBroker(h *Hub) (Broker, bool) { return h.broker, h.ownsBroker }

// EnvelopeFields is what h read from an envelope: the message it would
// deliver and the envelope's other fields.
type EnvelopeFields struct {
	Kind, Target, Name, ID string
	Data, Frame            []byte
	DataInFrame            bool
	Origin                 string
	Time                   int64
	Logged                 bool
}

// DecodeEnvelope decodes raw as h does when it receives it from the broker.
func DecodeEnvelope(h *Hub, raw []byte) (EnvelopeFields, error) {
	m, meta, err := h.decodeEnvelope(raw)
	if err != nil {
		return EnvelopeFields{}, err
	}
	return EnvelopeFields{Kind: m.kind.String(), Target: m.target, Name: m.name, ID: m.id,
		Data: m.data, Frame: m.wire(), DataInFrame: m.dataInFrame, Origin: string(meta.origin),
		Time: meta.time, Logged: meta.logged}, nil
}

// DecodeEnvelopeFrame decodes raw as h does when it receives it from the
// broker and returns the frame h would deliver.
func DecodeEnvelopeFrame(h *Hub, raw []byte) ([]byte, error) {
	m, _, err := h.decodeEnvelope(raw)
	if err != nil {
		return nil, err
	}
	return m.wire(), nil
}

// EncodeEnvelope returns the envelope h publishes for an event of kind
// ("user", "room" or "all") to target, as prepared by Publish*.
func EncodeEnvelope(h *Hub, kind, target, name, id string, data []byte) ([]byte, error) {
	k := map[string]targetKind{"user": kindUser, "room": kindRoom, "all": kindAll}[kind]
	return h.encodeEnvelope(&message{kind: k, target: target, name: name, id: id, data: data})
}

// ReceiveEnvelope hands raw to h as its broker subscription does.
func ReceiveEnvelope(h *Hub, raw []byte) { _ = h.receive(context.Background(), raw) }

// MaxEnvelopeBytes is the largest envelope h accepts.
func MaxEnvelopeBytes(h *Hub) int { return h.maxEnvelopeBytes() }

// RedisLogKey is the key of a user's ("user"), room's ("room") or
// everyone's ("all") log on Redis.
func RedisLogKey(channel, kind, target string) string {
	k := map[string]targetKind{"user": kindUser, "room": kindRoom, "all": kindAll}[kind]
	return redisLogKey(channel, logKey{k, target})
}

// PublishPipelines returns how many pipelines of queued publishes b sent,
// and how many scripts they held.
func PublishPipelines(b *RedisBroker) (pipelines, scripts int64) {
	return b.pub.pipelines.Load(), b.pub.pipelined.Load()
}

// BatchEvent is one event of a publish batch: the key of its log and its
// framed envelope.
type BatchEvent struct {
	Log string
	Env []byte
}

// LoggedEnvelope returns the parts of the envelope h publishes through the
// logs for an event of kind ("user", "room" or "all") to target.
func LoggedEnvelope(h *Hub, kind, target string, data []byte) BatchEvent {
	k := map[string]targetKind{"user": kindUser, "room": kindRoom, "all": kindAll}[kind]
	m := &message{kind: k, target: target, data: data}
	env, err := h.encodeLoggedEnvelope(m)
	if err != nil {
		panic(err)
	}
	return BatchEvent{Log: redisLogKey(h.opts.Channel, logKey{k, target}), Env: env}
}

// PublishBatch runs b's publish script once for events of channel, each
// log keeping maxLen events, and returns each event's epoch and position.
func PublishBatch(ctx context.Context, b *RedisBroker, channel string, maxLen int, events []BatchEvent) ([][2]uint64, error) {
	calls := make([]*pubCall, len(events))
	for i, e := range events {
		calls[i] = &pubCall{channel: channel, log: e.Log, env: e.Env,
			r: logRetention{maxLen: maxLen, ttlMs: 60_000, clockLen: 100, nowMs: 1}}
	}
	s := b.newScriptCall(calls)
	s.result(publishScript.Run(ctx, b.client, s.keys, s.args...))
	out := make([][2]uint64, len(calls))
	for i, c := range calls {
		if c.err != nil {
			return nil, c.err
		}
		out[i] = [2]uint64{c.epoch, c.pos}
	}
	return out, nil
}

// EnvelopeBatch and EnvelopeMark are the first bytes of a batch message
// and of a mark.
const (
	EnvelopeBatch = envelopeBatch
	EnvelopeMark  = envelopeMark
)

// BatchLen is how many of queued envelopes of the given sizes the next
// publish batch takes.
func BatchLen(sizes []int) int {
	queue := make([]*pubCall, len(sizes))
	for i, n := range sizes {
		queue[i] = &pubCall{env: make([]byte, n)}
	}
	return batchLen(queue)
}

// MaxPublishBatch and MaxPublishBatchBytes bound one publish batch.
const (
	MaxPublishBatch      = maxPublishBatch
	MaxPublishBatchBytes = maxPublishBatchBytes
)

// ShardedBroker makes b behave as on a Cluster (sharded Pub/Sub) whatever
// its client.
func ShardedBroker(b *RedisBroker) *RedisBroker { b.sharded = true; return b }
