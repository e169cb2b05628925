// Package pgcluster starts throw-away PostgreSQL clusters: Debian's server
// binaries, initdb into a temporary folder as an unprivileged user (nobody
// when gcload runs as root), a random loopback port, the unix socket in the
// same folder, fsync on. Tests use it through internal/pgtest; gcload run
// starts one for an embedded pool of servers when no database is given
// (refserver/embedded). FindBin names the binary that is missing when
// PostgreSQL is not installed.
//
// The postmaster runs in its own process group and is killed (SIGKILL)
// when the process that started it dies without stopping it, so no server
// outlives it.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// BinEnv names a folder holding initdb and postgres, used before the
// Debian locations and PATH.
const BinEnv = "GCLOAD_PG_BIN"

// SuperUser is the cluster's superuser (trust authentication on loopback
// and the socket).
const SuperUser = "gcload"

// Options configure a cluster.
type Options struct {
	// NoFsync turns fsync off: faster, but a crash of the PostgreSQL
	// server itself may then lose committed transactions.
	NoFsync bool
	// MaxConnections is the server's max_connections (default 200).
	MaxConnections int
}

// Cluster is a running throw-away PostgreSQL server.
type Cluster struct {
	opts    Options
	bin     string
	dir     string // owned by the server's user; data/ and the socket inside
	port    int
	cred    *syscall.Credential // nil: run as the current user
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	dbs    int
}

// FindBin returns the folder holding Debian's (or PATH's) initdb and
// postgres; the error names the binary that is missing.
func FindBin() (string, error) {
	var dirs []string
	if d := os.Getenv(BinEnv); d != "" {
		dirs = append(dirs, d)
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(debian, func(i, j int) bool { return versionOf(debian[i]) > versionOf(debian[j]) }) // newest first
	dirs = append(dirs, debian...)
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		d := filepath.Dir(p)
		if isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
		return "", fmt.Errorf("pgcluster: postgres not found beside %s (install Debian's postgresql package)", p)
	}
	return "", errors.New("pgcluster: initdb not found in /usr/lib/postgresql/*/bin, $" + BinEnv + " or PATH (install Debian's postgresql package)")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// Start creates and starts a cluster. Stop it with Stop.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := FindBin()
	if err != nil {
		return nil, err
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = 200
	}
	c := &Cluster{opts: opts, bin: bin}
	if c.dir, err = os.MkdirTemp(shortTemp(), "gcload-pg-*"); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root: run as nobody, who owns the
		// folder (its parent, the temporary folder, is world-traversable)
		u, err := user.Lookup("nobody")
		if err != nil {
			c.remove()
			return nil, fmt.Errorf("pgcluster: running as root and no unprivileged user: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(c.dir, int(uid), int(gid)); err != nil {
			c.remove()
			return nil, fmt.Errorf("pgcluster: %w", err)
		}
	}
	c.logPath = filepath.Join(c.dir, "server.log")
	if err := c.initdb(ctx); err != nil {
		c.remove()
		return nil, err
	}
	// a free port can be taken between the probe and the bind: try again
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err == nil {
			if err = c.start(ctx); err == nil {
				return c, nil
			}
		}
		if attempt == 2 || !strings.Contains(err.Error(), "could not bind") && !strings.Contains(err.Error(), "in use") {
			c.remove()
			return nil, err
		}
	}
}

