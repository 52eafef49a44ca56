package ssekify_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
	"github.com/ssekify/ssekify/internal/redistest"
	"github.com/ssekify/ssekify/internal/ssetest"
)

// The tests of this file prove replay across instances on a Redis broker:
// every Publish* is kept in the channel's Redis logs, so a client coming
// back to any instance with its Last-Event-ID gets exactly what it missed,
// in one global order, before live events; and an instance whose
// subscription was lost recovers what its streams missed from the logs.

const (
	// replayWait bounds reading a long replay (a thousand events and more).
	replayWait = 20 * time.Second
	// quietWait is how long a stream must stay silent after its last
	// expected event: a duplicate delivered late shows up within it.
	quietWait = 150 * time.Millisecond
)

// pub is one publish of a test: by hub, to a user, a room or everyone
// (kind "user", "room", "all"), with label as its data (a JSON string).
type pub struct {
	hub          *ssekify.Hub
	kind, target string
	label        string
}

func (p pub) publish(ctx context.Context) error {
	ev := ssekify.Event{Data: p.label}
	switch p.kind {
	case "user":
		return p.hub.PublishToUser(ctx, p.target, ev)
	case "room":
		return p.hub.PublishToRoom(ctx, p.target, ev)
	default:
		return p.hub.Publish(ctx, ev)
	}
}

// reaches reports whether the stream of user in rooms is a target of p.
func (p pub) reaches(user string, rooms ...string) bool {
	switch p.kind {
	case "user":
		return p.target == user
	case "room":
		return slices.Contains(rooms, p.target)
	default:
		return true
	}
}

// mustPublish publishes each of pubs in order, each returning before the
// next starts.
func mustPublish(t testing.TB, pubs ...pub) {
	t.Helper()
	for _, p := range pubs {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		err := p.publish(ctx)
		cancel()
		require.NoError(t, err, "publish %s", p.label)
	}
}

// mixTargets are the targets of mix: user u in room r is the client, v and
// r2 are someone else's.
var mixTargets = []struct{ kind, target string }{
	{"user", "u"}, {"room", "r"}, {"all", ""}, {"user", "v"}, {"room", "r2"},
}

// mix returns n publishes to u, r, everyone, v and r2 in turn, alternating
// between hubs so that every kind of target is published by each, and the
// labels of those the stream of u in r receives, in publish order.
func mix(hubs []*ssekify.Hub, tag string, n int) (pubs []pub, forU []string) {
	for i := range n {
		k := mixTargets[i%len(mixTargets)]
		to := k.target
		if to == "" {
			to = "everyone"
		}
		p := pub{hub: hubs[(i/len(mixTargets)+i)%len(hubs)], kind: k.kind, target: k.target,
			label: fmt.Sprintf("%s-%d-to-%s", tag, i, to)}
		pubs = append(pubs, p)
		if p.reaches("u", "r") {
			forU = append(forU, p.label)
		}
	}
	return pubs, forU
}

// streamLog is what a client read from a stream, in order.
type streamLog struct {
	labels []string // each event's data string; "gap:<reason>" for a gap event
	ids    []string // the stream's last event id at each event
	gaps   []string // the data of each gap event
}

// add records ev.
func (s *streamLog) add(ev ssetest.Event) {
	var label string
	switch ev.Type {
	case ssekify.DefaultGapEvent:
		var g gapEvent
		if err := json.Unmarshal([]byte(ev.Data), &g); err != nil || g.Reason == "" {
			label = "gap:?" + ev.Data
		} else {
			label = "gap:" + g.Reason
		}
		s.gaps = append(s.gaps, ev.Data)
	case "message":
		if err := json.Unmarshal([]byte(ev.Data), &label); err != nil {
			label = "raw:" + ev.Data
		}
	default:
		label = "event " + ev.Type + ":" + ev.Data
	}
	s.labels = append(s.labels, label)
	s.ids = append(s.ids, ev.LastEventID)
}

