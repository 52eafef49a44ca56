package ssekify_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ssekify/ssekify"
)

// Store-level tests of the in-memory logs (log_mem.go), driven directly
// through ssekify.Logs, without a hub: seeded random sequences of every
// operation (attach, detach, append and bursts of appends, reads page by
// page, clear, the clock moving) under
// small bounds, so that every eviction path runs (the per-log count, age,
// offline logs beyond RecentMaxUsers, bytes). After every step the logs'
// running figures must match a recount (Check), and a reference model of
// what each log holds or lost must agree with every read.

// logsConfig is one set of retention bounds of the random runs.
type logsConfig struct {
	name string
	opts ssekify.Options
}

// Every run sees 5 users and 3 rooms attach and detach, 2 strangers that
// never do, and everyone's log.
var (
	logUsers     = []string{"u0", "u1", "u2", "u3", "u4"}
	logStrangers = []string{"s0", "s1"}
	logRooms     = []string{"r0", "r1", "r2"}
)

// logsConfigs: without a byte bound the model predicts every drop and every
// forgotten log exactly; with one, it checks that the bytes go oldest first.
var logsConfigs = []logsConfig{
	{"count3-ttl-lru2", ssekify.Options{RecentBufferSize: 3, RecentTTL: 10 * time.Second, RecentMaxUsers: 2, RecentMaxBytes: -1}},
	{"count1-lru1", ssekify.Options{RecentBufferSize: 1, RecentTTL: -1, RecentMaxUsers: 1, RecentMaxBytes: -1}},
	{"count8-ttl", ssekify.Options{RecentBufferSize: 8, RecentTTL: 5 * time.Second, RecentMaxUsers: -1, RecentMaxBytes: -1}},
	{"none-ttl-lru3", ssekify.Options{RecentBufferSize: -1, RecentTTL: 10 * time.Second, RecentMaxUsers: 3, RecentMaxBytes: -1}},
	{"bytes3000-count4-ttl-lru3", ssekify.Options{RecentBufferSize: 4, RecentTTL: 10 * time.Second, RecentMaxUsers: 3, RecentMaxBytes: 3000}},
	{"bytes2500-count16", ssekify.Options{RecentBufferSize: 16, RecentTTL: -1, RecentMaxUsers: -1, RecentMaxBytes: 2500}},
	{"bytes6000-count100-ttl-lru2", ssekify.Options{RecentBufferSize: 100, RecentTTL: 20 * time.Second, RecentMaxUsers: 2, RecentMaxBytes: 6000}},
	{"count2-ttl30-lru4", ssekify.Options{RecentBufferSize: 2, RecentTTL: 30 * time.Second, RecentMaxUsers: 4, RecentMaxBytes: -1}},
}

// TestLogsModel runs 8 seeded sequences of 3,000 random steps, one per
// configuration, checking the logs after every step.
func TestLogsModel(t *testing.T) {
	steps := 3000
	if raceEnabled {
		steps = 1000 // one goroutine: the race detector has nothing to find
	}
	for i, cfg := range logsConfigs {
		seed := uint64(i + 1)
		t.Run(fmt.Sprintf("seed=%d/%s", seed, cfg.name), func(t *testing.T) {
			m := newLogsModel(t, cfg.opts)
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			for step := range steps {
				m.step = step
				m.randomStep(rng)
				require.NoError(t, m.d.Check(), "step %d: %s", step, m.last)
			}
			// Every path ran: the run is no proof otherwise.
			require.Positive(t, m.reads, "reads")
			require.Positive(t, m.lossReads, "reads that reported a loss")
			require.Positive(t, m.forgotten, "forgotten logs")
			require.Positive(t, m.d.Evicted(), "evictions")
		})
	}
}

// mkey names a log in the model.
type mkey struct{ kind, target string }

var allKey = mkey{"all", ""}

// mpos is what the model knows of one position.
type mpos struct {
	key mkey
	at  time.Time
	// owed: the target's log existed when the event was sent, or had
	// existed before (it was forgotten since): a reader whose position is
	// older must get the event or be told it lost it.
	owed bool
	// log is the id of the log that took it (0: none existed).
	log int
}

