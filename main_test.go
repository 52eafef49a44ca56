package ssekify_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a test leaves a goroutine behind: every
// stream, subscriber and timer must end with its connection or its hub.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
