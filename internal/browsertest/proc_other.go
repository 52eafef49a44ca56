//go:build !unix

package browsertest

import (
	"os"
	"syscall"
)

// sysProcAttr returns nil: process groups are not used on this platform.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// killGroup kills the browser process itself.
func killGroup(p *os.Process) { _ = p.Kill() }
