package cli

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/pgtest"
	"github.com/gcload/gcload/refserver/embedded"
)

// testClockSkewEnv, in the environment of the test binary started as a
// child gcload, skews its clock by a Go duration (Env.clockSkew): a test
// stands for a machine whose clock is wrong with it. The gcload binary
// does not read it.
const testClockSkewEnv = "GCLOAD_TEST_CLOCK_SKEW"

// testNoFileEnv, in the environment of the test binary started as a child
// gcload, lowers its open-file limit (soft and hard: Go raises the soft
// limit to the hard one at start) to that many before Main runs: a test
// stands for a generator that runs out of file descriptors with it.
const testNoFileEnv = "GCLOAD_TEST_NOFILE"

// TestMain lets the test binary stand in for gcload when a command starts
// it as a child process (gcload calibrate runs the server so, gcload run an
// embedded pool's servers), and stops
// the PostgreSQL cluster a test started.
func TestMain(m *testing.M) {
	if embedded.PoolChild() { // a server of an embedded pool
		return
	}
	if os.Getenv(childEnv) == "1" {
		if v := os.Getenv(testNoFileEnv); v != "" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				panic(testNoFileEnv + ": " + err.Error())
			}
			if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
				panic(testNoFileEnv + ": " + err.Error())
			}
		}
		env := NewEnv()
		if v := os.Getenv(testClockSkewEnv); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				panic(testClockSkewEnv + ": " + err.Error())
			}
			env.clockSkew = d
		}
		os.Exit(Main(env))
	}
	os.Exit(pgtest.Main(m))
}