// mlog is what the model knows of one target's log.
type mlog struct {
	id      int       // the store's log, 0 while there is none
	readers int       // streams reading it
	seq     int       // when it went offline (detach order)
	seen    time.Time // when it went offline
	known   bool      // a log existed for it once
	// cur: positions the log took since it was made or last cleared,
	// oldest first (some may be gone since, by count, age or bytes).
	cur []uint64
}

type logsModel struct {
	t     *testing.T
	d     *ssekify.Logs
	clock *testClock
	// bounds as the store resolves them
	maxEvents  int
	ttl        time.Duration
	maxOffline int
	exact      bool // no byte bound: every drop is predicted

	logs      map[mkey]*mlog
	byKey     map[mkey][]uint64 // every position sent to a target, ascending
	recs      []mpos            // by position - 1
	dead      map[int]bool      // ids of forgotten logs
	seq       int
	step      int
	last      string // the step, for failure messages
	reads     int
	lossReads int
	forgotten int
}

func newLogsModel(t *testing.T, opts ssekify.Options) *logsModel {
	clock := newTestClock()
	d, err := ssekify.NewLogs(&opts, clock.Now)
	require.NoError(t, err)
	m := &logsModel{
		t: t, d: d, clock: clock,
		maxEvents:  max(opts.RecentBufferSize, 0),
		ttl:        opts.RecentTTL,
		maxOffline: opts.RecentMaxUsers,
		exact:      opts.RecentMaxBytes < 0,
		logs:       make(map[mkey]*mlog),
		byKey:      make(map[mkey][]uint64),
		dead:       make(map[int]bool),
	}
	for _, k := range m.keys() {
		m.logs[k] = &mlog{}
	}
	m.logs[allKey].id = d.LogID("all", "")
	m.logs[allKey].known = true
	require.NotZero(t, m.logs[allKey].id)
	return m
}

// keys returns every key of the model, everyone's last.
func (m *logsModel) keys() []mkey {
	var ks []mkey
	for _, u := range logUsers {
		ks = append(ks, mkey{"user", u})
	}
	for _, u := range logStrangers {
		ks = append(ks, mkey{"user", u})
	}
	for _, r := range logRooms {
		ks = append(ks, mkey{"room", r})
	}
	return append(ks, allKey)
}

func (m *logsModel) failf(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("step %d (%s): %s", m.step, m.last, fmt.Sprintf(format, args...))
}

// randomStep runs one random operation on the store and the model.
func (m *logsModel) randomStep(rng *rand.Rand) {
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	attachable := func() mkey {
		switch n := rng.IntN(20); {
		case n == 0:
			return allKey
		case n < 13:
			return mkey{"user", pick(logUsers)}
		default:
			return mkey{"room", pick(logRooms)}
		}
	}
	switch n := rng.IntN(100); {
	case n == 0:
		// A burst to one target: many events leave their log early, by
		// its count bound, which makes the index compact.
		k := attachable()
		m.last = fmt.Sprintf("burst to %v", k)
		for range 100 + rng.IntN(700) {
			m.append(k, rng.IntN(20))
		}
	case n < 12:
		m.attach(attachable())
	case n < 24:
		// Mostly a log that has readers; sometimes one without (ignored).
		k := attachable()
		for range 8 {
			if m.logs[k].readers > 0 {
				break
			}
			k = attachable()
		}
		m.detach(k)
	case n < 58:
		var k mkey
		switch r := rng.IntN(10); {
		case r < 2:
			k = allKey
		case r < 3:
			k = mkey{"user", pick(logStrangers)}
		case r < 7:
			k = mkey{"user", pick(logUsers)}
		default:
			k = mkey{"room", pick(logRooms)}
		}
		m.append(k, rng.IntN(300))
	case n < 85:
		user := pick(logUsers)
		if rng.IntN(8) == 0 {
			user = pick(logStrangers)
		}
		var rooms []string
		for _, r := range logRooms {
			if rng.IntN(3) == 0 {
				rooms = append(rooms, r)
			}
		}
		pos := uint64(len(m.recs))
		var after uint64
		switch r := rng.IntN(4); {
		case r == 0 || pos == 0:
			after = 0
		case r == 1:
			after = pos - min(pos, uint64(rng.IntN(8))) // a little behind
		default:
			after = uint64(rng.Int64N(int64(pos) + 1))
		}
		limits := []int{1, 2, 3, 5, 1000}
		m.readAll(user, rooms, after, limits[rng.IntN(len(limits))])
	case n < 87:
		if rng.IntN(4) == 0 {
			m.clear("")
		} else {
			m.clear(pick(logUsers))
		}
	default:
		switch r := rng.IntN(20); {
		case r == 0 && m.ttl > 0:
			m.advance(m.ttl + time.Duration(rng.Int64N(int64(time.Second))))
		case r == 1 && m.ttl > 0:
			m.advance(m.ttl) // what was sent or left now is exactly as old as the TTL
		case r == 2:
			m.advance(time.Duration(rng.IntN(3)) * time.Second) // whole seconds: ages meet the TTL
		case r < 5 && m.ttl > 0:
			m.advance(time.Duration(rng.Int64N(int64(m.ttl))))
		default:
			m.advance(time.Duration(rng.Int64N(int64(time.Second))))
		}
	}
}

