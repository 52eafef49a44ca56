// Package redistest runs real redis-server, redis-sentinel and Redis Cluster
// processes for tests.
//
// Every process listens on a free port of 127.0.0.1, keeps its files in a
// directory from t.TempDir, runs in its own process group and is killed and
// reaped by t.Cleanup. Every wait is bounded in time.
package redistest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// readyTimeout bounds the wait for a started process to answer PING.
	readyTimeout = 5 * time.Second
	// stopTimeout bounds the wait for a process to exit after SIGTERM.
	stopTimeout = 5 * time.Second
	// startAttempts is how many ports Start tries before giving up.
	startAttempts = 5
)

// Require returns the path of binary, looked up in PATH. When it is missing
// the test fails if the CI environment variable is set (a missing dependency
// in CI is an error) and is skipped otherwise.
func Require(t testing.TB, binary string) string {
	t.Helper()
	path, err := exec.LookPath(binary)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("redistest: %s is not installed (Debian packages redis-server, redis-sentinel, redis-tools; ./scripts/test installs them): %v", binary, err)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s", msg)
		return ""
	}
	t.Skipf("%s; skipped because CI is not set", msg)
	return ""
}

var (
	portsMu sync.Mutex
	ports   = map[int]bool{} // ports already handed out by FreePort in this process
)

// FreePort returns a TCP port of 127.0.0.1 that was free when checked and that
// FreePort has not returned before in this process. It prefers ports below the
// kernel's ephemeral range, which outgoing connections never take, so that a
// server can usually be restarted on the same port. Another process may still
// take it before it is used, so callers that bind it should retry on failure.
func FreePort(t testing.TB) int {
	t.Helper()
	low := ephemeralLow()
	for i := 0; i < 200; i++ {
		addr := "127.0.0.1:0"
		if low-portRangeStart >= 1000 && i < 100 {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(portRangeStart+rand.IntN(low-portRangeStart)))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		portsMu.Lock()
		used := ports[port]
		ports[port] = true
		portsMu.Unlock()
		if !used {
			return port
		}
	}
	t.Fatalf("redistest: no free port found")
	return 0
}

// portRangeStart is the lowest port FreePort picks from.
const portRangeStart = 20000

// ephemeralLow returns the first port of the kernel's ephemeral range, or 0
// when it is unknown.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return 0
	}
	return low
}

// Option configures a Server started by Start.
type Option func(*config)

type config struct {
	password  string
	replicaOf string
	cluster   bool
	args      []string
}

// WithPassword makes the server require password (requirepass). The readiness
// check and Do authenticate with it.
func WithPassword(password string) Option {
	return func(c *config) { c.password = password }
}

// WithArgs appends extra redis-server command-line arguments, such as
// "--maxmemory", "10mb".
func WithArgs(extra ...string) Option {
	return func(c *config) { c.args = append(c.args, extra...) }
}

// WithReplicaOf makes the server a replica of the server at addr
// ("host:port").
func WithReplicaOf(addr string) Option {
	return func(c *config) { c.replicaOf = addr }
}

// WithCluster enables cluster mode, with the cluster bus on a second free
// port and the node configuration in the server's directory.
func WithCluster() Option {
	return func(c *config) { c.cluster = true }
}

// Server is a redis-server (or redis-sentinel) process owned by a test.
type Server struct {
	// Addr is "127.0.0.1:Port".
	Addr string
	// Port is the TCP port the server listens on.
	Port int
	// Dir is the server's working directory, which holds its log (redis.log)
	// and any files it writes.
	Dir string
	// Password is the password set by WithPassword, or "".
	Password string
	// BusPort is the cluster bus port of a server started WithCluster.
	BusPort int

	bin  string
	args func(s *Server) []string // command-line arguments for the current ports

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been reaped
}