// String sums s up without printing thousands of labels.
func (s streamLog) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d events", len(s.labels))
	if len(s.gaps) > 0 {
		fmt.Fprintf(&b, ", GAP EVENTS %q", s.gaps)
	}
	if len(s.labels) <= 12 {
		fmt.Fprintf(&b, ": %q", s.labels)
	} else {
		fmt.Fprintf(&b, ": %q … %q", s.labels[:8], s.labels[len(s.labels)-4:])
	}
	return b.String()
}

// readTo reads st until the event labelled stop and returns everything
// read, in order; it fails when stop does not arrive within d.
func readTo(t testing.TB, st *ssetest.Stream, stop string, d time.Duration) streamLog {
	t.Helper()
	var got streamLog
	deadline := time.Now().Add(d)
	for {
		ev, err := st.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for %q: %v; read so far: %v", stop, err, got)
		}
		got.add(ev)
		if got.labels[len(got.labels)-1] == stop {
			return got
		}
	}
}

// readCount reads the next n events of st within d.
func readCount(t testing.TB, st *ssetest.Stream, n int, d time.Duration) streamLog {
	t.Helper()
	var got streamLog
	deadline := time.Now().Add(d)
	for len(got.labels) < n {
		ev, err := st.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for event %d of %d: %v; read so far: %v", len(got.labels)+1, n, err, got)
		}
		got.add(ev)
	}
	return got
}

// requireQuiet fails when st delivers an event within quietWait.
func requireQuiet(t testing.TB, st *ssetest.Stream, after string) {
	t.Helper()
	ev, err := st.Next(quietWait)
	if err == nil {
		var extra streamLog
		extra.add(ev)
		t.Fatalf("after %q the stream delivered more: %v", after, extra)
	}
	require.ErrorIs(t, err, ssetest.ErrTimeout)
}

// requireExact fails unless got holds exactly want, in order: no gap
// event, nothing missing, nothing twice, nothing else. On a difference it
// names the first one rather than printing both lists.
func requireExact(t testing.TB, what string, want []string, got streamLog) {
	t.Helper()
	if slices.Equal(want, got.labels) {
		return
	}
	i := 0
	for i < len(want) && i < len(got.labels) && want[i] == got.labels[i] {
		i++
	}
	at := func(l []string) string {
		if i < len(l) {
			return strconv.Quote(l[i])
		}
		return "(end)"
	}
	msg := fmt.Sprintf("%s: want %d events, got %v; first difference at %d: want %s, got %s",
		what, len(want), got, i, at(want), at(got.labels))
	if len(got.gaps) > 0 {
		msg = "a gap event where the logs should have replayed: " + msg
	}
	t.Fatal(msg)
}

// requireInOrder is requireExact for live delivery, where order is
// checked apart: when every event arrived once but out of publish order the
// test goes on (reporting it), so that a later step reports too.
func requireInOrder(t testing.TB, what string, want []string, got streamLog) {
	t.Helper()
	if !slices.Equal(want, got.labels) && slices.Equal(sorted(slices.Clone(want)...), sorted(slices.Clone(got.labels)...)) {
		t.Errorf("%s: every event arrived once, but not in publish order (one global order per channel):\nwant %q\ngot  %q",
			what, want, got.labels)
		return
	}
	requireExact(t, what, want, got)
}

// reconnectTo opens a stream for user (rooms comma-separated) on n, naming
// lastID in Last-Event-ID when it is not empty, as a browser does.
func reconnectTo(t testing.TB, n node, user, rooms, lastID string) *ssetest.Stream {
	t.Helper()
	hdr := http.Header{}
	if lastID != "" {
		hdr.Set("Last-Event-ID", lastID)
	}
	return connect(t, n.srv, user, rooms, hdr)
}

// leaveStream closes st, waits until user has no stream on h and returns the id
// a browser would send on its next connection.
func leaveStream(t testing.TB, st *ssetest.Stream, h *ssekify.Hub, user string) string {
	t.Helper()
	require.NoError(t, st.Close())
	eventually(t, user+" offline", func() bool { return !h.IsOnline(user) })
	return st.LastEventID()
}

