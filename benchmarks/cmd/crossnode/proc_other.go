//go:build !linux

package main

import "os/exec"

// setParentDeathSignal does nothing outside Linux: the deferred stop and
// the signal handler kill redis-server.
func setParentDeathSignal(*exec.Cmd) {}

// cpuSample is empty outside Linux: the other processes' share is not
// measured there.
type cpuSample struct{}

// sampleCPU measures nothing outside Linux.
func sampleCPU(int) cpuSample { return cpuSample{} }

// othersShare is never known outside Linux.
func othersShare(cpuSample, cpuSample) (float64, bool) { return 0, false }

// cpuModel is unknown outside Linux.
func cpuModel() string { return "" }
