package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisServer is the redis-server process the tool starts for itself, on a
// free loopback port, without persistence. Both libraries' brokers use it.
type redisServer struct {
	cmd    *exec.Cmd
	addr   string
	port   int
	dir    string
	stderr bytes.Buffer
	exited chan struct{}
}

// startRedis starts bin (redis-server) on a free port of 127.0.0.1 with no
// RDB or AOF file, in a temporary directory, and waits (at most 10 s) until
// it answers PING. The process is killed by stop, and by the kernel if this
// process dies first (Linux).
func startRedis(ctx context.Context, bin string) (*redisServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "crossnode-")
	if err != nil {
		return nil, err
	}
	s := &redisServer{addr: "127.0.0.1:" + strconv.Itoa(port), port: port, dir: dir, exited: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--loglevel", "warning")
	s.cmd.Stdout = &s.stderr
	s.cmd.Stderr = &s.stderr
	setParentDeathSignal(s.cmd)
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()

	c := redis.NewClient(&redis.Options{Addr: s.addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		err := c.Ping(pctx).Err()
		cancel()
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			s.stop()
			return nil, fmt.Errorf("redis-server exited: %s", strings.TrimSpace(s.stderr.String()))
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING within 10s: %w", s.addr, err)
		}
	}
}

// stop kills the server, waits (at most 5 s) for it to exit and removes its
// directory. It may be called more than once, and from more than one
// goroutine.
func (s *redisServer) stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Kill()
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
		}
	}
	_ = os.RemoveAll(s.dir)
}

// pid returns the server's process id.
func (s *redisServer) pid() int { return s.cmd.Process.Pid }

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// info returns the fields of INFO section as a map.
func info(ctx context.Context, c *redis.Client, section string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := c.Info(ctx, section).Result()
	if err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	return m, nil
}

// redisVersion returns INFO server's redis_version, or "?".
func redisVersion(ctx context.Context, c *redis.Client) string {
	m, err := info(ctx, c, "server")
	if err != nil || m["redis_version"] == "" {
		return "?"
	}
	return m["redis_version"]
}

// flushAll empties the server (FLUSHALL) within 10 s, so that one
// library's keys do not weigh on the next one's run.
func flushAll(ctx context.Context, c *redis.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.FlushAll(ctx).Err()
}

// errNoRedis is returned when redis-server can not be found.
var errNoRedis = errors.New("redis-server not found in PATH (install it, or pass -redis-server PATH)")
