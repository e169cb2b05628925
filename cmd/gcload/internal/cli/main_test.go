package cli

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for gcload when a command starts
// it as a child process (gcload calibrate runs the server so).
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(Main(NewEnv()))
	}
	os.Exit(m.Run())
}
