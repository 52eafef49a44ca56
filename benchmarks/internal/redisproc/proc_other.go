//go:build !linux

package redisproc

import "os/exec"

// KillWithParent does nothing outside Linux: the tools' deferred Stop and
// signal handlers kill redis-server.
func KillWithParent(*exec.Cmd) {}