// comeBack reconnects user (rooms) to n with lastID, publishes lives once
// the stream is registered, and requires exactly want then the lives, and
// nothing after. It leaves and returns the stream's last id.
func comeBack(t testing.TB, n node, user, rooms, lastID string, want []string, lives ...pub) string {
	t.Helper()
	st := reconnectTo(t, n, user, rooms, lastID)
	mustPublish(t, lives...)
	for _, p := range lives {
		want = append(want, p.label)
	}
	stop := lives[len(lives)-1].label
	requireExact(t, fmt.Sprintf("%s back on %s", user, n.hub.InstanceID()), want, readTo(t, st, stop, replayWait))
	requireQuiet(t, st, stop)
	return leaveStream(t, st, n.hub, user)
}

// liveU returns a live event to u from the first hub and one to r from the
// second, published after a reconnect.
func liveU(hubs []*ssekify.Hub, tag string) []pub {
	return []pub{
		{hub: hubs[0], kind: "user", target: "u", label: tag + "-live-user"},
		{hub: hubs[1], kind: "room", target: "r", label: tag + "-live-room"},
	}
}

// TestReplayAcrossInstances: u (in room r) reads events on A, leaves; n
// events are published from A and B to u, r, everyone and to others; u
// comes back on B with its last id and gets exactly its missed events in
// publish order, no gap event, then live ones. Then again back to A,
// leaving in the middle of that replay, and on to B with the id of the
// last event read: the rest, exactly.
func TestReplayAcrossInstances(t *testing.T) {
	for _, n := range []int{0, 10, 1000} {
		t.Run("N="+strconv.Itoa(n), func(t *testing.T) {
			addr := redistest.Start(t).Addr
			a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
			b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
			hubs := []*ssekify.Hub{a.hub, b.hub}
			waitLinked(t, a.hub, b.hub, wait)
			waitLinked(t, b.hub, a.hub, wait)

			st := connect(t, a.srv, "u", "r", nil)
			pre, want := mix(hubs, "pre", 10)
			mustPublish(t, pre...)
			requireInOrder(t, "live on A", want, readCount(t, st, len(want), wait))
			last := leaveStream(t, st, a.hub, "u")
			require.NotEmpty(t, last, "the stream named its position")

			// Away, then back on B.
			away, want := mix(hubs, "away", n)
			mustPublish(t, away...)
			last = comeBack(t, b, "u", "r", last, want, liveU(hubs, "b1")...)

			// Away again, back on A; when there is a replay, u leaves in its
			// middle and comes back on B with the id of the last event read.
			away, want = mix(hubs, "again", n)
			mustPublish(t, away...)
			if len(want) == 0 {
				comeBack(t, a, "u", "r", last, want, liveU(hubs, "a2")...)
				return
			}
			st = reconnectTo(t, a, "u", "r", last)
			cut := len(want) / 2
			got := readCount(t, st, cut, replayWait)
			requireExact(t, "the first half of the replay on A", want[:cut], got)
			leaveStream(t, st, a.hub, "u")
			comeBack(t, b, "u", "r", got.ids[cut-1], want[cut:], liveU(hubs, "b3")...)
		})
	}
}

// sentPub is a publish of the failover test and whether it returned nil.
type sentPub struct {
	pub
	ok bool
}

// expectedOf returns, of log, the labels the stream of user in rooms must
// receive exactly once in order (their publish returned nil), and those it
// may receive at most once (their publish failed).
func expectedOf(log []sentPub, user string, rooms ...string) (acked, failed []string) {
	for _, s := range log {
		switch {
		case !s.reaches(user, rooms...):
		case s.ok:
			acked = append(acked, s.label)
		default:
			failed = append(failed, s.label)
		}
	}
	return acked, failed
}

