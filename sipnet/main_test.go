package sipnet

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine an endpoint or connection
// started outlives the tests (every one must be waited for by its Close).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
