package ssekify

import (
	"context"
	"fmt"
)

// PublishToUser delivers ev to userID's streams on this instance at once,
// then publishes it through the broker (Options.Redis or Options.RedisURL)
// so every other instance delivers it to its own streams of userID; this
// instance ignores its own envelope when it comes back, so nothing arrives
// twice. The event is prepared once (auto fields, the global seq, id,
// frame): every instance writes the same bytes. Without a broker it is
// local only.
//
// An error wrapping ErrBroker (also reported as BROKER_PUBLISH) means the
// local delivery happened but the other instances did not get the event,
// typically because Redis is unreachable. ctx bounds the publish.
//
// Events published by one instance reach the others in the order it
// published them; see RedisBroker for the order across publishers.
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
	m, err := h.prepare(ctx, kind, target, ev, true)
	if err != nil {
		return err
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