// Start starts redis-server on a free port of 127.0.0.1 with persistence
// disabled and no delay before replica synchronization, and waits (at most about 5 s) until it answers PING. The process is
// killed when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		Dir:      t.TempDir(),
		Password: cfg.password,
		bin:      Require(t, "redis-server"),
		args: func(s *Server) []string {
			args := []string{
				"--port", strconv.Itoa(s.Port),
				"--bind", "127.0.0.1",
				"--save", "",
				"--appendonly", "no",
				"--daemonize", "no",
				// Replicas sync at once instead of after the default 5 s.
				"--repl-diskless-sync-delay", "0",
				"--dir", s.Dir,
			}
			if cfg.password != "" {
				args = append(args, "--requirepass", cfg.password)
			}
			if cfg.replicaOf != "" {
				host, port, err := net.SplitHostPort(cfg.replicaOf)
				if err != nil {
					host, port = cfg.replicaOf, ""
				}
				args = append(args, "--replicaof", host, port)
			}
			if cfg.cluster {
				args = append(args,
					"--cluster-enabled", "yes",
					"--cluster-config-file", "nodes.conf",
					"--cluster-port", strconv.Itoa(s.BusPort),
					"--cluster-node-timeout", "5000",
				)
			}
			return append(args, cfg.args...)
		},
	}
	s.startOnFreePort(t, cfg.cluster)
	return s
}

// startOnFreePort launches s on fresh free ports, retrying when the process
// exits early (typically because another process took the port), and
// registers its cleanup.
func (s *Server) startOnFreePort(t testing.TB, bus bool) {
	t.Helper()
	var err error
	for attempt := 0; attempt < startAttempts; attempt++ {
		s.Port = FreePort(t)
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		if bus {
			s.BusPort = FreePort(t)
		}
		if err = s.launch(); err == nil {
			t.Cleanup(s.Stop)
			return
		}
	}
	t.Fatalf("redistest: starting %s: %v", filepath.Base(s.bin), err)
}

// launch starts the process on s.Port and waits until it answers PING.
func (s *Server) launch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	logPath := filepath.Join(s.Dir, "redis.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "### redistest: %s %q\n", s.bin, s.args(s))

	cmd := exec.Command(s.bin, s.args(s)...)
	cmd.Dir = s.Dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("process exited before answering PING; log:\n%s", s.logTail())
		default:
		}
		reply, err := Do(s.Addr, s.Password, "PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		if time.Now().After(deadline) {
			s.killLocked()
			return fmt.Errorf("no PONG from %s within %v (last reply %v, error %v); log:\n%s", s.Addr, readyTimeout, reply, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logTail returns the end of the server's log.
func (s *Server) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "redis.log"))
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(b)
}

// URL returns the server's redis:// URL for database 0, including the
// password if one is set.
func (s *Server) URL() string {
	if s.Password != "" {
		return fmt.Sprintf("redis://:%s@%s/0", s.Password, s.Addr)
	}
	return fmt.Sprintf("redis://%s/0", s.Addr)
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exited == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL to the server's process group and waits until the
// process has been reaped. It does nothing if the server is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// Stop shuts the server down with SIGTERM, falling back to SIGKILL after 5 s,
// and waits until the process has been reaped. It does nothing if the server
// is not running. Start registers it with t.Cleanup.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	select {
	case <-s.exited:
		return
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.killLocked()
	}
}

// Restart starts the server again on the same port, directory and options,
// stopping it first if it is still running. It retries for a few seconds when
// the port is briefly unavailable, then fails the test.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	var err error
	for attempt := 0; attempt < 10; attempt++ {
		if err = s.launch(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("redistest: restarting %s on %s: %v", filepath.Base(s.bin), s.Addr, err)
}

// Do sends one command to the server, authenticating first if the server has
// a password, and returns the reply as Do (the package function) does.
func (s *Server) Do(args ...string) (any, error) {
	return Do(s.Addr, s.Password, args...)
}

// WaitFor polls cond every 50 ms until it returns true, failing the test
// with msg when timeout passes first.
func WaitFor(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: timed out after %v waiting for %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// infoField returns the value of field in the reply of INFO section.
func infoField(addr, password, section, field string) (string, error) {
	reply, err := Do(addr, password, "INFO", section)
	if err != nil {
		return "", err
	}
	text, ok := reply.(string)
	if !ok {
		return "", fmt.Errorf("INFO reply %T", reply)
	}
	for _, line := range strings.Split(text, "\r\n") {
		if v, found := strings.CutPrefix(line, field+":"); found {
			return v, nil
		}
	}
	return "", errors.New("no field " + field + " in INFO " + section)
}