// requireAcked fails unless got holds every acked label exactly once, in
// order, each failed one at most once, and nothing else; a gap event is
// reported as a loss the failover should not have caused.
func requireAcked(t testing.TB, what string, acked, failed []string, got streamLog) {
	t.Helper()
	if len(got.gaps) > 0 {
		t.Errorf("%s: GAP EVENT after the Sentinel failover: %q. The replica had acknowledged every write "+
			"before the master was killed, so the failover lost no acknowledged write: an instance must recover "+
			"from the logs what its subscription missed (no reason broker), and a replay must find every "+
			"position on the new master. (A failover with replication lag can lose acknowledged writes, and then "+
			"the gap event is the right answer; on loopback after that wait it should not happen.)", what, got.gaps)
	}
	var inOrder []string
	times := map[string]int{}
	for _, l := range got.labels {
		times[l]++
		switch {
		case strings.HasPrefix(l, "gap:"):
		case slices.Contains(acked, l):
			inOrder = append(inOrder, l)
		case slices.Contains(failed, l):
			if times[l] > 1 {
				t.Errorf("%s: %q (its publish failed) arrived %d times", what, l, times[l])
			}
		default:
			t.Errorf("%s: %q is not this stream's", what, l)
		}
	}
	if !slices.Equal(acked, inOrder) {
		var missing, twice []string
		for _, l := range acked {
			switch times[l] {
			case 0:
				missing = append(missing, l)
			case 1:
			default:
				twice = append(twice, l)
			}
		}
		t.Errorf("%s: the events whose publish returned nil must arrive once each, in order:\nwant %q\ngot  %q\nmissing (lost in silence unless a gap event told) %q, more than once %q",
			what, acked, inOrder, missing, twice)
	}
}

