//go:build !unix

package ssekify_test

import "testing"

// raiseFdLimit returns the streams the idle tests may open where there is
// no descriptor limit to read: their full size.
func raiseFdLimit(testing.TB) int { return 1 << 20 }
