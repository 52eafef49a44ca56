package ssekify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Interest routing: with a RedisBroker, the publish script publishes each
// event of a user's or a room's log on that log's own channel (its key's
// name, in the channel's slot), and an instance subscribes to the
// channels of the users and rooms it holds streams for, plus the tenant
// channel (Options.Channel), which carries the events for everyone, and
// its own mark channel. So an instance receives the events of its own
// streams, not the whole cluster's.
//
// One subscription connection carries every channel of the hub, in the
// order Redis published them. A mark is a script that publishes the log's
// newest position on an instance's mark channel: it reaches the instance
// after every message published before it, so when it arrives the
// instance has received everything of its channels up to that position
// (follower.last). A new channel is asked for with SUBSCRIBE; once Redis
// confirmed it, the instance asks for a mark: from the mark's position on,
// the channel's events arrive live, and a stream of that user or room
// that waited for it reads the logs up to there. Nothing falls between.
// Marks also come once a second, so that the instance's position (which
// its streams' tokens carry) stays fresh when none of its channels has
// traffic.
//
// A route is one such channel. Register (and a runtime Join) asks for its
// routes first and waits, at most routeWait, for them to be live; then it
// registers the stream, which holds them. A route stays subscribed while
// streams here read its log and for Options.RouteGrace after the last one left,
// so a client that reconnects at once costs no command. Changes are
// batched: one sender per subscription session sends every queued channel
// in one SUBSCRIBE (or UNSUBSCRIBE) per routeChunk channels, waits for
// their confirmations, asks for one mark, and lets routeGather pass before
// the next batch.
//
// When the subscription is lost, every route is subscribed again with the
// tenant and mark channels in the next session, which is ready once Redis
// confirmed them all; the follower then reads the logs for what the
// streams here missed (follow.go). A stream that registers while there is
// no session does not wait: that recovery covers it.

// Bounds and pacing of interest routing.
const (
	// routeWait bounds a Register's or Join's wait for Redis to confirm
	// its routes; beyond, the session is taken as broken and made again
	// (its recovery then covers the stream).
	routeWait = 2 * time.Second
	// routeSweepMin bounds how often idle routes are swept (a negative
	// Options.RouteGrace drops them at the next sweep).
	routeSweepMin = 10 * time.Millisecond
	// routeChunk bounds the channels of one SUBSCRIBE or UNSUBSCRIBE.
	routeChunk = 1000
	// routeGather is how long the sender lets changes gather after a
	// batch before it sends the next, so that many streams arriving at
	// once share commands.
	routeGather = 2 * time.Millisecond
	// markEvery is how often an instance asks for a mark when nothing
	// else did.
	markEvery = time.Second
)

// errRoutesUnconfirmed ends a session whose routes Redis did not confirm
// within routeWait.
var errRoutesUnconfirmed = errors.New("the subscription of a user's or room's channel was not live in time (no confirmation or mark from Redis)")

// router is the hub's set of routes and its current subscription session.
type router struct {
	hub      *Hub
	mu       sync.Mutex
	routes   map[string]*route // by channel
	idle     map[string]*route // the routes without streams or wants
	unmarked []*route          // subscribed in this session, waiting for a mark
	sess     *routeSession     // nil while no subscription runs
	grace    time.Duration     // Options.RouteGrace
	markSeq  uint64            // the number of the last mark asked for
	lastMark time.Time         // when it was asked for
	senders  sync.WaitGroup    // the sessions' senders, which may outlive their session
}

// route is one user's or room's channel.
type route struct {
	ch         string
	key        logKey
	refs       int           // streams here that read its log
	wants      int           // Register and Join calls waiting for it, or about to hold it
	idleSince  time.Time     // when refs and wants last fell to 0
	subscribed bool          // Redis confirmed its SUBSCRIBE in the current session
	confirmed  bool          // live: a mark came after its SUBSCRIBE, in this session or an earlier one
	ready      chan struct{} // closed when confirmed
	asked      bool          // a SUBSCRIBE for it is out in the current session
}