func (m *logsModel) advance(d time.Duration) {
	m.last = fmt.Sprintf("advance %v", d)
	m.clock.Advance(d)
}

// sweep predicts what the store's sweep (at the start of attach, append
// and read) forgets: the offline logs unread for RecentTTL.
func (m *logsModel) sweep() {
	if m.ttl < 0 {
		return
	}
	cutoff := m.clock.Now().Add(-m.ttl)
	for _, k := range m.keys() {
		if l := m.logs[k]; l.id != 0 && l.readers == 0 && k != allKey && !l.seen.After(cutoff) {
			m.forget(k)
		}
	}
}

func (m *logsModel) forget(k mkey) {
	l := m.logs[k]
	m.dead[l.id] = true
	l.id, l.cur = 0, nil
	m.forgotten++
}

// offline returns the keys of the offline logs that exist, the one offline
// the longest first.
func (m *logsModel) offline() []mkey {
	var ks []mkey
	for _, k := range m.keys() {
		if l := m.logs[k]; l.id != 0 && l.readers == 0 && k != allKey {
			ks = append(ks, k)
		}
	}
	sort.Slice(ks, func(i, j int) bool { return m.logs[ks[i]].seq < m.logs[ks[j]].seq })
	return ks
}

// sync compares the logs that exist in the store with the model after an
// operation; created is the key the operation may have made a log for.
func (m *logsModel) sync(created *mkey) {
	m.t.Helper()
	for _, k := range m.keys() {
		l := m.logs[k]
		id := m.d.LogID(k.kind, k.target)
		if m.dead[id] {
			m.failf("log %v (id %d) should have been forgotten", k, id)
		}
		if l.id != 0 && id != l.id {
			// The store forgot it: only the byte bound does that beyond
			// the model's predictions, and only to an offline log.
			if m.exact {
				m.failf("log %v forgotten, the model expected it kept", k)
			}
			if l.readers > 0 || k == allKey {
				m.failf("log %v forgotten with %d readers", k, l.readers)
			}
			m.forget(k)
		}
		if l.id == 0 && id != 0 {
			if created == nil || *created != k {
				m.failf("log %v appeared without an attach", k)
			}
			l.id, l.known, l.cur = id, true, nil
		}
		if l.readers > 0 && l.id == 0 {
			m.failf("log %v with %d readers does not exist", k, l.readers)
		}
	}
	off := m.offline()
	if m.maxOffline >= 0 && len(off) > m.maxOffline {
		m.failf("%d offline logs, bound %d", len(off), m.maxOffline)
	}
	// The offline logs are forgotten the longest offline first: those that
	// exist went offline after every one that went offline and was forgotten.
	if len(off) > 0 {
		oldest := m.logs[off[0]].seq
		for _, k := range m.keys() {
			if l := m.logs[k]; l.known && l.id == 0 && l.readers == 0 && l.seq > oldest {
				m.failf("offline log %v forgotten before the older %v", k, off[0])
			}
		}
	}
}