// replOffset reads an offset field of INFO replication at addr.
func replOffset(addr, field string) (int64, bool) {
	reply, err := redistest.Do(addr, "", "INFO", "replication")
	text, _ := reply.(string)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(text, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// TestReplayAfterSentinelFailover: two hubs on failover clients of one
// master, one replica and three sentinels. u reads events on A and leaves;
// events are published; once the replica has every write, the master is
// killed; events published while it is down may fail; after the failover
// more events are published. u comes back on B with its last id: every
// event whose publish returned nil arrives exactly once, in order, a
// failed one at most once, nothing else, no gap event. w, connected on A
// and on B all along, gets the same guarantee: its instances recover from
// the logs what their subscriptions missed.
func TestReplayAfterSentinelFailover(t *testing.T) {
	s := redistest.StartSentinel(t, "mymaster", 1, 3)
	client := func() redis.UniversalClient {
		c := redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName:    s.MasterName,
			SentinelAddrs: s.Sentinels,
			MaxRetries:    -1, // fail fast while the master is down
			DialerRetries: 1,
		})
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	a := startNode(t, ssekify.NewRedisBroker(client()), nil)
	b := startNode(t, ssekify.NewRedisBroker(client()), nil)
	hubs := []*ssekify.Hub{a.hub, b.hub}
	waitLinked(t, a.hub, b.hub, wait)
	waitLinked(t, b.hub, a.hub, wait)

	var log []sentPub
	publish := func(pubs []pub, mustSucceed bool, timeout time.Duration) {
		t.Helper()
		for _, p := range pubs {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := p.publish(ctx)
			cancel()
			if mustSucceed {
				require.NoError(t, err, "publish %s", p.label)
			}
			log = append(log, sentPub{p, err == nil})
		}
	}

	wA, wB := connect(t, a.srv, "w", "r", nil), connect(t, b.srv, "w", "r", nil)
	u := connect(t, a.srv, "u", "r", nil)
	pre, want := mix(hubs, "pre", 10)
	publish(pre, true, wait)
	requireInOrder(t, "u live on A", want, readCount(t, u, len(want), wait))
	last := leaveStream(t, u, a.hub, "u")
	away := len(log)

	before, _ := mix(hubs, "before", 10)
	publish(before, true, wait)
	// A graceful failover: the replica has every write before the master dies.
	masterOffset, ok := replOffset(s.Master.Addr, "master_repl_offset")
	require.True(t, ok, "INFO replication of the master")
	t.Logf("waiting for the replica to reach the master's offset %d before killing the master", masterOffset)
	redistest.WaitFor(t, wait, "the replica to acknowledge every write", func() bool {
		for _, r := range s.Replicas {
			if off, ok := replOffset(r.Addr, "slave_repl_offset"); !ok || off < masterOffset {
				return false
			}
		}
		return true
	})

	old := s.Master.Addr
	s.KillMaster()
	down, _ := mix(hubs, "down", 5)
	publish(down, false, 500*time.Millisecond)
	require.NotEqual(t, old, s.WaitFailover(t, failoverWait))
	waitLinked(t, b.hub, a.hub, failoverWait)
	waitLinked(t, a.hub, b.hub, failoverWait)
	after, _ := mix(hubs, "after", 10)
	publish(after, true, wait)
	var failed int
	for _, x := range log {
		if !x.ok {
			failed++
		}
	}
	t.Logf("%d of %d publishes failed while the master was down", failed, len(down))

	u = reconnectTo(t, b, "u", "r", last)
	fence := pub{hub: b.hub, kind: "room", target: "r", label: "fence"}
	publish([]pub{{hub: a.hub, kind: "user", target: "u", label: "live"}, fence}, true, wait)
	acked, lost := expectedOf(log[away:], "u", "r")
	requireAcked(t, "u back on B", acked, lost, readTo(t, u, fence.label, replayWait))
	acked, lost = expectedOf(log, "w", "r")
	requireAcked(t, "w on A through the failover", acked, lost, readTo(t, wA, fence.label, replayWait))
	requireAcked(t, "w on B through the failover", acked, lost, readTo(t, wB, fence.label, replayWait))
}

// TestReplayOnCluster: two tenants (channels) on a three-master Redis
// Cluster, their keys on different masters. Each tenant's u reads events on
// its first instance and leaves while both tenants publish; back on the
// tenant's other instance, each gets exactly its tenant's missed events.
// A token from one tenant never reads the other tenant's events.
func TestReplayOnCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	client := func() *redis.ClusterClient {
		cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
		t.Cleanup(func() { _ = cc.Close() })
		return cc
	}
	channel := func(name string) string { return "ssekify:bus:tenant:" + name }

	// The tenants' keys, under the hash tag of their channel, are served by
	// different masters.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cc := client()
	var masters []string
	for _, name := range []string{"a", "b"} {
		m, err := cc.MasterForKey(ctx, "{"+channel(name)+"}")
		require.NoError(t, err)
		slot, err := cc.ClusterKeySlot(ctx, "{"+channel(name)+"}").Result()
		require.NoError(t, err)
		t.Logf("tenant %s: slot %d on %s", name, slot, m.Options().Addr)
		masters = append(masters, m.Options().Addr)
	}
	require.NotEqual(t, masters[0], masters[1], "the tenants' keys must live on different masters")

	type tenant struct {
		name   string
		first  node // where u reads at first
		second node // where u comes back
		hubs   []*ssekify.Hub
		last   string
	}
	var tenants []*tenant
	for _, name := range []string{"a", "b"} {
		o := &ssekify.Options{Channel: channel(name)}
		x1 := startNode(t, ssekify.NewRedisBroker(client()), o)
		x2 := startNode(t, ssekify.NewRedisBroker(client()), o)
		waitLinked(t, x1.hub, x2.hub, wait)
		waitLinked(t, x2.hub, x1.hub, wait)
		tenants = append(tenants, &tenant{name: name, first: x1, second: x2, hubs: []*ssekify.Hub{x1.hub, x2.hub}})
	}

	// The same user and room names in both tenants, published in turn.
	interleave := func(tag string, n int) [][]string {
		var pubs [][]pub
		var wants [][]string
		for _, tn := range tenants {
			p, w := mix(tn.hubs, tn.name+":"+tag, n)
			pubs, wants = append(pubs, p), append(wants, w)
		}
		for i := range n {
			for _, p := range pubs {
				mustPublish(t, p[i])
			}
		}
		return wants
	}
	var streams []*ssetest.Stream
	for _, tn := range tenants {
		streams = append(streams, connect(t, tn.first.srv, "u", "r", nil))
	}
	for i, want := range interleave("pre", 10) {
		tn := tenants[i]
		requireInOrder(t, "tenant "+tn.name+": u live", want, readCount(t, streams[i], len(want), wait))
		tn.last = leaveStream(t, streams[i], tn.first.hub, "u")
	}
	for i, want := range interleave("away", 50) {
		tn := tenants[i]
		tn.last = comeBack(t, tn.second, "u", "r", tn.last, want, liveU(tn.hubs, tn.name+":back")...)
	}

	// u of each tenant comes to the other tenant's instance with its own
	// tenant's id: whatever it gets, never an event of the tenant the id
	// came from.
	for i, from := range tenants {
		to := tenants[1-i]
		st := reconnectTo(t, to.first, "u", "r", from.last)
		marker := pub{hub: to.hubs[1], kind: "user", target: "u", label: to.name + ":marker"}
		mustPublish(t, pub{hub: from.hubs[0], kind: "user", target: "u", label: from.name + ":elsewhere"}, marker)
		got := readTo(t, st, marker.label, wait)
		for _, l := range got.labels {
			require.False(t, strings.HasPrefix(l, from.name+":"),
				"tenant %s's id on tenant %s read tenant %s's %q (%v)", from.name, to.name, from.name, l, got)
		}
		requireQuiet(t, st, marker.label)
		leaveStream(t, st, to.first.hub, "u")
	}
}

