// Package pgtest starts throw-away PostgreSQL clusters for tests
// (internal/pgcluster): tests never depend on a system service. When
// PostgreSQL is not installed, Shared skips the test with a message naming
// the missing binary.
//
// One cluster per test binary is enough (initdb takes seconds, a database
// tens of milliseconds):
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		url := pgtest.Shared(t).NewDatabase(t) // a fresh, empty database
//		...
//	}
package pgtest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/pgcluster"
)

// Cluster is a running throw-away PostgreSQL server.
type Cluster = pgcluster.Cluster

// Options configure a cluster.
type Options = pgcluster.Options

// BinEnv names a folder holding initdb and postgres, used before the
// Debian locations and PATH.
const BinEnv = pgcluster.BinEnv

// SuperUser is the cluster's superuser (trust authentication on loopback
// and the socket).
const SuperUser = pgcluster.SuperUser

// FindBin returns the folder holding Debian's (or PATH's) initdb and
// postgres; the error names the binary that is missing.
func FindBin() (string, error) { return pgcluster.FindBin() }

// Start creates and starts a cluster. Stop it with Stop.
func Start(ctx context.Context, opts Options) (*Cluster, error) { return pgcluster.Start(ctx, opts) }

var shared struct {
	sync.Mutex
	main    bool
	started bool
	c       *Cluster
	err     error
}

// Main runs the tests of a package (TestMain) and stops the shared cluster
// if a test started one. It returns the exit code for os.Exit.
func Main(m *testing.M) int {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	if shared.c != nil {
		if err := shared.c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		shared.c = nil
	}
	return code
}

// Shared returns the test binary's cluster, starting it on first use (fsync
// on). It skips t when PostgreSQL is not installed, naming the missing
// binary, and fails t when the cluster does not start. The package's
// TestMain must call Main, which stops the cluster.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	if _, err := FindBin(); err != nil {
		t.Skip(err)
	}
	shared.Lock()
	defer shared.Unlock()
	if !shared.main {
		t.Fatal("pgtest: Shared needs TestMain to call pgtest.Main, which stops the cluster")
	}
	if !shared.started {
		shared.started = true
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		shared.c, shared.err = Start(ctx, Options{})
		cancel()
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}