func (m *logsModel) attach(k mkey) {
	m.last = fmt.Sprintf("attach %v", k)
	m.sweep()
	m.d.Attach(k.kind, k.target)
	m.logs[k].readers++
	m.sync(&k)
}

func (m *logsModel) detach(k mkey) {
	m.last = fmt.Sprintf("detach %v", k)
	l := m.logs[k]
	m.d.Detach(k.kind, k.target)
	if l.readers > 0 {
		l.readers--
		if l.readers == 0 && k != allKey {
			m.seq++
			l.seq, l.seen = m.seq, m.clock.Now()
			for off := m.offline(); m.maxOffline >= 0 && len(off) > m.maxOffline; off = off[1:] {
				m.forget(off[0])
			}
		}
	}
	m.sync(nil)
}

func (m *logsModel) append(k mkey, size int) {
	m.last = fmt.Sprintf("append %v %dB", k, size)
	m.sweep()
	p := m.d.Append(k.kind, k.target, size)
	if p != uint64(len(m.recs))+1 {
		m.failf("position %d, want %d", p, len(m.recs)+1)
	}
	l := m.logs[k]
	rec := mpos{key: k, at: m.clock.Now(), owed: l.known, log: l.id}
	if l.id != 0 {
		l.cur = append(l.cur, p)
	}
	m.recs = append(m.recs, rec)
	m.byKey[k] = append(m.byKey[k], p)
	m.sync(nil)
}

func (m *logsModel) clear(user string) {
	m.last = fmt.Sprintf("clear %q", user)
	m.d.Clear(user)
	for _, k := range m.keys() {
		if user == "" || k == (mkey{"user", user}) {
			m.logs[k].cur = nil
		}
	}
	m.sync(nil)
}

// held returns the positions of k's log that no bound has dropped: the
// newest RecentBufferSize it took since it was made or cleared, younger
// than RecentTTL. Without a byte bound these are exactly what it holds.
func (m *logsModel) held(k mkey) []uint64 {
	l := m.logs[k]
	if l.id == 0 {
		return nil
	}
	cur := l.cur[max(0, len(l.cur)-m.maxEvents):]
	var out []uint64
	for _, p := range cur {
		if m.ttl < 0 || m.recs[p-1].at.After(m.clock.Now().Add(-m.ttl)) {
			out = append(out, p)
		}
	}
	return out
}

// owed reports whether a reader of k's log whose position is older than p
// must get p or be told it lost it.
func (m *logsModel) owed(p uint64) bool {
	return m.recs[p-1].owed
}

// readAll reads as a stream does, page by page from after, until the logs
// are read to their end, checking each page.
func (m *logsModel) readAll(user string, rooms []string, after uint64, limit int) {
	var told pageLoss
	for range 1000 {
		next, more := m.read(user, rooms, after, limit, &told)
		if !more {
			if len(told.pending) > 0 {
				m.failf("positions %v lost in silence: told on no page:%s", told.pending, m.describe(told.pending))
			}
			return
		}
		after = next
	}
	m.failf("no end after 1000 pages")
}

// pageLoss is what the earlier pages of one read told.
type pageLoss struct {
	// told: the newest position of a loss told, as a stream's writer
	// keeps it (Conn.told).
	told uint64
	// covered: a loss not exact covers every position up to its last.
	covered uint64
	// pending: positions lost before the end of an earlier page that it
	// did not tell: a later page must (none, since every loss is told on
	// the page it falls in or earlier).
	pending []uint64
}