// forgery is a Last-Event-ID mallory tries: in the header, or in the
// lastEventId query parameter for values a header can not carry.
type forgery struct {
	name  string
	id    string
	query bool
}

// forgeries derives made-up ids from ids alice saw, without assuming their
// format: the ids themselves, their digits changed, each dot-separated
// field replaced, huge and special values, over-long ids and ids with CR,
// LF and NUL.
func forgeries(first, last string) []forgery {
	var out []forgery
	tried := map[string]bool{}
	add := func(name, id string, query bool) {
		if !tried[id] && id != "" {
			tried[id] = true
			out = append(out, forgery{name, id, query})
		}
	}
	digits := func(id string, f func(rune) rune) string {
		return strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return f(r)
			}
			return r
		}, id)
	}
	add("alice's first id", first, false)
	add("alice's last id", last, false)
	for _, x := range []struct{ name, id string }{{"first", first}, {"last", last}} {
		add(x.name+", digits +1", digits(x.id, func(r rune) rune { return '0' + (r-'0'+1)%10 }), false)
		add(x.name+", digits -1", digits(x.id, func(r rune) rune { return '0' + (r-'0'+9)%10 }), false)
		add(x.name+", digits 0", digits(x.id, func(rune) rune { return '0' }), false)
		add(x.name+", digits 9", digits(x.id, func(rune) rune { return '9' }), false)
		other := "1"
		if strings.HasSuffix(x.id, "1") {
			other = "2"
		}
		add(x.name+", last byte changed", x.id[:len(x.id)-1]+other, false)
		add(x.name+", huge suffix", x.id+strings.Repeat("9", 30), false)
		add(x.name+" twice", x.id+"."+x.id, false)
		add(x.name+", CRLF id line", x.id+"\r\nid: forged", true)
		add(x.name+", LF event", x.id+"\n\nevent: forged\ndata: forged\n\n", true)
		add(x.name+", NUL", x.id+"\x00", true)
		fields := strings.Split(x.id, ".")
		for i := range fields {
			for _, v := range []string{"0", "1", "-1", "99999999999999999999", "zzzzzzzzzzzzz", "", "$", "+", "*"} {
				f := slices.Clone(fields)
				f[i] = v
				add(fmt.Sprintf("%s, field %d = %q", x.name, i, v), strings.Join(f, "."), false)
			}
		}
	}
	for _, g := range []string{"garbage", "0", "-1", "1-0", "0-0", "$", "+", "-", "*", ">", "v1", "v1..", "v1.0.0", "v2.0.0",
		"18446744073709551615", "18446744073709551616", "9223372036854775807-0", "ssekify:bus", "{ssekify:bus}", "alice", "u:alice"} {
		add("made up "+strconv.Quote(g), g, false)
	}
	add("1 KiB", strings.Repeat("9", ssekify.MaxLastEventIDBytes), false)
	add("1 KiB + 1", strings.Repeat("9", ssekify.MaxLastEventIDBytes+1), false)
	add("first repeated past 1 KiB", strings.Repeat(first, ssekify.MaxLastEventIDBytes/len(first)+2), false)
	add("4 KiB of a", strings.Repeat("a", 4096), false)
	add("CR LF only", "\r\n\r\n", true)
	add("invalid UTF-8", "\xff\xfe"+first, true)
	return out
}

