package ssekify

import (
	"context"
	"fmt"
)

// PublishToUser delivers ev to userID's streams on every instance.
//
// With a RedisBroker (Options.Redis or Options.RedisURL), the event is
// appended to the user's log on Redis and published there, in one atomic
// script; every instance, this one included, delivers it to its streams
// from its subscription, in the order of the log, and a client that
// reconnects to any instance with its Last-Event-ID gets it if it missed
// it. It returns once Redis has the event. An error wrapping ErrBroker
// (also reported as BROKER_PUBLISH) means that the event is not known to
// be published: it was not delivered here either, and after a timeout it
// may still have reached Redis (then every instance delivers it, once).
//
// With another Broker, it delivers ev here at once, then publishes it so
// every other instance delivers it to its own streams (an error then
// means the local delivery happened but the others did not get it).
// Without a broker it is local only. The event is prepared once (auto
// fields, the global seq, id, frame): every instance writes the same
// bytes. ctx bounds the publish.
func (h *Hub) PublishToUser(ctx context.Context, userID string, ev Event) error {
	return h.publish(ctx, kindUser, userID, ev)
}

// PublishToRoom is PublishToUser for every stream in room, on every instance.
func (h *Hub) PublishToRoom(ctx context.Context, room string, ev Event) error {
	return h.publish(ctx, kindRoom, room, ev)
}

// Publish is PublishToUser for every stream on every instance.
func (h *Hub) Publish(ctx context.Context, ev Event) error {
	return h.publish(ctx, kindAll, "", ev)
}

func (h *Hub) publish(ctx context.Context, kind targetKind, target string, ev Event) error {
	var q scriptSeq
	offer := &q
	if !h.scriptSeqs() {
		offer = nil
	}
	m, err := h.prepare(ctx, kind, target, ev, true, offer)
	if err != nil {
		return err
	}
	if h.lb != nil {
		return h.publishLogged(ctx, m, q)
	}
	h.hookMessageSent(m, h.deliver(m))
	if h.broker == nil {
		return nil
	}
	env, err := h.encodeEnvelope(m)
	if err == nil {
		err = h.broker.Publish(ctx, h.opts.Channel, env)
	}
	if err != nil {
		h.stats.publishErrors.Add(1)
		err = fmt.Errorf("%w: publish to %s: %w", ErrBroker, h.opts.Channel, err)
		h.reportErr(&Error{Code: CodeBrokerPublish, Level: LevelError, Op: "publish", Target: target, Err: err})
		return err
	}
	h.stats.published.Add(1)
	return nil
}

// publishLogged appends m to its target's log on Redis and publishes it, in
// one script. Every instance, this one included, delivers it from its
// subscription, in position order (follow.go); a hub that does not
// subscribe (PublishOnly) delivers it to its own streams at once. On an
// error nothing is delivered here, and the event may still have reached
// Redis (a reply lost on the way): the caller learns that it is not known
// to be published.
//
// When q is used, the script numbers m's seq member (seq_script.go): m's
// payload holds the member's name without a number, and the envelope gets
// the number in Redis.
func (h *Hub) publishLogged(ctx context.Context, m *message, q scriptSeq) error {
	env, err := h.encodeLoggedEnvelope(m)
	if err == nil {
		key := redisLogKey(h.opts.Channel, logKey{m.kind, m.target})
		_, _, q.v, err = h.lb.appendPublish(ctx, h.opts.Channel, key, env, h.retention(), q)
	}
	if err != nil {
		h.stats.publishErrors.Add(1)
		err = fmt.Errorf("%w: publish to %s: %w", ErrBroker, h.opts.Channel, err)
		h.reportErr(&Error{Code: CodeBrokerPublish, Level: LevelError, Op: "publish", Target: m.target, Err: err})
		return err
	}
	h.stats.published.Add(1)
	if q.used() {
		h.seq.tookScript(&q)
		if h.opts.PublishOnly {
			m = m.withSeq(&q)
		}
	}
	if h.opts.PublishOnly {
		h.hookMessageSent(m, h.deliver(m))
	}
	return nil
}
