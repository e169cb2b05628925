package check_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine the suite started (its
// clients, router and probes) or a test's server outlives the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
