package ssekify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The logs on Redis: with a RedisBroker, every Publish* event is appended
// to the log of its target in Redis and published, by one Lua script, so
// that any instance can read what a client missed and an instance that
// lost its subscription can read what its streams missed.
//
// Keys of a channel ch (Options.Channel), all under the hash tag {ch}, so
// that on a Cluster one channel (a tenant) lives in one slot and every
// script touches one node:
//
//	{ch}:m              hash: epoch, pos (the channel's counter), base, born, sec
//	{ch}:a              stream: the log for everyone
//	{ch}:u:<user id>    stream: the log of a user
//	{ch}:r:<room>       stream: the log of a room
//	{ch}:t:u:<id>, ...  string: the newest position trimmed from that log
//	{ch}:c              stream: the clock, (position, publisher ms) once a second
//
// An entry's id is "<position>-0"; its one field is named by the event's
// epoch and holds its envelope (envelope.go) in the framed form, the bytes
// the batch message that published it carries. The position is one counter per channel, so one number orders every log of a
// tenant and a token holds one Redis position whatever the stream reads.
// The epoch is a random number set when the hash is created: a Redis that
// lost its data (a restart without persistence) gets a new one, so a
// position of before is never taken for one of after.
//
// Retention: each log keeps its newest RecentBufferSize events, and up to
// a 64th more until the script trims it back (recording the newest
// trimmed position, so a reader behind it is told), and expires RecentTTL
// after its last event; the clock tells a reader whether a log could have
// expired since its position.

// logBroker is a Broker that keeps the logs of its channels: RedisBroker.
type logBroker interface {
	// appendPublish appends the framed envelope env (encodeLoggedEnvelope)
	// to the log key of channel and publishes it, in one atomic step, and
	// returns the event's epoch and position; when q is used, the step
	// numbers the envelope's seq member first and v is the counter's value
	// (seq_script.go).
	appendPublish(ctx context.Context, channel, key string, env []byte, r logRetention, q scriptSeq) (epoch, pos uint64, v int64, err error)
	// logHead returns the channel's epoch, newest position and the
	// position its epoch started after (base), creating the epoch
	// (newEpoch) when there is none.
	logHead(ctx context.Context, channel string, newEpoch uint64, nowMs int64) (epoch, pos, base uint64, err error)
	// renewEpoch replaces epoch old by newEpoch (when it is still in
	// place), raising the counter to at least floor, and returns the
	// channel's epoch and newest position.
	renewEpoch(ctx context.Context, channel string, old, newEpoch, floor uint64, nowMs int64) (epoch, pos uint64, err error)
	// mark publishes a mark on the channel of instance's marks
	// (markChannel): the channel's epoch, newest position and seq, after
	// every message published before it.
	mark(ctx context.Context, channel, instance string, seq uint64) error
	// readLogs reads the logs keys of channel after position after, up to
	// upto, at most limit events per log.
	readLogs(ctx context.Context, channel string, keys []string, after, upto uint64, limit int) (logPage, error)
}

// logRetention is what the publish script keeps.
type logRetention struct {
	maxLen   int   // events per log; 0: none kept
	ttlMs    int64 // a log's expiry after its last event; 0: none
	clockLen int   // entries of the clock
	nowMs    int64 // the publisher's clock
}

// slack is how many events beyond maxLen a log holds before it is
// trimmed back to maxLen: a 64th of it, at least one.
func (r logRetention) slack() int { return max(r.maxLen/64, 1) }

// logPage is one read of some logs.
type logPage struct {
	epoch, pos uint64 // the channel's, when read (epoch 0: none)
	born       int64  // ms when the epoch was made
	clockMs    int64  // ms of the clock entry at or before after; -1 if none
	logs       []logPart
}

// logPart is what one log holds after a position.
type logPart struct {
	first   uint64 // the position of its oldest event; 0 when empty or missing
	trimmed uint64 // the newest position deleted by retention
	entries []logEntry
}

// logEntry is one event of a log.
type logEntry struct {
	pos, epoch uint64 // epoch 0: the entry's field is not an epoch
	env        []byte // nil: not an envelope in its framed form
}

// Key names (see above).
func logMetaKey(ch string) string  { return "{" + ch + "}:m" }
func logClockKey(ch string) string { return "{" + ch + "}:c" }

