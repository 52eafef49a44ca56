// Package redisproc starts and stops the redis-server that a benchmark
// tool runs for itself on loopback, and reads its INFO.
package redisproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server process a benchmark starts for itself, on a
// free loopback port, without persistence.
type Server struct {
	// Addr is "127.0.0.1:<Port>".
	Addr string
	// Port is the server's TCP port.
	Port int

	cmd    *exec.Cmd
	dir    string
	stderr bytes.Buffer
	exited chan struct{}
	once   sync.Once
}

// ErrNotFound is returned by Start when bin (redis-server) can not be
// found. It names the tools' -redis-server flag.
var ErrNotFound = errors.New("redis-server not found in PATH (install it, or pass -redis-server PATH)")

// Start starts bin (redis-server) on a free port of 127.0.0.1 with no RDB
// or AOF file, in a temporary directory named after tool, and waits (at
// most 10 s) until it answers PING. It returns ErrNotFound when bin is not
// in PATH. The process is killed by Stop, and by the kernel if this
// process dies first (Linux).
func Start(ctx context.Context, bin, tool string) (*Server, error) {
	if _, err := exec.LookPath(bin); err != nil {
		return nil, ErrNotFound
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", tool+"-")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, dir: dir, exited: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--loglevel", "warning")
	s.cmd.Stdout = &s.stderr
	s.cmd.Stderr = &s.stderr
	KillWithParent(s.cmd)
	if err := s.cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()

	c := redis.NewClient(&redis.Options{Addr: s.Addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
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
			s.Stop()
			return nil, fmt.Errorf("redis-server exited: %s", strings.TrimSpace(s.stderr.String()))
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING within 10s: %w", s.Addr, err)
		}
	}
}

// Stop kills the server, waits (at most 5 s) for it to exit and removes its
// directory. It may be called more than once, from any goroutine.
func (s *Server) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	s.once.Do(func() {
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
	})
}

// PID returns the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Watchdog guards a run bounded by timeout against a call that ignores its
// deadline: if the run is still going 30 s after timeout, it logs so, stops
// the server and exits this process with status 2. Stop the returned timer
// when the run ends.
func (s *Server) Watchdog(timeout time.Duration) *time.Timer {
	return time.AfterFunc(timeout+30*time.Second, func() {
		log.Printf("the run overstayed -timeout %v by 30 s: killing redis-server and exiting", timeout)
		s.Stop()
		os.Exit(2)
	})
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Info returns the fields of INFO section as a map.
func Info(ctx context.Context, c *redis.Client, section string) (map[string]string, error) {
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

// Version returns INFO server's redis_version, or "?" when it can not be
// read.
func Version(ctx context.Context, c *redis.Client) string {
	m, err := Info(ctx, c, "server")
	if err != nil || m["redis_version"] == "" {
		return "?"
	}
	return m["redis_version"]
}

// FlushAll empties the server (FLUSHALL) within 10 s, so that what one run
// left in Redis does not weigh on the next one.
func FlushAll(ctx context.Context, c *redis.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return c.FlushAll(ctx).Err()
}