// routeSession is one subscription's part of the routing: the changes
// queued for its sender and the confirmations it waits for.
type routeSession struct {
	wake    chan struct{} // a change is queued (1-buffered)
	lost    chan struct{} // closed when the session ended: it reads no more messages
	endOnce sync.Once
	cancel  context.CancelCauseFunc

	adds        []string            // SUBSCRIBEs queued (router.mu)
	unsubs      map[string]int      // UNSUBSCRIBEs out, not yet confirmed (router.mu)
	outstanding int                 // SUBSCRIBEd channels not yet confirmed (router.mu)
	marks       map[uint64][]*route // routes waiting for the mark of that number (router.mu)
	settled     chan struct{}       // outstanding reached 0 (1-buffered)
}

func newRouter(h *Hub) *router {
	return &router{hub: h, routes: make(map[string]*route), idle: make(map[string]*route), grace: max(h.opts.RouteGrace, 0)}
}

// routeChannel is the channel of a user's or room's log: its key's name.
func (rt *router) routeChannel(k logKey) string { return redisLogKey(rt.hub.opts.Channel, k) }

// want asks for the routes of keys (a user's and rooms', not everyone's)
// and returns what the caller must wait for: the ready channels of those
// not confirmed, and the session that asked for them. Nothing to wait for
// when every route is confirmed or no session runs (its recovery will
// cover the stream). Each route is kept until the caller calls done.
func (rt *router) want(keys []logKey) ([]chan struct{}, *routeSession) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	var wait []chan struct{}
	for _, k := range keys {
		if k.kind == kindAll {
			continue
		}
		r := rt.get(k)
		r.wants++
		if !r.confirmed && rt.sess != nil {
			wait = append(wait, r.ready)
		}
	}
	if len(wait) == 0 {
		return nil, nil
	}
	return wait, rt.sess
}

// done ends a want of keys, once the caller holds them (or gave up).
func (rt *router) done(keys []logKey) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, k := range keys {
		if r := rt.routes[rt.routeChannel(k)]; r != nil && k.kind != kindAll && r.wants > 0 {
			r.wants--
			rt.idled(r)
		}
	}
}

// idled notes when r lost its last stream and want. rt.mu held.
func (rt *router) idled(r *route) {
	if r.refs == 0 && r.wants == 0 {
		r.idleSince = time.Now()
		rt.idle[r.ch] = r
	}
}

// ask queues the SUBSCRIBE of a new route in the current session.
// rt.mu held.
func (rt *router) ask(ch string, r *route) {
	s := rt.sess
	if s == nil || r.asked {
		return
	}
	r.asked = true
	s.adds = append(s.adds, ch)
	s.signal()
}

// wait waits until the routes want returned are confirmed. When Redis
// does not confirm them within routeWait, the session is ended (and made
// again) and wait returns once it has ended: the next session's recovery
// covers the streams then.
func (rt *router) wait(wait []chan struct{}, s *routeSession) {
	if len(wait) == 0 {
		return
	}
	t := time.NewTimer(routeWait)
	defer t.Stop()
	for _, ready := range wait {
		select {
		case <-ready:
		case <-s.lost:
			return
		case <-t.C:
			s.cancel(fmt.Errorf("%w (%v)", errRoutesUnconfirmed, routeWait))
			<-s.lost
			return
		}
	}
}