// read reads one page and checks it against the model; it returns the
// position the next page starts after.
func (m *logsModel) read(user string, rooms []string, after uint64, limit int, earlier *pageLoss) (uint64, bool) {
	m.t.Helper()
	m.last = fmt.Sprintf("read user %s rooms %v after %d limit %d", user, rooms, after, limit)
	m.sweep()
	got, lost, more := m.d.ReadLossTold(user, rooms, after, earlier.told, limit)
	if lost.Last > earlier.told && (lost.Missed > 0 || !lost.Exact) {
		earlier.told = lost.Last
	}
	m.sync(nil)
	m.reads++
	keys := []mkey{{"user", user}, allKey}
	for _, r := range rooms {
		keys = append(keys, mkey{"room", r})
	}
	in := func(k mkey) bool { return slices.Contains(keys, k) }

	// (a) positions strictly increasing, after after, of the named logs
	// only, and held by them.
	if len(got) > limit {
		m.failf("%d events, limit %d", len(got), limit)
	}
	if more && len(got) == 0 {
		m.failf("more without an event")
	}
	var eligible []uint64
	for _, k := range keys {
		for _, p := range m.held(k) {
			if p > after {
				eligible = append(eligible, p)
			}
		}
	}
	slices.Sort(eligible)
	prev := after
	for _, p := range got {
		if p <= prev {
			m.failf("position %d after %d: %v", p, prev, got)
		}
		prev = p
		if p > uint64(len(m.recs)) || !in(m.recs[p-1].key) {
			m.failf("position %d is not of the logs read %v", p, keys)
		}
		if _, ok := slices.BinarySearch(eligible, p); !ok {
			m.failf("position %d of %v returned, but dropped (count, age, clear or forgotten): %v", p, m.recs[p-1].key, eligible)
		}
	}
	upto := ^uint64(0) // the page's end: losses up to it are told with it
	if more {
		upto = got[len(got)-1]
	}
	if m.exact {
		want := eligible[:min(limit, len(eligible))]
		if !slices.Equal(got, want) || more != (len(eligible) > limit) {
			m.failf("read %v more %v, the model holds %v", got, more, eligible)
		}
	} else if len(got) > 0 {
		// The byte bound drops the oldest events first, whatever their
		// log: an event it dropped is older than every event still held.
		for _, p := range eligible {
			if p > upto {
				break
			}
			if _, ok := slices.BinarySearch(got, p); !ok && p > got[0] {
				m.failf("position %d dropped while the older %d is held: %v", p, got[0], got)
			}
		}
	}

	// (b) nothing lost in silence: every position of the logs read after
	// after, up to the end of the page (all of them on the last page), is
	// returned or told lost by this page, before its events (or by an
	// earlier page's loss that was not exact, up to its last position).
	var lostPos, need []uint64
	for _, k := range keys {
		ps := m.byKey[k]
		i, _ := slices.BinarySearch(ps, after+1)
		for _, p := range ps[i:] {
			if p > upto {
				break
			}
			if !m.owed(p) {
				continue
			}
			if _, ok := slices.BinarySearch(got, p); !ok {
				lostPos = append(lostPos, p)
			}
		}
	}
	slices.Sort(lostPos)
	for _, p := range lostPos {
		if p > earlier.covered {
			need = append(need, p)
		}
	}
	if len(lostPos) > 0 {
		m.last += "; lost" + m.describe(lostPos)
	}
	told := lost.Missed > 0 || !lost.Exact
	if told {
		m.lossReads++
	}
	// What this page's loss covers of need: exactly the positions it
	// counts (from its first to its last), or every one up to its last.
	var untold []uint64
	switch {
	case !told:
		untold = need
	case lost.Exact:
		counted := 0
		for _, p := range lostPos {
			if p >= lost.First && p <= lost.Last {
				counted++
			}
		}
		if !slices.Contains(lostPos, lost.First) || !slices.Contains(lostPos, lost.Last) || counted < lost.Missed {
			m.failf("exact loss of %d from %d to %d, the model lost %v", lost.Missed, lost.First, lost.Last, lostPos)
		}
		for _, p := range need {
			if counted > lost.Missed || p < lost.First || p > lost.Last {
				// Counted short, the page leaves some untold: which ones
				// is unknown, so all must be told again by a later page.
				untold = append(untold, p)
			}
		}
	default:
		if lost.Missed > len(lostPos) {
			m.failf("loss of at least %d, the model lost %v", lost.Missed, lostPos)
		}
		if lost.First != 0 { // unknown: somewhere after the reader's position
			m.failf("loss not exact from %d, the model lost %v", lost.First, lostPos)
		}
		for _, p := range need {
			if lost.Last != 0 && p > lost.Last {
				untold = append(untold, p)
			}
		}
		if lost.Last == 0 {
			earlier.covered = max(earlier.covered, upto)
		}
		earlier.covered = max(earlier.covered, lost.Last)
		// A later page's loss that is not exact tells what earlier
		// pages left untold, up to its last position.
		earlier.pending = slices.DeleteFunc(earlier.pending, func(p uint64) bool { return p <= earlier.covered })
	}
	if len(untold) > 0 {
		m.failf("positions %v lost in silence (read %v, loss %+v)", untold, got, lost)
	}
	next := upto
	if !more {
		next = max(after, lost.Last)
	}
	return next, more
}

