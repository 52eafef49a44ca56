package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ssekify/ssekify/benchmarks/internal/redisproc"

	"github.com/ssekify/ssekify/benchmarks/internal/mdfmt"
)

// memSample is what the memory scenario reads of Redis.
type memSample struct {
	used, dataset, keys int64 // INFO memory used_memory, used_memory_dataset; DBSIZE
}

// usedMemory reads INFO memory and DBSIZE.
func usedMemory(ctx context.Context, c *redis.Client) (memSample, error) {
	m, err := redisproc.Info(ctx, c, "memory")
	if err != nil {
		return memSample{}, err
	}
	var s memSample
	if s.used, err = strconv.ParseInt(m["used_memory"], 10, 64); err != nil {
		return s, fmt.Errorf("used_memory %q: %w", m["used_memory"], err)
	}
	if s.dataset, err = strconv.ParseInt(m["used_memory_dataset"], 10, 64); err != nil {
		return s, fmt.Errorf("used_memory_dataset %q: %w", m["used_memory_dataset"], err)
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s.keys, err = c.DBSize(dctx).Result()
	return s, err
}

// benchResult is what redis-benchmark reported for one command.
type benchResult struct {
	what     string // "PUBLISH", or the script's name
	pipeline int
	ran      bool
	skipped  string // why it did not run
	rps      float64
	p50      string // its p50 latency, as printed
	cmd      string // the command line, the payload abridged
}

// scriptCommand is the publish script of the reference figure, 4
// commands: HINCRBY, XADD, PEXPIRE, PUBLISH (what a per-event publish
// script does at least), run by redis-benchmark as an EVAL.
var scriptCommand = []string{"EVAL",
	"local p = redis.call('HINCRBY', KEYS[1], 'pos', 1) " +
		"redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, string.format('%d-0', p), 'e', ARGV[1]) " +
		"redis.call('PEXPIRE', KEYS[2], 300000) " +
		"redis.call('PUBLISH', 'redislog:ref', ARGV[1]) return p",
	"2", "{redislog:ref}:m", "{redislog:ref}:log"}

// publishCommand is plain PUBLISH to a channel nobody subscribes to.
var publishCommand = []string{"PUBLISH", "redislog:ref"}

// redisBenchmark runs bin against the server: requests commands (cmd,
// then a size-byte payload), from 64 clients, pipeline commands per round
// trip, quiet output, within 90 s. redis-benchmark's own "-t publish"
// prints nothing (7.0 has no such test), hence the explicit command. A
// missing binary is not an error: the result says it was skipped.
func redisBenchmark(ctx context.Context, bin string, s *redisproc.Server, requests, pipeline, size int, what string, command []string) benchResult {
	r := benchResult{what: what, pipeline: pipeline}
	if bin == "" || bin == "-" {
		r.skipped = "disabled (-redis-benchmark -)"
		return r
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		r.skipped = bin + " not installed"
		return r
	}
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-n", strconv.Itoa(requests),
		"-c", "64", "-P", strconv.Itoa(pipeline), "-q"}
	args = append(args, command...)
	r.cmd = "redis-benchmark " + strings.Join(args, " ") + " <" + strconv.Itoa(size) + " B>"
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append(args, strings.Repeat("x", size))...)
	redisproc.KillWithParent(cmd)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.skipped = fmt.Sprintf("failed: %v", err)
		return r
	}
	// -q prints progress lines ended by CR, then the summary line:
	// "<command>: 574712.69 requests per second, p50=1.463 msec".
	lines := strings.FieldsFunc(string(out), func(c rune) bool { return c == '\r' || c == '\n' })
	for i := len(lines) - 1; i >= 0; i-- {
		before, after, ok := strings.Cut(lines[i], " requests per second")
		if !ok {
			continue
		}
		num := before[strings.LastIndexByte(before, ' ')+1:]
		if v, err := strconv.ParseFloat(num, 64); err == nil {
			r.ran, r.rps = true, v
			if _, p, ok := strings.Cut(after, "p50="); ok {
				r.p50 = strings.TrimSpace(p)
			}
			return r
		}
	}
	r.skipped = "no requests-per-second figure in its output: " + mdfmt.Clip(strings.TrimSpace(string(out)), 200)
	return r
}
