package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/pgcluster"
	"github.com/gcload/gcload/reports"
)

// TestPerUserTLSPool runs the bench's whole path at a small scale: 300
// users, each with a TLS connection of its own and signed in with NTLM, on
// two gcload serve processes on one throw-away PostgreSQL, driven by two
// shards under gcload coordinate. Every user signs in and stays on the
// server --server gives it (user i on server i mod 2; shard i runs the
// users i-1 mod 2, so each shard's users are on one server): each server
// and each shard then holds one descriptor per user of its half, which is
// how the 60,000-user run keeps every process under its open-file limit.
// Every post reaches every member once. A busy machine may make the run
// invalid (the generator late); the accounting must hold anyway.
func TestPerUserTLSPool(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and seven gcload processes")
	}
	if _, err := pgcluster.FindBin(); err != nil {
		t.Skipf("PostgreSQL is not installed (apt-get install postgresql): %v", err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go command is not on PATH (it builds gcload): %v", err)
	}
	gcl := filepath.Join(t.TempDir(), "gcload")
	build := exec.Command(goBin, "build", "-o", gcl, "../../cmd/gcload")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := Config{
		GCLoad: gcl, Users: 300, Servers: 2, Shards: 2, RoomSize: 100, SignInRate: "100/s",
		Idle: 10 * time.Second, Steady: 4 * time.Second, Posts: "5/s", Auth: "ntlm", Dir: filepath.Join(t.TempDir(), "run"),
		Thresholds: []string{"lost == 0", "duplicated == 0", "conformance_violations == 0"},
	}
	var log strings.Builder
	res, err := Run(ctx, cfg, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var out strings.Builder
	res.Print(&out)
	t.Log(out.String())
	if res.ExitCode != reports.ExitPass && res.ExitCode != reports.ExitInvalidRun {
		t.Fatalf("exit %d\n%s", res.ExitCode, out.String())
	}
	s := res.Summary
	if s == nil {
		t.Fatalf("no merged summary\n%s", out.String())
	}
	// on a saturated machine a few sign-ins may time out (they are
	// counted and fail the run); those that succeeded hold the checks
	if s.Users.SignedIn < 270 || s.Users.SignedIn+s.Users.Failed != 300 || s.Delivery.Lost != 0 || s.Delivery.Duplicated != 0 ||
		s.Delivery.Received == 0 || s.Delivery.Received != s.Delivery.Expected {
		t.Fatalf("users %+v, delivery %+v", s.Users, s.Delivery)
	}
	if res.Online != s.Users.SignedIn {
		t.Fatalf("%d channel sessions on the servers in the idle phase, %d users signed in", res.Online, s.Users.SignedIn)
	}
	// every user on its server (stay): user i on server i mod 2, shard
	// i's users all on server i
	if len(s.Servers) != 2 || s.Servers[0].Users+s.Servers[1].Users != int64(s.Users.SignedIn) || s.Servers[0].Users > 150 || s.Servers[1].Users > 150 {
		t.Fatalf("users by server: %+v", s.Servers)
	}
	// a descriptor per user on each side: server i and shard i each hold
	// the connections of the users of server i, and not the others'
	for _, p := range res.Procs {
		var i int
		if _, err := fmt.Sscanf(strings.TrimLeft(p.name, "a-z"), "%d", &i); err != nil || p.side == "" {
			continue
		}
		want := int(s.Servers[i-1].Users)
		if got := p.fdIdle - p.fdBase; got < want || got > want+20 {
			t.Errorf("%s: %d descriptors more in the idle phase than before the start (%d → %d), want %d (one per user of server %d)", p.name, got, p.fdBase, p.fdIdle, want, i)
		}
	}
	if res.SockIdle.Measured && (res.SockIdle.ServerSocks != res.Online || res.SockIdle.ClientSock != res.Online) {
		t.Errorf("ss saw %d server-side and %d client-side sockets of the run, want %d each", res.SockIdle.ServerSocks, res.SockIdle.ClientSock, res.Online)
	}
	for _, name := range []string{"server1.heap.2", "shard2.heap.2"} {
		if _, err := os.Stat(filepath.Join(cfg.Dir, name)); err != nil {
			t.Errorf("the heap profile written at SIGUSR1: %v", err)
		}
	}
}
