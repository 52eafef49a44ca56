//go:build !linux

// Package cpuload measures what share of the machine's CPU other
// processes take while a benchmark runs (Linux only), so that a report
// can say how quiet the machine was, and waits for a quiet machine.
package cpuload

// Sample is empty outside Linux: the other processes' share is not
// measured there.
type Sample struct{}

// Take measures nothing outside Linux.
func Take(int) Sample { return Sample{} }

// OthersShare is never known outside Linux.
func OthersShare(Sample, Sample, int64) (float64, bool) { return 0, false }

// Model is unknown outside Linux.
func Model() string { return "" }
