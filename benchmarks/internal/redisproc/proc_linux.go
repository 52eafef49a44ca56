package redisproc

import (
	"os/exec"
	"syscall"
)

// KillWithParent makes the kernel kill cmd when this process dies, so a
// killed run never leaves a redis-server (or redis-benchmark) behind.
func KillWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