// hold and release count the streams that read a route's log. h.mu held.
func (rt *router) hold(k logKey) {
	if k.kind == kindAll {
		return
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	// Every path asks for its routes first (want), so the route is there;
	// if it were not, it would be asked for now.
	rt.get(k).refs++
}

// get returns the route of key k, made and asked for when there is none,
// and no longer idle: the caller counts a want or a stream on it. rt.mu
// held.
func (rt *router) get(k logKey) *route {
	ch := rt.routeChannel(k)
	r := rt.routes[ch]
	if r == nil {
		r = &route{ch: ch, key: k, ready: make(chan struct{})}
		rt.routes[ch] = r
		rt.hub.stats.routesPending.Add(1)
		rt.ask(ch, r)
	}
	delete(rt.idle, ch)
	return r
}

func (rt *router) release(k logKey) {
	if k.kind == kindAll {
		return
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if r := rt.routes[rt.routeChannel(k)]; r != nil && r.refs > 0 {
		r.refs--
		rt.idled(r)
	}
}

// begin starts a session: it returns the channels to subscribe to with
// the tenant channel (every route), each then waited for by the session.
func (rt *router) begin(cancel context.CancelCauseFunc) (*routeSession, []string) {
	s := &routeSession{
		wake:    make(chan struct{}, 1),
		lost:    make(chan struct{}),
		settled: make(chan struct{}, 1),
		cancel:  cancel,
		unsubs:  make(map[string]int),
		marks:   make(map[uint64][]*route),
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.sess = s
	chans := make([]string, 0, len(rt.routes))
	for ch, r := range rt.routes {
		r.asked = true
		chans = append(chans, ch)
	}
	return s, chans
}

// end ends the session s, once it reads no more messages: its waiters
// are released; routes not confirmed are asked for again in the next
// session. It may be called more than once.
func (rt *router) end(s *routeSession) {
	s.endOnce.Do(func() { rt.endOnce(s) })
}

func (rt *router) endOnce(s *routeSession) {
	rt.mu.Lock()
	if rt.sess == s {
		rt.sess = nil
	}
	for _, r := range rt.routes {
		r.asked, r.subscribed = false, false
	}
	rt.unmarked = nil
	rt.mu.Unlock()
	close(s.lost)
}

// readied marks the routes of the session's first SUBSCRIBE confirmed,
// once Redis confirmed it whole and the follower synced: the streams
// waiting for them read the logs up to where the sync left the follower.
func (rt *router) readied(initial []string) {
	h := rt.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, ch := range initial {
		if r := rt.routes[ch]; r != nil {
			rt.confirm(r)
		}
	}
}

// subscribed handles Redis's confirmation of a route's SUBSCRIBE: the
// route is live from the next mark (mark).
func (rt *router) subscribed(s *routeSession, ch string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if s.outstanding > 0 {
		s.outstanding--
		if s.outstanding == 0 {
			select {
			case s.settled <- struct{}{}:
			default:
			}
		}
	}
	if r := rt.routes[ch]; r != nil && !r.subscribed {
		r.subscribed = true
		if !r.confirmed {
			rt.unmarked = append(rt.unmarked, r)
		}
	}
}

// marked confirms the routes waiting for the marks up to seq, which came
// (in order): the follower stands at the mark's position.
func (rt *router) marked(seq uint64) {
	h := rt.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	s := rt.sess
	if s == nil {
		return
	}
	for n, routes := range s.marks {
		if n > seq {
			continue
		}
		for _, r := range routes {
			rt.confirm(r)
		}
		delete(s.marks, n)
	}
}

// confirm marks r confirmed. The memory log of its target, when one was
// kept while the route was not subscribed, lacks what was published
// meanwhile: it no longer covers a token from before now. h.mu and rt.mu
// held.
func (rt *router) confirm(r *route) {
	if r.confirmed {
		return
	}
	r.confirmed = true
	close(r.ready)
	rt.hub.stats.routesPending.Add(-1)
	rt.hub.stats.routes.Add(1)
	rt.hub.logs.partial(r.key, rt.hub.pos)
}

// take returns the queued changes of s and, when sweep, the idle routes
// past their grace, which it drops.
func (rt *router) take(s *routeSession, now time.Time, sweep bool) (adds, drops []string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.sess != s {
		return nil, nil // the session ended: its sender only winds down
	}
	adds, s.adds = s.adds, nil
	select {
	case <-s.settled: // of an earlier batch
	default:
	}
	if sweep {
		drops = rt.sweep(s, now)
	}
	s.outstanding += len(adds)
	return adds, drops
}

// sweep drops the idle routes past their grace and returns their
// channels, to unsubscribe in session s. rt.mu held.
func (rt *router) sweep(s *routeSession, now time.Time) (drops []string) {
	for ch, r := range rt.idle {
		if r.confirmed && now.Sub(r.idleSince) >= rt.grace {
			delete(rt.idle, ch)
			delete(rt.routes, ch)
			rt.hub.stats.routes.Add(-1)
			drops = append(drops, ch)
			s.unsubs[ch]++
		}
	}
	return drops
}

// ourUnsubscribe reports whether an unsubscribe confirmation of ch answers
// one of s's UNSUBSCRIBEs (and not Redis moving the slot away).
func (rt *router) ourUnsubscribe(s *routeSession, ch string) bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if s.unsubs[ch] == 0 {
		return false
	}
	s.unsubs[ch]--
	if s.unsubs[ch] == 0 {
		delete(s.unsubs, ch)
	}
	return true
}

// signal wakes the session's sender.
func (s *routeSession) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// routeCommands sends the route changes of a session: subscribe and
// unsubscribe send one command for up to routeChunk channels.
type routeCommands struct {
	subscribe, unsubscribe func(ctx context.Context, chans ...string) error
}

// send runs the sender of session s until ctx ends: it sends the queued
// changes in batches, asks for a mark after each batch of SUBSCRIBEs (and
// every markEvery), and drops idle routes every grace/2. A failed command
// ends the session.
func (rt *router) send(ctx context.Context, s *routeSession, cmds routeCommands) {
	tick := time.NewTicker(rt.tickEvery())
	defer tick.Stop()
	for {
		sweep := false
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
			sweep = true
		}
		adds, drops := rt.take(s, time.Now(), sweep)
		if err := rt.chunks(ctx, cmds.unsubscribe, drops); err != nil {
			s.cancel(err)
			return
		}
		if err := rt.chunks(ctx, cmds.subscribe, adds); err != nil {
			s.cancel(err)
			return
		}
		if len(adds) > 0 {
			rt.settle(ctx, s)
		}
		if err := rt.mark(ctx, s, len(adds) > 0); err != nil {
			s.cancel(err)
			return
		}
		if len(adds) > 0 {
			gather(ctx)
		}
	}
}

// mark asks for a mark when routes wait for one (subscribed, not yet
// live), or when none was asked for within markEvery.
func (rt *router) mark(ctx context.Context, s *routeSession, force bool) error {
	rt.mu.Lock()
	if rt.sess != s {
		rt.mu.Unlock()
		return nil
	}
	waiting := rt.unmarked
	rt.unmarked = nil
	now := time.Now()
	if len(waiting) == 0 && !force && now.Sub(rt.lastMark) < markEvery {
		rt.mu.Unlock()
		return nil
	}
	rt.markSeq++
	seq := rt.markSeq
	rt.lastMark = now
	if len(waiting) > 0 {
		s.marks[seq] = waiting
	}
	rt.mu.Unlock()
	h := rt.hub
	cctx, cancel := context.WithTimeout(ctx, redisCallTimeout)
	defer cancel()
	if err := h.lb.mark(cctx, h.opts.Channel, h.opts.InstanceID, seq); err != nil && ctx.Err() == nil {
		return fmt.Errorf("ask for a mark: %w", err)
	}
	return nil
}

// tickEvery is the period of the sender's sweeps and marks.
func (rt *router) tickEvery() time.Duration {
	return max(min(rt.grace/2, markEvery), routeSweepMin)
}

// markChannel is the channel of this instance's marks.
func (rt *router) markChannel() string {
	return markChannel(rt.hub.opts.Channel, rt.hub.opts.InstanceID)
}

// chunks sends chans with cmd, routeChunk at a time.
func (rt *router) chunks(ctx context.Context, cmd func(context.Context, ...string) error, chans []string) error {
	for len(chans) > 0 {
		n := min(len(chans), routeChunk)
		rt.hub.stats.routeCommands.Add(1)
		if err := cmd(ctx, chans[:n]...); err != nil {
			return err
		}
		chans = chans[n:]
	}
	return nil
}

// settle waits, after a batch of SUBSCRIBEs, for their confirmations (at
// most routeWait; the waiters bound their own wait).
func (rt *router) settle(ctx context.Context, s *routeSession) {
	t := time.NewTimer(routeWait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-s.settled:
	case <-t.C:
	}
}

// gather lets routeGather pass, so that the next batch gathers what came
// meanwhile.
func gather(ctx context.Context) {
	t := time.NewTimer(routeGather)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
