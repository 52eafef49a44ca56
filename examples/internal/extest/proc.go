package extest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildTimeout bounds the build of the example programs.
const buildTimeout = 3 * time.Minute

// Build compiles the main packages pkgs (paths relative to the test's
// directory, such as "./a") into a temporary directory and returns their
// paths by package base name. The programs are built with -race when the
// test is, so they reuse the test's compiled packages.
func Build(t testing.TB, pkgs ...string) map[string]string {
	t.Helper()
	goBin, err := exec.LookPath("go") // go test puts GOROOT/bin first in PATH
	if err != nil {
		t.Fatalf("the go command is needed to build the example programs: %v", err)
	}
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, pkgs...)
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, goBin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	bins := make(map[string]string, len(pkgs))
	for _, p := range pkgs {
		bins[filepath.Base(p)] = filepath.Join(dir, filepath.Base(p))
	}
	return bins
}

// Proc is an example program running for a test.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // Wait's result, set before done is closed
}

// Run starts bin with env added to the test's environment. When the test
// ends it sends SIGTERM, waits for the program to shut down and fails the
// test unless it exited with status 0; its output is logged on failure.
func Run(t testing.TB, bin string, env ...string) *Proc {
	t.Helper()
	p := &Proc{Name: filepath.Base(bin), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.Name, p.out.String())
		}
	})
	return p
}

// Stop sends SIGTERM and waits for the program to exit (SIGKILL after Wait).
// It returns an error unless the program exited with status 0. Calling it
// again returns the same result.
func (p *Proc) Stop() error {
	select {
	case <-p.done:
		return p.result()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.result()
	case <-time.After(3 * Wait):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("did not exit within %v of SIGTERM", 3*Wait)
	}
}

func (p *Proc) result() error {
	if p.err != nil {
		return fmt.Errorf("exited: %w", p.err)
	}
	return nil
}

// WaitHTTP waits until url answers 200, failing the test when p exits first
// or after Wait.
func (p *Proc) WaitHTTP(t testing.TB, c *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(3 * Wait) // a -race binary starts slowly
	for {
		select {
		case <-p.done:
			t.Fatalf("%s exited before serving %s: %v\n%s", p.Name, url, p.err, p.out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not serve %s: %v\n%s", p.Name, url, err, p.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer safe for the process's two output streams.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