// shortTemp is the temporary folder, or /tmp when its path is too long for
// a unix socket's address (108 bytes with the folder and the socket name).
func shortTemp() string {
	if d := os.TempDir(); len(d) < 60 {
		return d
	}
	return "/tmp"
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

func (c *Cluster) initdb(ctx context.Context) error {
	cmd := c.command(ctx, "initdb", "-D", filepath.Join(c.dir, "data"), "-U", SuperUser, "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

// start runs the postmaster on the existing data folder and waits until it
// accepts connections.
func (c *Cluster) start(ctx context.Context) error {
	fsync := "on"
	if c.opts.NoFsync {
		fsync = "off"
	}
	logf, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer logf.Close()
	logStart, _ := logf.Seek(0, 2)
	// not CommandContext: the server outlives ctx, it ends with Stop or Kill
	cmd := c.command(context.Background(), "postgres", "-D", filepath.Join(c.dir, "data"),
		"-p", strconv.Itoa(c.port), "-k", c.dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync="+fsync, "-c", "synchronous_commit=on", "-c", "max_connections="+strconv.Itoa(c.opts.MaxConnections),
		"-c", "shared_buffers=32MB", "-c", "log_min_messages=warning", "-c", "log_min_error_statement=panic")
	cmd.SysProcAttr.Setpgid = true              // Kill takes the backends too
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL // no server outlives a killed parent
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgcluster: postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	c.mu.Lock()
	c.cmd, c.exited = cmd, exited
	c.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, c.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("pgcluster: postgres exited at start: %s", c.logSince(logStart))
		case <-ctx.Done():
			c.kill()
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.kill()
			return fmt.Errorf("pgcluster: postgres not ready in 60 s: %w: %s", err, c.logSince(logStart))
		}
	}
}

func (c *Cluster) logSince(off int64) string {
	b, _ := os.ReadFile(c.logPath)
	if off < int64(len(b)) {
		b = b[off:]
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// URL returns a connection URL for database db over loopback TCP.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", SuperUser, c.port, db)
}

// SocketURL returns a connection URL for database db over the unix socket.
func (c *Cluster) SocketURL(db string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", SuperUser, db, c.dir, c.port)
}

// Port is the server's TCP port on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// CreateDatabase creates an empty database.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.SocketURL("postgres"))
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("pgcluster: create database %s: %w", name, err)
	}
	return nil
}

// TB is what NewDatabase needs of a test (testing.TB has it).
type TB interface {
	Helper()
	Fatal(args ...any)
}

// NewDatabase creates a fresh database for t and returns its URL (loopback
// TCP, as a remote server is reached).
func (c *Cluster) NewDatabase(t TB) string {
	t.Helper()
	c.mu.Lock()
	c.dbs++
	name := "t" + strconv.Itoa(c.dbs)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	return c.URL(name)
}

// Kill kills the server and its backends with SIGKILL, as a crash would,
// and waits until they are gone. The data folder stays: Restart starts the
// server again, which then recovers from its WAL.
func (c *Cluster) Kill() error {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return errors.New("pgcluster: not running")
	}
	pid := cmd.Process.Pid
	// every backend is a child of the postmaster in a session of its own
	// (PostgreSQL calls setsid): stop the postmaster so it forks no more,
	// then kill it and its children
	_ = syscall.Kill(pid, syscall.SIGSTOP)
	procs := append(children(pid), pid)
	var err error
	for _, p := range procs {
		if e := syscall.Kill(p, syscall.SIGKILL); e != nil && p == pid {
			err = fmt.Errorf("pgcluster: kill: %w", e)
		}
	}
	<-exited
	// a restart must find no old backend attached to the shared memory
	deadline := time.Now().Add(10 * time.Second)
	for running(procs) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return err
}

// children lists the processes whose parent is pid (from /proc).
func children(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if f := procStat(p); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

// running reports whether any of pids still runs (a zombie, waiting to be
// reaped, has released its memory and does not count).
func running(pids []int) bool {
	for _, p := range pids {
		if f := procStat(p); len(f) > 0 && f[0] != "Z" && f[0] != "X" {
			return true
		}
	}
	return false
}

// procStat returns the fields of /proc/PID/stat after the command name:
// state, ppid, pgrp, ...; nil when the process is gone.
func procStat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

func (c *Cluster) kill() { _ = c.Kill() }

// CPU returns the CPU time (user and system) the server's processes, the
// postmaster and its backends, used so far: those running now (a backend
// that exited is not counted). 0 when it is not running.
func (c *Cluster) CPU() time.Duration {
	c.mu.Lock()
	cmd := c.cmd
	c.mu.Unlock()
	if cmd == nil {
		return 0
	}
	var ticks int64
	for _, p := range append(children(cmd.Process.Pid), cmd.Process.Pid) {
		if f := procStat(p); len(f) > 12 {
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += ut + st
		}
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}

// Restart starts the server again on the same data folder and port after
// Kill.
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	running := c.cmd != nil
	c.mu.Unlock()
	if running {
		return errors.New("pgcluster: still running")
	}
	return c.start(ctx)
}

// Stop shuts the server down at once (SIGQUIT, "immediate": nothing of a
// throw-away cluster needs a checkpoint) and removes its folder.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	cmd, exited := c.cmd, c.exited
	c.cmd = nil
	c.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	return c.remove()
}

func (c *Cluster) remove() error {
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}
