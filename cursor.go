package ssekify

import (
	"strconv"
	"strings"
)

// A position orders every event of a hub: one counter, bumped in the
// critical section that appends the event to its log and queues it, so the
// position order is the order of every log and of every stream. A stream's
// cursor is the position of the last event it was given; the SSE id of a
// default-id event is the token of its position, so a client's Last-Event-ID
// tells the hub, for every log the stream reads, what it already has.
//
// The token is opaque to clients and versioned:
//
//	v1.<epoch>.<position>     e.g. "v1.k3x9f2a.2s"
//
// both fields lower-case base 36 without leading zeros (canonical: one
// position has exactly one token). The epoch names the counter: a random
// value chosen by New for the in-memory logs, so that a token from another
// instance or from before a restart never selects a position of this one.
// The token only selects positions: which logs a stream reads is decided by
// the server (the registered user, the stream's rooms, everyone), never by
// the token, so a forged token can not read another user's events.

// tokenPrefix starts every position token.
const tokenPrefix = "v1."

// maxTokenField is the longest base-36 uint64.
const maxTokenField = 13

// appendToken appends the token of position pos under epoch to dst.
func appendToken(dst []byte, epoch, pos uint64) []byte {
	dst = append(dst, tokenPrefix...)
	dst = strconv.AppendUint(dst, epoch, 36)
	dst = append(dst, '.')
	return strconv.AppendUint(dst, pos, 36)
}

// parseToken returns the epoch and position of a canonical token; ok is
// false for anything else (another format, a caller's id, garbage).
func parseToken(s string) (epoch, pos uint64, ok bool) {
	if len(s) < len(tokenPrefix)+3 || s[:len(tokenPrefix)] != tokenPrefix {
		return 0, 0, false
	}
	rest := s[len(tokenPrefix):]
	dot := -1
	for i := 0; i < len(rest); i++ {
		if rest[i] == '.' {
			dot = i
			break
		}
	}
	if dot < 0 {
		return 0, 0, false
	}
	epoch, ok = parseBase36(rest[:dot])
	if !ok {
		return 0, 0, false
	}
	pos, ok = parseBase36(rest[dot+1:])
	return epoch, pos, ok
}

// parseBase36 parses a canonical base-36 uint64: 1 to 13 digits 0-9a-z, no
// leading zero (but "0" itself), no overflow.
func parseBase36(s string) (uint64, bool) {
	if len(s) == 0 || len(s) > maxTokenField || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'z':
			d = uint64(c-'a') + 10
		default:
			return 0, false
		}
		if v > (^uint64(0)-d)/36 {
			return 0, false
		}
		v = v*36 + d
	}
	return v, true
}

// With a broker that keeps logs (log_redis.go), an event has two
// positions: its place on this instance, as above, and, for a Publish*
// event, its place in the channel's log on Redis, which every instance
// shares. The token then holds both, the Redis part for the newest Redis
// position the stream was given (a local event carries the instance's at
// its delivery):
//
//	v2.<epoch>.<position>.<redis epoch>.<redis position>
//
// On the instance that wrote it, the local part replays what SendTo* sent
// from its memory logs; on every instance, the Redis part replays the
// Publish* events from the logs on Redis.

// tokenPrefix2 starts every two-part token.
const tokenPrefix2 = "v2."

// appendToken2 appends the two-part token to dst.
func appendToken2(dst []byte, epoch, pos, repoch, rpos uint64) []byte {
	dst = append(dst, tokenPrefix2...)
	dst = strconv.AppendUint(dst, epoch, 36)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, pos, 36)
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, repoch, 36)
	dst = append(dst, '.')
	return strconv.AppendUint(dst, rpos, 36)
}

// token2 is a parsed two-part token.
type token2 struct {
	epoch, pos, repoch, rpos uint64
}

// parseToken2 parses a canonical two-part token; ok is false for anything
// else.
func parseToken2(s string) (t token2, ok bool) {
	if len(s) < len(tokenPrefix2)+7 || s[:len(tokenPrefix2)] != tokenPrefix2 {
		return t, false
	}
	var f [4]uint64
	rest := s[len(tokenPrefix2):]
	for i := range f {
		field := rest
		if i < len(f)-1 {
			dot := strings.IndexByte(rest, '.')
			if dot < 0 {
				return t, false
			}
			field, rest = rest[:dot], rest[dot+1:]
		}
		if f[i], ok = parseBase36(field); !ok {
			return t, false
		}
	}
	return token2{f[0], f[1], f[2], f[3]}, true
}