// redisLogKey is the key of a target's log.
func redisLogKey(ch string, k logKey) string {
	switch k.kind {
	case kindUser:
		return "{" + ch + "}:u:" + k.target
	case kindRoom:
		return "{" + ch + "}:r:" + k.target
	}
	return "{" + ch + "}:a"
}

// trimKey is the key that holds the newest position trimmed from log.
func trimKey(ch, log string) string {
	return "{" + ch + "}:t:" + log[len(ch)+3:]
}

// luaUvarint is the Lua function uv(n), which writes n as a uvarint (as
// encoding/binary does), for the scripts that publish messages: with one
// string.char call below 2^21 (three bytes), the sizes of positions and
// lengths.
const luaUvarint = `
local char, floor = string.char, math.floor
local function uv(n)
  if n < 128 then return char(n) end
  if n < 16384 then return char(n % 128 + 128, floor(n / 128)) end
  if n < 2097152 then
    return char(n % 128 + 128, floor(n / 128) % 128 + 128, floor(n / 16384))
  end
  local s = ''
  while n >= 128 do
    s = s .. char(n % 128 + 128)
    n = floor(n / 128)
  end
  return s .. char(n)
end
`

// luaEntryID is the Lua function entryID(p), the id "<p>-0" of position
// p in a log: a Lua number's own conversion, exact below 10^14 (it has 14
// significant digits), string.format beyond.
const luaEntryID = `
local function entryID(p)
  if p < 1e14 then return p .. '-0' end
  return string.format('%d-0', p)
end
`

