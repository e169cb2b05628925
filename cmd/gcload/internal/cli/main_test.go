package cli

import (
	"os"
	"testing"

	"github.com/gcload/gcload/internal/pgtest"
)

// TestMain lets the test binary stand in for gcload when a command starts
// it as a child process (gcload calibrate runs the server so), and stops
// the PostgreSQL cluster a test started.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(Main(NewEnv()))
	}
	os.Exit(pgtest.Main(m))
}
