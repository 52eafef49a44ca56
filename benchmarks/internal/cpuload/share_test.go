package cpuload

import (
	"testing"
	"time"
)

// TestShareString pins the reports' *others* column.
func TestShareString(t *testing.T) {
	for _, tc := range []struct {
		w    Share
		want string
	}{
		{Share{Quiet: true}, "?"},
		{Share{Quiet: true, Others: 0.123, Known: true}, "12%"},
		{Share{Waited: 1400 * time.Millisecond, Quiet: true, Others: 0.05, Known: true}, "5%"},
		{Share{Waited: 4200 * time.Millisecond, Quiet: true, Others: 0.05, Known: true}, "5% (waited 4s)"},
		{Share{Waited: 20 * time.Second, Others: 0.4, Known: true}, "40% (waited 20s, not quiet)"},
		{Share{Waited: 20 * time.Second}, "? (waited 20s, not quiet)"},
	} {
		if got := tc.w.String(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.w, got, tc.want)
		}
	}
}
