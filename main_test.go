package ssekify_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// quiet drops go-redis's own log lines (dial failures during the outage and
// failover tests are expected; the hub reports them through OnError).
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// TestMain fails the package when a test leaves a goroutine behind: every
// stream, subscriber and timer must end with its connection or its hub.
func TestMain(m *testing.M) {
	redis.SetLogger(quiet{})
	goleak.VerifyTestMain(m)
}
