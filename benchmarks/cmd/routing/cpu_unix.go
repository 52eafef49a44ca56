//go:build unix

package main

import "syscall"

// processCPU returns this process's user plus system CPU time in ns
// (getrusage, microsecond resolution), 0 if unknown.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