// describe tells, for the failure messages, where each of ps (at most 12)
// was sent and what became of the log that took it.
func (m *logsModel) describe(ps []uint64) string {
	out := ""
	for i, p := range ps {
		if i == 12 {
			return out + " ..."
		}
		r := m.recs[p-1]
		state := "taken by the log that exists"
		switch {
		case r.log == 0 && r.owed:
			state = "sent while the target's log was forgotten"
		case r.log == 0:
			state = "sent before the target had a log"
		case r.log != m.logs[r.key].id:
			state = "taken by a log since forgotten"
		}
		out += fmt.Sprintf(" %d(%s %s: %s)", p, r.key.kind, r.key.target, state)
	}
	return out
}

// newTestLogs returns logs with opts and a clock the test moves.
func newTestLogs(t *testing.T, opts ssekify.Options) (*ssekify.Logs, *testClock) {
	t.Helper()
	clock := newTestClock()
	d, err := ssekify.NewLogs(&opts, clock.Now)
	require.NoError(t, err)
	return d, clock
}

// A log's own drops are counted exactly, from the first to the last
// position lost, page by page; beyond the drops it remembers, the count is
// a lower bound.
func TestLogsLossCounts(t *testing.T) {
	d, _ := newTestLogs(t, ssekify.Options{RecentBufferSize: 2, RecentTTL: -1, RecentMaxBytes: -1})
	d.Attach("user", "u")
	var p []uint64
	for range 5 {
		p = append(p, d.Append("user", "u", 10))
	}
	got, lost, more := d.ReadLoss("u", nil, 0, 100)
	require.Equal(t, p[3:], got)
	require.False(t, more)
	require.Equal(t, ssekify.LogLoss{Missed: 3, Exact: true, First: p[0], Last: p[2]}, lost)
	got, lost, _ = d.ReadLoss("u", nil, p[1], 100)
	require.Equal(t, p[3:], got)
	require.Equal(t, ssekify.LogLoss{Missed: 1, Exact: true, First: p[2], Last: p[2]}, lost)
	got, lost, _ = d.ReadLoss("u", nil, p[4], 100)
	require.Empty(t, got)
	require.Equal(t, ssekify.LogLoss{Exact: true}, lost)

	// Pages: each tells the drops up to its end, once.
	d.Attach("room", "r")
	r := d.Append("room", "r", 10) // held: the room's log is young
	got, lost, more = d.ReadLoss("u", []string{"r"}, 0, 1)
	require.Equal(t, []uint64{p[3]}, got)
	require.True(t, more)
	require.Equal(t, ssekify.LogLoss{Missed: 3, Exact: true, First: p[0], Last: p[2]}, lost)
	got, lost, more = d.ReadLoss("u", []string{"r"}, p[3], 5)
	require.Equal(t, []uint64{p[4], r}, got)
	require.False(t, more)
	require.Equal(t, ssekify.LogLoss{Exact: true}, lost)

	// 70 more: the log remembers the newest 64 drops; older ones are a
	// lower bound.
	for range 70 {
		d.Append("user", "u", 10)
	}
	_, lost, _ = d.ReadLoss("u", nil, 0, 100)
	require.False(t, lost.Exact)
	require.Equal(t, 64, lost.Missed)
	require.NoError(t, d.Check())
}

// A log the store forgot (beyond RecentMaxUsers) is a loss of unknown size
// to its reader, up to its newest position.
func TestLogsForgottenLogIsAnInexactLoss(t *testing.T) {
	d, _ := newTestLogs(t, ssekify.Options{RecentMaxUsers: 1})
	d.Attach("user", "a")
	d.Attach("user", "b")
	p := d.Append("user", "a", 10)
	d.Detach("user", "a")
	d.Detach("user", "b") // a is forgotten
	require.Zero(t, d.LogID("user", "a"))
	got, lost, _ := d.ReadLoss("a", nil, p-1, 100)
	require.Empty(t, got)
	require.False(t, lost.Exact)
	require.GreaterOrEqual(t, lost.Last, p)
	d.Attach("user", "a") // made again: it inherits the loss
	_, lost, _ = d.ReadLoss("a", nil, p-1, 100)
	require.False(t, lost.Exact)
	require.GreaterOrEqual(t, lost.Last, p)
	require.NoError(t, d.Check())
}

