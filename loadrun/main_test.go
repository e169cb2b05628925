package loadrun_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine a run started (the
// embedded server, the swarm, live metrics, measurement) outlives it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
