package pgcluster

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestKillRestart crashes a cluster of its own (SIGKILL to every process)
// and restarts it: a committed row survives, the folder is removed at Stop.
func TestKillRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("initdb of a second cluster")
	}
	if _, err := FindBin(); err != nil {
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			c.Stop()
		}
	}()
	url := c.URL("postgres")
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE k (v int); INSERT INTO k VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	// a query that burns CPU shows in the server's CPU time
	before := c.CPU()
	if _, err := conn.Exec(ctx, "SELECT count(*) FROM generate_series(1, 3000000)"); err != nil {
		t.Fatal(err)
	}
	if after := c.CPU(); after <= before {
		t.Errorf("CPU %s before a busy query, %s after", before, after)
	}
	c.mu.Lock()
	pid := c.cmd.Process.Pid
	c.mu.Unlock()
	procs := append(children(pid), pid)
	if len(procs) < 3 {
		t.Fatalf("postmaster %d has children %v: want its backends and helpers", pid, procs)
	}
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	if running(procs) {
		t.Fatal("a server process survived Kill")
	}
	if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("the connection outlived the killed server")
	}
	if err := c.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	conn2, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	var v int
	if err := conn2.QueryRow(ctx, "SELECT v FROM k").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after the crash: %d, %v", v, err)
	}
	conn2.Close(ctx)
	dir := c.dir
	stopped = true
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("folder %s left after Stop: %v", dir, err)
	}
}

func TestFindBinNamesMissing(t *testing.T) {
	t.Setenv(BinEnv, t.TempDir())
	t.Setenv("PATH", t.TempDir())
	// Debian's folders still count; only when they are absent too does
	// FindBin fail, naming initdb
	if _, err := FindBin(); err != nil && !strings.Contains(err.Error(), "initdb") {
		t.Fatalf("error does not name the missing binary: %v", err)
	}
	if d, err := FindBin(); err == nil && strings.HasPrefix(d, os.Getenv(BinEnv)) {
		t.Fatalf("an empty %s folder was taken: %s", BinEnv, d)
	}
}