// What a forgotten log lost is told, in both ways it can be lost.
func TestLogsForgottenTargetTellsLoss(t *testing.T) {
	// An event sent to a user while its log is forgotten is not kept, and
	// the log made again for the user does not say so: the reader's
	// position is not older than the forgotten log's newest position, so no
	// loss is told at all.
	t.Run("sent while forgotten", func(t *testing.T) {
		d, _ := newTestLogs(t, ssekify.Options{RecentMaxUsers: 1})
		d.Attach("user", "a")
		d.Attach("user", "b")
		p1 := d.Append("user", "a", 10) // the client got it
		d.Detach("user", "a")
		d.Detach("user", "b") // a is forgotten, with p1
		p2 := d.Append("user", "a", 10)
		d.Attach("user", "a") // the client comes back after p1
		got, lost, _ := d.ReadLoss("a", nil, p1, 100)
		require.Empty(t, got)
		require.True(t, lost.Missed > 0 || !lost.Exact, "position %d lost in silence: %+v", p2, lost)
		require.True(t, !lost.Exact || lost.Missed == 1, "%+v", lost)
		require.True(t, lost.Last == 0 || lost.Last >= p2, "%+v", lost)
	})
	// The log made again inherits the forgotten log's newest position as a
	// loss of unknown size, until it drops an event of its own: from then
	// on it tells its own drops as an exact loss, and the forgotten events
	// are lost in silence.
	t.Run("forgotten events after the new log drops", func(t *testing.T) {
		d, _ := newTestLogs(t, ssekify.Options{RecentMaxUsers: 1, RecentBufferSize: 1})
		d.Attach("user", "a")
		d.Attach("user", "b")
		p1 := d.Append("user", "a", 10)
		p2 := d.Append("user", "a", 10) // p1 leaves the log (RecentBufferSize 1)
		d.Detach("user", "a")
		d.Detach("user", "b") // a is forgotten, with p2
		d.Attach("user", "a")
		p3 := d.Append("user", "a", 10)
		p4 := d.Append("user", "a", 10) // p3 leaves the new log
		got, lost, _ := d.ReadLoss("a", nil, p1-1, 100)
		require.Equal(t, []uint64{p4}, got)
		// p1, p2 and p3 are lost: exactly 3, or at least as many as told up
		// to p3 at least.
		require.True(t, (lost.Exact && lost.Missed == 3) || (!lost.Exact && lost.Last >= p3), "lost %d, %d, %d: told %+v", p1, p2, p3, lost)
	})
}

// A loss of unknown size (drops older than a log remembers) is told on the
// first page, before events newer than it, not on the page where its
// newest position falls.
func TestLogsLossToldBeforeLaterEvents(t *testing.T) {
	d, _ := newTestLogs(t, ssekify.Options{RecentBufferSize: 2, RecentTTL: -1, RecentMaxBytes: -1})
	d.Attach("room", "r")
	for range 5 {
		d.Append("all", "", 10) // 1..5: dropped, beyond the 64 remembered
	}
	r := d.Append("room", "r", 10)
	for range 70 {
		d.Append("all", "", 10)
	}
	got, lost, more := d.ReadLoss("x", []string{"r"}, 0, 1)
	require.Equal(t, []uint64{r}, got)
	require.True(t, more)
	// Positions 1 to 5 come before r: the page that returns r must say so.
	require.True(t, !lost.Exact && lost.Last >= 5, "lost 1..5 before %d, told %+v", r, lost)
}

