package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ssekify/ssekify/benchmarks/internal/redisproc"
)

// child is a process the coordinator started from its own executable:
// an instance or the clients.
type child struct {
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	addr   string // instance: host:port of its streams
	ctl    string // base URL of its control endpoint
	exited chan struct{}
}

// ctlClient is the coordinator's HTTP client of the control endpoints.
var ctlClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}

// startChild runs this executable with args and waits (at most 20 s) for
// its ready line. Its standard error goes to ours; it is killed when this
// process dies (Linux), and ends by itself when its standard input does.
func startChild(ctx context.Context, name string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ch := &child{name: name, cmd: exec.Command(exe, args...), exited: make(chan struct{})}
	ch.cmd.Stderr = os.Stderr
	redisproc.KillWithParent(ch.cmd)
	stdout, err := ch.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if ch.stdin, err = ch.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := ch.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	lines := make(chan string, 1)
	go ch.watch(stdout, lines)
	t := time.NewTimer(20 * time.Second)
	defer t.Stop()
	select {
	case line := <-lines:
		if err := ch.parseReady(line); err != nil {
			ch.stop()
			return nil, err
		}
		return ch, nil
	case <-ch.exited:
		return nil, fmt.Errorf("%s exited before it was ready: %v", name, ch.cmd.ProcessState)
	case <-ctx.Done():
		ch.stop()
		return nil, ctx.Err()
	case <-t.C:
		ch.stop()
		return nil, fmt.Errorf("%s: no ready line within 20 s", name)
	}
}

// watch hands the child's first output line over, reads the rest until
// the child closes its output, then waits for it to exit.
func (ch *child) watch(stdout io.Reader, lines chan<- string) {
	sc := bufio.NewScanner(stdout)
	if sc.Scan() {
		lines <- sc.Text()
	}
	_, _ = io.Copy(io.Discard, stdout)
	_ = ch.cmd.Wait()
	close(ch.exited)
}

// parseReady reads "ready <streams URL or -> <control URL>".
func (ch *child) parseReady(line string) error {
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ready" {
		return fmt.Errorf("%s: unexpected first line %q", ch.name, line)
	}
	ch.addr = strings.TrimPrefix(f[1], "http://")
	ch.ctl = f[2]
	return nil
}

// pid is the child's process id.
func (ch *child) pid() int { return ch.cmd.Process.Pid }

// call makes a control request (see ctlCall) with a deadline of d.
func (ch *child) call(ctx context.Context, path string, in, out any, d time.Duration) error {
	if err := ctlCall(ctx, ctlClient, ch.ctl, path, in, out, d); err != nil {
		return fmt.Errorf("%s: %w", ch.name, err)
	}
	return nil
}

// stop closes the child's standard input, so that it shuts down, and
// kills it when it did not exit within 8 s.
func (ch *child) stop() {
	_ = ch.stdin.Close()
	select {
	case <-ch.exited:
		return
	case <-time.After(8 * time.Second):
	}
	_ = ch.cmd.Process.Kill()
	select {
	case <-ch.exited:
	case <-time.After(3 * time.Second):
	}
}

// stopAll stops the children, all at once.
func stopAll(children []*child) {
	done := make(chan struct{}, len(children))
	for _, ch := range children {
		go func() { ch.stop(); done <- struct{}{} }()
	}
	for range children {
		<-done
	}
}