// publishScript appends and publishes a batch of events of one channel,
// in order, in one atomic step. KEYS: meta, clock, then a (log, trim) pair
// per log the batch touches, then the seq counters the batch numbers
// with. ARGV: the tenant channel, new epoch, max length, ttl ms, clock
// length, now ms, trim slack, the publish command (PUBLISH, or SPUBLISH on
// a Cluster), the number of events, then two per event: the number of its
// log's pair (1-based; negated when the script numbers the event's seq,
// then six more follow, luaNumbered's) and its framed envelope
// (envelope.go). It returns the number of segments, the segments, then
// the seq counter's value of each event it numbered. A segment is three
// items: the index (0-based) of an event, its epoch and its position; the
// events after it, up to the next segment, have the next positions in
// turn (a new segment starts at each jump). An event whose counter could
// not be incremented has the error in place of the value, and is neither
// appended nor published (its position stays unused).
//
// The counter is raised once by the batch's size. Each event is XADDed to
// its log, with id "<position>-0" and one field, its epoch, holding the
// framed envelope as it came (with its seq number written in, when the
// script numbers it): the script builds no envelope, so an event costs
// Redis its XADD and little more. Then each log touched is
// trimmed (once it holds slack events beyond its bound, back to the bound,
// recording the newest trimmed position in its trim key: a full log costs
// one trim per slack events) and its expiry renewed, and the clock gets an
// entry once a second.
//
// Publishing (interest routing, route.go): each run of consecutive events
// of one log goes out as one batch message (the epoch, the run's first
// position, its framed envelopes) on the log's channel: its key's name
// for a user or a room, the tenant channel for everyone.
//
// An XADD refused because the log already holds the position means the
// counter went back (a failover or a restore that lost writes): the
// counter jumps past the log, under a new epoch whose base is the log's
// newest position (the k-th jump of a batch takes the given new epoch plus
// k-1), so no position is ever given twice within an epoch; the events
// before the jump are published first.
var publishScript = redis.NewScript(luaUvarint + luaEntryID + luaCounted + luaNumbered + `
local call, try, format, tonumber = redis.call, redis.pcall, string.format, tonumber
local n = tonumber(ARGV[9])
local meta = call('HMGET', KEYS[1], 'epoch', 'sec')
local epoch = meta[1]
if not epoch then
  epoch = ARGV[2]
  call('HSET', KEYS[1], 'epoch', epoch, 'born', ARGV[6])
end
local pos = call('HINCRBY', KEYS[1], 'pos', n) - n
local maxlen, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local cmd, tenant = ARGV[8], ARGV[1]
local everyone = string.sub(KEYS[1], 1, -2) .. 'a'
-- head is a batch message's start up to its first position: its kind and epoch
local function headOf(e) return char(` + strconv.Itoa(envelopeBatch) + `) .. uv(tonumber(e)) end
local head = headOf(epoch)
local out, last, jumps = {0}, {}, 0
local segAt, segEpoch, segPos = nil, nil, 0
-- the run: parts[1..np] (its header, then its envelopes) of log runLog
local parts, np, runLog = {}, 0, 0
local function flush()
  if np == 0 then return end
  local log = KEYS[1 + 2 * runLog]
  local ch = tenant
  if log ~= everyone then ch = log end
  call(cmd, ch, table.concat(parts, '', 1, np))
  np = 0
end
local a, seqs = 10, {}
for i = 0, n - 1 do
  local l, env = tonumber(ARGV[a]), ARGV[a + 1]
  a = a + 2
  pos = pos + 1
  if l < 0 then
    local v
    l, env, v = -l, numbered(env, a)
    seqs[#seqs + 1], a = v, a + 6
  end
  if not env then
    flush()
  else
    local log = KEYS[1 + 2 * l]
    if maxlen > 0 then
      local r = try('XADD', log, entryID(pos), epoch, env)
      if type(r) == 'table' and r.err then
        flush()
        local top = call('XREVRANGE', log, '+', '-', 'COUNT', 1)
        local base = tonumber(string.match(top[1][1], '^(%d+)'))
        epoch, pos, jumps = format('%d', tonumber(ARGV[2]) + jumps), base + 1, jumps + 1
        head = headOf(epoch)
        call('HSET', KEYS[1], 'epoch', epoch, 'born', ARGV[6], 'base', base, 'pos', pos + n - 1 - i)
        call('XADD', log, entryID(pos), epoch, env)
      end
    end
    if np > 0 and runLog ~= l then flush() end
    if np == 0 then parts[1], np, runLog = head .. uv(pos), 1, l end
    np = np + 1
    parts[np] = env
    last[l] = pos
    if segEpoch ~= epoch or segPos + i - segAt ~= pos then
      local k = #out
      segAt, segEpoch, segPos = i, epoch, pos
      out[1], out[k + 1], out[k + 2], out[k + 3] = out[1] + 1, i, epoch, pos
    end
  end
end
for l, p in pairs(last) do
  local log, trim = KEYS[1 + 2 * l], KEYS[2 + 2 * l]
  local trimmed = nil
  if maxlen <= 0 then
    trimmed = format('%d', p)
  else
    local over = call('XLEN', log) - maxlen
    if over >= tonumber(ARGV[7]) then
      local old = call('XRANGE', log, '-', '+', 'COUNT', over)
      trimmed = string.match(old[#old][1], '^(%d+)')
      call('XTRIM', log, 'MAXLEN', maxlen)
    end
  end
  if trimmed then
    -- A full log trims every slack events: its trim key is renewed
    -- with it, and lives as long as the log (it holds slack events more).
    if ttl > 0 then
      call('SET', trim, trimmed, 'PX', ttl)
    else
      call('SET', trim, trimmed)
    end
  end
  if ttl > 0 then call('PEXPIRE', log, ttl) end
end
if ttl > 0 then
  local sec = floor(tonumber(ARGV[6]) / 1000)
  if sec > tonumber(meta[2] or -1) then
    call('HSET', KEYS[1], 'sec', sec)
    try('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], entryID(pos), 't', ARGV[6])
  end
end
flush()
for _, v in ipairs(seqs) do out[#out + 1] = v end
return out
`)