// A loss that is not exact names no first position (older drops than the
// log remembers are somewhere after the reader's position), only its last.
func TestLogsInexactLossFirst(t *testing.T) {
	d, _ := newTestLogs(t, ssekify.Options{RecentBufferSize: 1, RecentTTL: -1, RecentMaxBytes: -1})
	var last uint64
	for range 70 {
		last = d.Append("all", "", 10) // 1..69 dropped; the log remembers 6..69
	}
	_, lost, _ := d.ReadLoss("x", nil, 0, 100)
	require.Equal(t, ssekify.LogLoss{Missed: 64, Exact: false, First: 0, Last: last - 1}, lost)
	_, lost, _ = d.ReadLoss("x", nil, 5, 100) // after what it does not remember: exact
	require.Equal(t, ssekify.LogLoss{Missed: 64, Exact: true, First: 6, Last: last - 1}, lost)
}

// Stats().ReplayBytes is the running figure after every call.
func TestLogsGaugeAfterEveryCall(t *testing.T) {
	t.Run("new", func(t *testing.T) { // everyone's log is counted, not published
		d, _ := newTestLogs(t, ssekify.Options{})
		require.NoError(t, d.Check())
	})
	t.Run("read sweeps", func(t *testing.T) {
		d, clock := newTestLogs(t, ssekify.Options{RecentTTL: time.Second})
		d.Append("all", "", 100)
		require.NoError(t, d.Check())
		clock.Advance(2 * time.Second)
		d.Read("x", nil, 0, 100) // drops the event, publishes nothing
		require.NoError(t, d.Check())
	})
	t.Run("append without a log sweeps", func(t *testing.T) {
		d, clock := newTestLogs(t, ssekify.Options{RecentTTL: time.Second})
		d.Append("all", "", 100)
		require.NoError(t, d.Check())
		clock.Advance(2 * time.Second)
		d.Append("user", "stranger", 100)
		require.NoError(t, d.Check())
	})
	t.Run("append keeping none", func(t *testing.T) {
		d, _ := newTestLogs(t, ssekify.Options{RecentBufferSize: -1})
		d.Attach("user", "u") // publishes
		require.NoError(t, d.Check())
		d.Append("all", "", 100) // the log's first drop: its remembered drops cost bytes
		require.NoError(t, d.Check())
	})
}

// The byte bound holds after attach (a new log's cost) and clear too, not
// only after the next append or detach.
func TestLogsBoundAfterAttachAndClear(t *testing.T) {
	fill := func(t *testing.T, d *ssekify.Logs, bound int64) {
		t.Helper()
		for d.Bytes() < bound-200 {
			d.Append("all", "", 10)
		}
		require.NoError(t, d.Check())
	}
	t.Run("attach", func(t *testing.T) {
		d, _ := newTestLogs(t, ssekify.Options{RecentMaxBytes: 4000})
		fill(t, d, 4000)
		for i := range 4 {
			d.Attach("user", fmt.Sprint("newcomer-", i)) // a log's cost each
		}
		require.NoError(t, d.Check())
	})
	t.Run("clear", func(t *testing.T) {
		d, _ := newTestLogs(t, ssekify.Options{RecentMaxBytes: 4000})
		d.Attach("user", "u")
		d.Append("user", "u", 10)
		fill(t, d, 4000)
		d.Clear("u")
		require.NoError(t, d.Check())
	})
}

// Crossing the byte bound by one event drops a few events, not the oldest
// of every log: dropping an event never adds to the figure (a log is
// charged its remembered drops from the start).
func TestLogsByteBoundDropsOnlyWhatItMust(t *testing.T) {
	d, _ := newTestLogs(t, ssekify.Options{RecentMaxBytes: 1 << 20})
	for i := range 1000 {
		d.Attach("user", fmt.Sprint("u", i))
		d.Append("user", fmt.Sprint("u", i), 10)
	}
	for range 10000 {
		before := d.Evicted()
		d.Append("all", "", 200) // ~350 bytes
		if dropped := d.Evicted() - before; dropped > 0 {
			require.LessOrEqual(t, dropped, int64(8), "one event over the bound dropped %d events", dropped)
			return
		}
	}
	t.Fatal("the bound was never reached")
}

// TestLogStructCosts: each log and message is charged at least what its
// struct takes.
func TestLogStructCosts(t *testing.T) {
	require.NoError(t, ssekify.LogStructFits())
}
