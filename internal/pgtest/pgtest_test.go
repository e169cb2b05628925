package pgtest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestShared(t *testing.T) {
	c := Shared(t)
	if Shared(t) != c {
		t.Fatal("a second cluster for the same test binary")
	}
	ctx := context.Background()
	a, b := c.NewDatabase(t), c.NewDatabase(t)
	if a == b {
		t.Fatalf("two tests share database %s", a)
	}
	conn, err := pgx.Connect(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var fsync, listen string
	var pid int
	if err := conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('listen_addresses'), pg_backend_pid()").Scan(&fsync, &listen, &pid); err != nil {
		t.Fatal(err)
	}
	if fsync != "on" || listen != "127.0.0.1" {
		t.Errorf("fsync %s, listen_addresses %s: want on, 127.0.0.1", fsync, listen)
	}
	// the server runs as an unprivileged user (PostgreSQL refuses root)
	uid := processUID(t, pid)
	if uid == 0 {
		t.Errorf("backend %d runs as root", pid)
	}
	if os.Geteuid() != 0 && uid != os.Geteuid() {
		t.Errorf("backend runs as %d, want the test's user %d", uid, os.Geteuid())
	}
	sock, err := pgx.Connect(ctx, c.SocketURL("postgres"))
	if err != nil {
		t.Fatalf("unix socket: %v", err)
	}
	sock.Close(ctx)
	if !strings.Contains(c.URL("postgres"), "127.0.0.1:"+strconv.Itoa(c.Port())+"/") {
		t.Errorf("URL %s is not on the cluster's port %d", c.URL("postgres"), c.Port())
	}
}

func processUID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
			uid, _ := strconv.Atoi(f[1])
			return uid
		}
	}
	t.Fatal("no Uid in /proc status")
	return -1
}