// luaNumbered is the Lua function numbered(env, a), which numbers the seq
// member of the framed envelope env (seq_script.go) with the arguments
// from ARGV[a]: the number of the counter's key among KEYS, the floor,
// StartAt, the key's expiry in ms, 1 for a final message, and how many of
// env's bytes follow the number. It increments the counter (counted, raising it to
// the floor), renews its expiry or deletes it (final), writes StartAt +
// value - 1 into env and gives env's length prefix the new length; it
// returns the new env and the counter's value, or nil and the error of a
// counter that could not be incremented (a key of another type).
const luaNumbered = `
local function numbered(env, a)
  local key, final = KEYS[tonumber(ARGV[a])], ARGV[a + 4] == '1'
  local ttl = tonumber(ARGV[a + 3])
  if final then ttl = 0 end
  local v, err = counted(key, ARGV[a + 1], ttl)
  if not v then return nil, err end
  if final then redis.call('DEL', key) end
  local digits = string.format('%d', tonumber(ARGV[a + 2]) + v - 1)
  local k, size, mul = 1, 0, 1
  while true do
    local c = string.byte(env, k)
    size = size + (c % 128) * mul
    if c < 128 then break end
    k, mul = k + 1, mul * 128
  end
  local cut = #env - tonumber(ARGV[a + 5])
  return uv(size + #digits) .. string.sub(env, k + 1, cut) .. digits .. string.sub(env, cut + 1), v
end
`

// headScript returns {epoch, position, base} of KEYS[1], creating the
// epoch ARGV[1] (born ARGV[2]) when there is none. base is the position
// after which the epoch started: 0 for a new counter, the position of a
// renewal.
var headScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'epoch', 'pos', 'base')
if not m[1] then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'born', ARGV[2], 'base', m[2] or 0)
  return {ARGV[1], tonumber(m[2] or 0), tonumber(m[2] or 0)}
end
return {m[1], tonumber(m[2] or 0), tonumber(m[3] or 0)}
`)

// markScript publishes a mark on channel ARGV[1] with the command
// ARGV[2]: the byte envelopeMark, the epoch and newest position of KEYS[1]
// and the number ARGV[3], uvarints (nothing without an epoch). It returns
// {epoch, position}. A script runs between two others, so the mark reaches
// a subscriber after every message published before it.
var markScript = redis.NewScript(luaUvarint + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'pos')
if not m[1] then return {0, 0} end
local pos = tonumber(m[2] or 0)
redis.call(ARGV[2], ARGV[1], string.char(` + strconv.Itoa(envelopeMark) + `) .. uv(tonumber(m[1])) .. uv(pos) .. uv(tonumber(ARGV[3])))
return {m[1], pos}
`)

// renewScript replaces the epoch ARGV[1] of KEYS[1] by ARGV[2] (born
// ARGV[3]) and raises the counter to at least ARGV[4], the newest position
// the caller saw, which becomes the new epoch's base. It returns {epoch,
// position}.
var renewScript = redis.NewScript(`
local m = redis.call('HMGET', KEYS[1], 'epoch', 'pos')
if m[1] == ARGV[1] or not m[1] then
  local pos = math.max(tonumber(m[2] or 0), tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'born', ARGV[3], 'base', pos, 'pos', pos)
  return {ARGV[2], pos}
end
return {m[1], tonumber(m[2] or 0)}
`)

// readScript reads logs. KEYS: meta, clock, then pairs (log, trim). ARGV:
// after, upto, limit. It returns epoch, position, born, the clock's ms at
// or before after, then for each log its first id, its trimmed position
// and its entries in (after, upto].
var readScript = redis.NewScript(`
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'pos', 'born')
local out = {meta[1] or false, meta[2] or '0', meta[3] or '0', false}
local clock = redis.call('XREVRANGE', KEYS[2], ARGV[1] .. '-0', '-', 'COUNT', 1)
if clock[1] then out[4] = clock[1][2][2] end
local start = string.format('%d-0', tonumber(ARGV[1]) + 1)
local stop = ARGV[2] .. '-0'
for i = 3, #KEYS, 2 do
  local first = redis.call('XRANGE', KEYS[i], '-', '+', 'COUNT', 1)
  if first[1] then out[#out + 1] = first[1][1] else out[#out + 1] = false end
  out[#out + 1] = redis.call('GET', KEYS[i + 1]) or false
  out[#out + 1] = redis.call('XRANGE', KEYS[i], start, stop, 'COUNT', ARGV[3])
end
return out
`)

// minRedisMajor is the oldest Redis the logs run on: Streams (XADD with
// explicit ids, XRANGE with COUNT, XDEL) are Redis 5.0; scripts, HSET with
// several fields and PEXPIRE are older. On a Cluster, sharded Pub/Sub
// (SPUBLISH, SSUBSCRIBE) needs minClusterMajor.
const (
	minRedisMajor   = 5
	minClusterMajor = 7
)

