package loadrun_test

import (
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/gcload/gcload/internal/pgtest"
	"github.com/gcload/gcload/refserver/embedded"
)

// TestMain serves as a server of an embedded pool when started as one;
// otherwise it runs the tests (with a shared throw-away PostgreSQL cluster
// for those that want one) and fails the package when a goroutine a run
// started (the embedded server, the swarm, live metrics, measurement)
// outlives it.
func TestMain(m *testing.M) {
	if embedded.PoolChild() { // a server of an embedded pool
		return
	}
	code := pgtest.Main(m)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