// TestForgedLastEventIDNeverReadsAnotherUser: alice (room ra) is on A and
// gets events; mallory connects on B and on A with ids alice saw and with
// made-up ones. Mallory never receives alice's events, from the logs or
// live; she may get a gap event or her own and everyone's events; her own
// live event always arrives. Alice's stream goes on untouched, and her own
// reconnect on B afterwards replays exactly.
func TestForgedLastEventIDNeverReadsAnotherUser(t *testing.T) {
	addr := redistest.Start(t).Addr
	a := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	b := startNode(t, ssekify.NewRedisBroker(redisClient(t, addr)), nil)
	hubs := []*ssekify.Hub{a.hub, b.hub}
	waitLinked(t, a.hub, b.hub, wait)
	waitLinked(t, b.hub, a.hub, wait)

	alice := connect(t, a.srv, "alice", "ra", nil)
	var forAlice []string // in publish order
	n := 0
	toAlice := func() {
		t.Helper()
		p := pub{hub: hubs[n%2], kind: "user", target: "alice", label: fmt.Sprintf("alice-%d", n)}
		if n%3 == 2 {
			p.kind, p.target, p.label = "room", "ra", fmt.Sprintf("alice-room-%d", n)
		}
		n++
		mustPublish(t, p)
		forAlice = append(forAlice, p.label)
	}
	toAll := func(label string) {
		t.Helper()
		mustPublish(t, pub{hub: hubs[n%2], kind: "all", label: label})
		forAlice = append(forAlice, label)
	}
	for range 6 {
		toAlice()
	}
	toAll("all-start")
	got := readCount(t, alice, len(forAlice), wait)
	requireInOrder(t, "alice live on A", forAlice, got)
	read := len(forAlice)

	for i, f := range forgeries(got.ids[0], got.ids[len(got.ids)-1]) {
		to := []node{b, a}[i%2]
		toAlice() // there is always something of alice's after any position
		if i%7 == 0 {
			toAll(fmt.Sprintf("all-%d", i))
		}
		var st *ssetest.Stream
		if f.query {
			st = openStream(t, to.srv, url.Values{"user": {"mallory"}, "lastEventId": {f.id}}, nil)
		} else {
			st = connect(t, to.srv, "mallory", "", http.Header{"Last-Event-ID": {f.id}})
		}
		toAlice() // live while mallory is connected
		marker := pub{hub: hubs[(i+1)%2], kind: "user", target: "mallory", label: fmt.Sprintf("mallory-%d", i)}
		mustPublish(t, marker)
		got := readTo(t, st, marker.label, wait)
		for _, l := range got.labels {
			ok := strings.HasPrefix(l, "mallory-") || strings.HasPrefix(l, "all-") ||
				(strings.HasPrefix(l, "gap:") && !strings.HasPrefix(l, "gap:?"))
			require.True(t, ok, "forged id %q (%s) on %s: mallory received %q (%v)",
				clipForLog(f.id), f.name, to.hub.InstanceID(), l, got)
		}
		for _, id := range got.ids {
			require.NotContains(t, id, "forged", "forged id %s", f.name)
		}
		leaveStream(t, st, to.hub, "mallory")
	}

	toAll("all-end")
	requireInOrder(t, "alice live on A while mallory forged ids", forAlice[read:], readCount(t, alice, len(forAlice)-read, wait))
	requireQuiet(t, alice, "all-end")

	t.Run("alice replays on B after the forgeries", func(t *testing.T) {
		last := leaveStream(t, alice, a.hub, "alice")
		from := len(forAlice)
		for range 5 {
			toAlice()
		}
		toAll("all-away")
		comeBack(t, b, "alice", "ra", last, forAlice[from:],
			pub{hub: a.hub, kind: "user", target: "alice", label: "alice-live"})
	})
}

// clipForLog shortens an id for a failure message.
func clipForLog(id string) string {
	if len(id) > 60 {
		return id[:60] + fmt.Sprintf("…(%d bytes)", len(id))
	}
	return id
}