// ErrRedisTooOld is reported (wrapped in ErrBroker) when the Redis server
// is older than the logs need.
var ErrRedisTooOld = errors.New("ssekify: Redis too old for the logs (Redis 5.0 or newer is needed; 7.0 on a Cluster)")

func (b *RedisBroker) appendPublish(ctx context.Context, channel, key string, env []byte, r logRetention, q scriptSeq) (uint64, uint64, int64, error) {
	if b.isClosed() {
		return 0, 0, 0, redis.ErrClosed
	}
	if err := b.checkVersion(ctx); err != nil {
		return 0, 0, 0, err
	}
	c := &pubCall{channel: channel, log: key, env: env, r: r, seq: q}
	epoch, pos, err := b.runPublish(ctx, c)
	if err != nil {
		return 0, 0, 0, err // c may still be in a batch in flight
	}
	return epoch, pos, c.seq.v, nil
}

func (b *RedisBroker) logHead(ctx context.Context, channel string, newEpoch uint64, nowMs int64) (uint64, uint64, uint64, error) {
	if b.isClosed() {
		return 0, 0, 0, redis.ErrClosed
	}
	if err := b.checkVersion(ctx); err != nil {
		return 0, 0, 0, err
	}
	res, err := headScript.Run(ctx, b.client, []string{logMetaKey(channel)}, newEpoch, nowMs).Slice()
	if err != nil {
		return 0, 0, 0, err
	}
	if len(res) != 3 {
		return 0, 0, 0, fmt.Errorf("%w: unexpected script reply %v", ErrBroker, res)
	}
	base, err := replyUint(res[2])
	if err != nil {
		return 0, 0, 0, err
	}
	epoch, pos, err := epochPos(res[:2])
	return epoch, pos, base, err
}

func (b *RedisBroker) mark(ctx context.Context, channel, instance string, seq uint64) error {
	if b.isClosed() {
		return redis.ErrClosed
	}
	return markScript.Run(ctx, b.client, []string{logMetaKey(channel)}, markChannel(channel, instance), b.publishCommand(), seq).Err()
}

// markChannel is the channel of one instance's marks: in the channel's
// slot, so that it is a shard channel of the tenant's shard on a Cluster.
func markChannel(channel, instance string) string { return "{" + channel + "}:i:" + instance }

func (b *RedisBroker) renewEpoch(ctx context.Context, channel string, old, newEpoch, floor uint64, nowMs int64) (uint64, uint64, error) {
	if b.isClosed() {
		return 0, 0, redis.ErrClosed
	}
	res, err := renewScript.Run(ctx, b.client, []string{logMetaKey(channel)}, old, newEpoch, nowMs, floor).Slice()
	if err != nil {
		return 0, 0, err
	}
	return epochPos(res)
}

func (b *RedisBroker) readLogs(ctx context.Context, channel string, keys []string, after, upto uint64, limit int) (logPage, error) {
	if b.isClosed() {
		return logPage{}, redis.ErrClosed
	}
	all := make([]string, 0, 2+2*len(keys))
	all = append(all, logMetaKey(channel), logClockKey(channel))
	for _, k := range keys {
		all = append(all, k, trimKey(channel, k))
	}
	res, err := readScript.Run(ctx, b.client, all, after, upto, limit).Slice()
	if err != nil {
		return logPage{}, err
	}
	return parseLogPage(res, len(keys))
}

// publishTo is the tenant channel the publish script publishes on: on a
// Cluster the shard channel of the channel's slot.
func (b *RedisBroker) publishTo(channel string) string {
	if b.sharded {
		channel = shardChannel(channel)
	}
	return channel
}

// publishCommand is the command the publish script publishes with.
func (b *RedisBroker) publishCommand() string {
	if b.sharded {
		return "SPUBLISH"
	}
	return "PUBLISH"
}

// shardChannel is the shard channel of a hub's channel: its hash tag, so
// that it lives in the slot of the channel's keys.
func shardChannel(channel string) string { return "{" + channel + "}" }

