//go:build unix

package browsertest

import (
	"os"
	"syscall"
)

// sysProcAttr puts the browser in a process group of its own so that close
// can kill it together with every helper process it started.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// killGroup sends SIGKILL to the browser's process group.
func killGroup(p *os.Process) {
	_ = syscall.Kill(-p.Pid, syscall.SIGKILL) // ESRCH once everything has exited
}
