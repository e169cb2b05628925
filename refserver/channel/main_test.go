package channel_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine the hub started (storage
// workers, timers' sends) outlives the tests: Close waits for them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