// checkVersion reads the server's version once and refuses one older
// than the logs need. A server that does not say is let through.
func (b *RedisBroker) checkVersion(ctx context.Context) error {
	if b.versionKnown.Load() {
		return b.tooOld
	}
	b.versionMu.Lock()
	defer b.versionMu.Unlock()
	if b.versionKnown.Load() {
		return b.tooOld
	}
	info, err := b.client.Info(ctx, "server").Result()
	if err != nil {
		return nil // asked again next time; the script's own errors tell meanwhile
	}
	v := infoField(info, "redis_version")
	major, _, _ := strings.Cut(v, ".")
	least := minRedisMajor
	if b.sharded {
		least = minClusterMajor
	}
	if n, err := strconv.Atoi(major); err == nil && n < least {
		b.tooOld = fmt.Errorf("%w: %w: the server is Redis %s", ErrBroker, ErrRedisTooOld, v)
	}
	b.versionKnown.Store(true)
	return b.tooOld
}

// infoField returns the value of field in the text of INFO.
func infoField(info, field string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// epochPos reads a script's {epoch, position}.
func epochPos(res []any) (uint64, uint64, error) {
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("%w: unexpected script reply %v", ErrBroker, res)
	}
	epoch, err := replyUint(res[0])
	if err != nil {
		return 0, 0, err
	}
	pos, err := replyUint(res[1])
	return epoch, pos, err
}

// parseLogPage reads the reply of readScript for n logs.
func parseLogPage(res []any, n int) (logPage, error) {
	var p logPage
	if len(res) != 4+3*n {
		return p, fmt.Errorf("%w: unexpected read reply of %d items for %d logs", ErrBroker, len(res), n)
	}
	var err error
	if res[0] != nil {
		if p.epoch, err = replyUint(res[0]); err != nil {
			return p, err
		}
	}
	if p.pos, err = replyUint(res[1]); err != nil {
		return p, err
	}
	born, err := replyUint(res[2])
	if err != nil {
		return p, err
	}
	p.born, p.clockMs = int64(born), -1
	if res[3] != nil {
		ms, err := replyUint(res[3])
		if err != nil {
			return p, err
		}
		p.clockMs = int64(ms)
	}
	p.logs = make([]logPart, n)
	for i := range p.logs {
		if p.logs[i], err = parseLogPart(res[4+3*i:]); err != nil {
			return p, err
		}
	}
	return p, nil
}

// parseLogPart reads one log's first id, trimmed position and entries.
func parseLogPart(r []any) (logPart, error) {
	var l logPart
	var err error
	if r[0] != nil {
		if l.first, err = entryPos(r[0]); err != nil {
			return l, err
		}
	}
	if r[1] != nil {
		if l.trimmed, err = replyUint(r[1]); err != nil {
			return l, err
		}
	}
	entries, _ := r[2].([]any)
	l.entries = make([]logEntry, 0, len(entries))
	for _, e := range entries {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return l, fmt.Errorf("%w: malformed log entry", ErrBroker)
		}
		pos, err := entryPos(pair[0])
		if err != nil {
			return l, err
		}
		fields, _ := pair[1].([]any)
		if len(fields) != 2 {
			return l, fmt.Errorf("%w: log entry %d has %d fields", ErrBroker, pos, len(fields))
		}
		// A malformed field is the entry's loss, told by its readers
		// (decodeEntries), not a failed read.
		e := logEntry{pos: pos}
		if name, ok := fields[0].(string); ok {
			e.epoch, _ = strconv.ParseUint(name, 10, 64)
		}
		if v, ok := fields[1].(string); ok {
			e.env, _ = unframe([]byte(v))
		}
		l.entries = append(l.entries, e)
	}
	return l, nil
}

// entryPos reads the position of a stream entry id "<position>-0".
func entryPos(v any) (uint64, error) {
	s, _ := v.(string)
	ms, _, _ := strings.Cut(s, "-")
	p, err := strconv.ParseUint(ms, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: log entry id %q", ErrBroker, s)
	}
	return p, nil
}

// replyUint reads a non-negative integer from a script reply (an integer,
// or a string of digits).
func replyUint(v any) (uint64, error) {
	switch x := v.(type) {
	case int64:
		if x >= 0 {
			return uint64(x), nil
		}
	case string:
		if n, err := strconv.ParseUint(x, 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: unexpected value %v in a script reply", ErrBroker, v)
}
