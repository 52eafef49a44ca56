// Package mdfmt formats the figures of the benchmark tools' markdown
// reports and appends the reports to their results files.
package mdfmt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Pct returns the p-th percentile (nearest rank) of sorted, 0 if empty.
func Pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Count formats n briefly: 1234567 → "1.23 M", 12345 → "12.3 k".
func Count(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", n/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1f k", n/1e3)
	case n == float64(int64(n)):
		return fmt.Sprintf("%d", int64(n))
	default:
		return fmt.Sprintf("%.0f", n)
	}
}

// Ms formats d in milliseconds with three significant digits.
func Ms(d time.Duration) string { return Sig3(float64(d) / 1e6) }

// Us formats d in microseconds with three significant digits.
func Us(d time.Duration) string { return Sig3(float64(d) / 1e3) }

// Sig3 formats v with about three significant digits.
func Sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// Clip shortens s to at most n bytes for a table cell, without pipes or
// newlines.
func Clip(s string, n int) string {
	s = strings.NewReplacer("|", "/", "\n", " ").Replace(s)
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

// Append appends text to the results file at path, creating it with
// title first.
func Append(path, title, text string) error {
	_, err := os.Stat(path)
	prefix := ""
	switch {
	case errors.Is(err, fs.ErrNotExist):
		prefix = title
	case err != nil:
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err = f.WriteString(prefix + "\n" + text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
