//go:build unix

package ssekify_test

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// raiseFdLimit raises the soft descriptor limit to the hard one and
// returns it.
func raiseFdLimit(t testing.TB) int {
	t.Helper()
	var rl syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl))
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl))
	}
	return int(min(rl.Cur, 1<<30))
}
