package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gcload/gcload/coordinate"
	"github.com/gcload/gcload/internal/pgcluster"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/reports"
)

// Config is one run.
type Config struct {
	GCLoad          string // the gcload binary
	Users           int
	Servers, Shards int
	RoomSize        int
	SignInRate      string // "250/s"
	Idle, Steady    time.Duration
	Posts           string // "40/s"
	Auth            string // ntlm or none
	// Move: users move to the server their channel URI names (the pool's
	// lookup spreads them over every server) instead of staying on the
	// one --server gives them (lookup.stay)
	Move bool
	Dir  string // working folder ("": a temporary one, removed after)
	// Thresholds replace the peak scenario's (nil: keep them).
	Thresholds []string
}

func defaultConfig() Config {
	return Config{
		Users: 60000, Servers: 4, Shards: 4, RoomSize: 1000, SignInRate: "250/s",
		Idle: 20 * time.Second, Steady: 60 * time.Second, Posts: "40/s", Auth: "ntlm",
		Dir: "results/conns",
	}
}

// proc is a process of the run, measured.
type proc struct {
	name string
	side string // "server" or "client" (a shard); the coordinator is neither
	cmd  *exec.Cmd
	out  *os.File
	// file descriptors: at the baseline, in the idle phase, the most seen
	fdBase, fdIdle, fdPeak int
	// resident memory, bytes: at the baseline, in the idle phase as it
	// was, and there after a collection (SIGUSR1): rssBase is also
	// after one
	rssBase, rssIdleRaw, rssIdle int64
	done                         chan struct{}
}

// Result is what the run measured.
type Result struct {
	Cfg      Config
	Procs    []*proc
	Online   int // channel sessions on the servers in the idle phase
	IdleAt   time.Duration
	SockBase sockMem // kernel socket memory at the baseline
	SockIdle sockMem // and in the idle phase
	Summary  *reports.Summary
	Coord    string // the coordinator's output
	ExitCode int
	Load     string // /proc/loadavg at the idle reading and at the end
	LoadEnd  string
	Results  string // the merged results folder
}

// Run starts PostgreSQL, the servers, the coordinator and the shards, reads
// the processes in the baseline (every shard ready, nobody signed in) and
// in the idle phase (every user online, before the posts), and waits for
// the coordinator's verdict.
func Run(ctx context.Context, cfg Config, log io.Writer) (*Result, error) {
	if cfg.Users%cfg.RoomSize != 0 {
		return nil, fmt.Errorf("%w: -users %d is not a multiple of -room %d", errBench, cfg.Users, cfg.RoomSize)
	}
	gcl, err := exec.LookPath(cfg.GCLoad)
	if err != nil {
		return nil, fmt.Errorf("%w: the gcload binary: %w (make build)", errBench, err)
	}
	if gcl, err = filepath.Abs(gcl); err != nil {
		return nil, err
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "gcload-conns-*"); err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
	} else {
		if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
			return nil, fmt.Errorf("%w: -out %s is not empty", errBench, dir)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	res := &Result{Cfg: cfg, Results: filepath.Join(dir, "results")}
	var procs []*proc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()

	logf(log, "PostgreSQL: a throw-away cluster")
	pg, err := pgcluster.Start(ctx, pgcluster.Options{NoFsync: true, MaxConnections: 100 + 40*cfg.Servers})
	if err != nil {
		return nil, err
	}
	defer pg.Stop()
	if err := pg.CreateDatabase(ctx, "conns"); err != nil {
		return nil, err
	}
	db := pg.URL("conns")

	if out, err := exec.CommandContext(ctx, gcl, "cert", "--out", filepath.Join(dir, "certs"), "--host", "127.0.0.1").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("gcload cert: %w: %s", err, out)
	}
	accounts := filepath.Join(dir, "accounts.csv")
	if err := writeAccounts(accounts, cfg.Users); err != nil {
		return nil, err
	}
	const token = "conns-bench-admin-token-0123456789"

	// the servers, each on TLS ports of its own, named by them in the pool
	var servers, admins []string
	for i := 1; i <= cfg.Servers; i++ {
		tlsAddr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		p, line, err := start(ctx, dir, fmt.Sprintf("server%d", i), "server", gcl, []string{
			"serve", "--listen", "127.0.0.1:0", "--udp=false", "--tls-listen", tlsAddr, "--advertise", tlsAddr, "--server-id", fmt.Sprintf("s%d", i),
			"--cert", filepath.Join(dir, "certs", "server.pem"), "--key", filepath.Join(dir, "certs", "server-key.pem"),
			"--db", db, "--auth", cfg.Auth, "--accounts", accounts, "--admin", "127.0.0.1:0", "--admin-token", token,
			// every client is on 127.0.0.1 here, where a real pool's come
			// from many addresses
			"--max-conns-per-addr", "-1", "--log-level", "warn", "--memprofile", filepath.Join(dir, fmt.Sprintf("server%d.heap", i)),
		}, regexp.MustCompile(`admin API (\S+?),`))
		if p != nil {
			procs = append(procs, p)
		}
		if err != nil {
			return nil, err
		}
		servers, admins = append(servers, tlsAddr), append(admins, line[1])
		logf(log, "server %d: TLS %s, admin %s (pid %d)", i, tlsAddr, line[1], p.cmd.Process.Pid)
	}

	scenario := filepath.Join(dir, "conns.yaml")
	if err := os.WriteFile(scenario, []byte(cfg.scenario()), 0o644); err != nil {
		return nil, err
	}
	target := []string{"--target", "sip:ocschat@example.com", "--server", strings.Join(servers, ","), "--admin", admins[0],
		"--ca", filepath.Join(dir, "certs", "ca.pem"), "--accounts", accounts}
	coordAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	coord, _, err := start(ctx, dir, "coordinator", "", gcl, append([]string{"coordinate", scenario, "--shards", strconv.Itoa(cfg.Shards),
		"--listen", coordAddr, "--out", res.Results,
		// a machine this run saturates delays the shards' heartbeats by
		// seconds: only a long silence is a dead shard
		"--heartbeat-timeout", "60s", "--lost-grace", "30s",
		// and a shard behind its deliveries drains long after the plan
		"--results-timeout", (cfg.signInDuration() + cfg.Idle + cfg.Steady + 15*time.Minute).String()}, target...), nil)
	if coord != nil {
		procs = append(procs, coord)
	}
	if err != nil {
		return nil, err
	}
	var shards []*proc
	for i := 1; i <= cfg.Shards; i++ {
		p, _, err := start(ctx, dir, fmt.Sprintf("shard%d", i), "client", gcl, append([]string{"run", scenario, "--coordinator", "http://" + coordAddr,
			"--shard", strconv.Itoa(i), "--admin-token", token, "--out", filepath.Join(dir, fmt.Sprintf("shard%d", i)), "--progress", "plain",
			"--memprofile", filepath.Join(dir, fmt.Sprintf("shard%d.heap", i))}, target...), nil)
		if p != nil {
			procs = append(procs, p)
			shards = append(shards, p)
		}
		if err != nil {
			return nil, err
		}
	}
	res.Procs = procs

	// the baseline: every shard ready (plan made, rooms provisioned),
	// the start handed out a few seconds ahead
	h, err := waitStart(ctx, coordAddr, coord)
	if err != nil {
		return nil, err
	}
	res.SockBase = readSockMem(servers)
	gcAll(procs, dir, "1")
	for _, p := range procs {
		p.fdBase, p.rssBase = fds(p.pid()), rss(p.pid())
		p.fdPeak = p.fdBase
	}
	logf(log, "start at %s; baseline read", h.Start.UTC().Format("15:04:05"))

	// sample fds while the run goes on; read the idle phase once every
	// user is online (or at the idle phase's end)
	stopSample := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopSample:
				return
			case <-t.C:
				for _, p := range procs {
					p.fdPeak = max(p.fdPeak, fds(p.pid()))
				}
			}
		}
	}()
	signin := cfg.signInDuration()
	idleEnd := h.Start.Add(signin + cfg.Idle)
	for {
		online := sessions(ctx, admins, token)
		if online >= cfg.Users || time.Now().After(idleEnd.Add(-2*time.Second)) {
			// settle a moment for the last joins' garbage and notices
			if online >= cfg.Users {
				wait := min(3*time.Second, time.Until(idleEnd.Add(-time.Second)))
				if wait > 0 {
					time.Sleep(wait)
				}
				online = sessions(ctx, admins, token)
			}
			res.Online, res.IdleAt = online, time.Since(*h.Start)
			break
		}
		if done(coord) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	res.SockIdle = readSockMem(servers)
	for _, p := range procs {
		p.fdIdle, p.rssIdleRaw = fds(p.pid()), rss(p.pid())
	}
	// then each process collects its garbage and returns it (SIGUSR1
	// with --memprofile), so that RSS is what the users hold
	gcAll(procs, dir, "2")
	for _, p := range procs {
		p.rssIdle = rss(p.pid())
	}
	res.Load = loadavg()
	logf(log, "idle phase read at %s: %d sessions online", res.IdleAt.Round(time.Second), res.Online)

	select {
	case <-coord.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	close(stopSample)
	wg.Wait()
	res.LoadEnd = loadavg()
	res.ExitCode = coord.cmd.ProcessState.ExitCode()
	b, _ := os.ReadFile(coord.out.Name())
	res.Coord = string(b)
	if s, err := readSummary(res.Results); err == nil {
		res.Summary = s
	} else {
		logf(log, "no merged summary: %v", err)
	}
	for _, p := range shards {
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
		}
	}
	return res, nil
}

// scenario is the peak scenario with a connection per user over TLS, an
// idle phase between the sign-in and the posts, at this run's scale.
func (cfg Config) scenario() string {
	th := cfg.Thresholds
	if th == nil {
		th = []string{"post_to_last_delivery.p99 < 500ms", "lost == 0", "duplicated == 0", "conformance_violations == 0", "dropped_sends == 0", "signin_failed == 0"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `# written by bench/conns: the peak scenario (scenarios/peak.yaml) with one
# TLS connection per user, the client-to-Front-End model
name: conns
description: %d users, one TLS connection each, in rooms of %d, %s
seed: 1
transport: tls
connections:
  model: per-user
lookup:
  flow: client
  stay: %t
users:
  count: %d
rooms:
  classes:
    - name: room
      size: %d
      count: %d
phases:
  - name: signin
    signin: {rate: %s, arrival: constant}
  - name: idle
    duration: %s
  - name: steady
    duration: %s
    posts: {rate: %s}
limits:
  concurrency: 20000
thresholds:
`, cfg.Users, cfg.RoomSize, cfg.Posts, !cfg.Move, cfg.Users, cfg.RoomSize, cfg.Users/cfg.RoomSize, cfg.SignInRate, cfg.Idle, cfg.Steady, cfg.Posts)
	for _, t := range th {
		fmt.Fprintf(&b, "  - %s\n", t)
	}
	return b.String()
}

// signInDuration is how long the sign-in phase lasts.
func (cfg Config) signInDuration() time.Duration {
	r, _ := strconv.ParseFloat(strings.TrimSuffix(cfg.SignInRate, "/s"), 64)
	if r <= 0 {
		return 0
	}
	return time.Duration(float64(cfg.Users) / r * float64(time.Second))
}

// writeAccounts writes the accounts of users 0..n-1: sip:user{i}@example.com
// with password pass{i}, the shipped scenarios' users.
func writeAccounts(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "uri,user,password")
	for i := range n {
		fmt.Fprintf(w, "sip:user%d@example.com,,pass%d\n", i, i)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// freeAddr returns a loopback address with a port free now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start starts gcload with args, its output in dir/name.out; with want,
// it waits for a line of the output that matches it and returns the
// match.
func start(ctx context.Context, dir, name, side, gcl string, args []string, want *regexp.Regexp) (*proc, []string, error) {
	out, err := os.Create(filepath.Join(dir, name+".out"))
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(gcl, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	p := &proc{name: name, side: side, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	if want == nil {
		return p, nil, nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(out.Name())
		if m := want.FindStringSubmatch(string(b)); m != nil {
			return p, m, nil
		}
		select {
		case <-p.done:
			return p, nil, fmt.Errorf("%s exited: %s", name, b)
		case <-ctx.Done():
			return p, nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(out.Name())
	return p, nil, fmt.Errorf("%s: not up within 60s: %s", name, b)
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop ends the process (SIGTERM, then SIGKILL after 10 s) and waits.
func (p *proc) stop() {
	if !done(p) {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.out.Close()
}

func done(p *proc) bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// gcAll makes the servers and shards collect their garbage and return it
// to the system (SIGUSR1 with --memprofile), and waits (up to 30 s) for
// each one's heap profile NAME.heap.n, written after.
func gcAll(procs []*proc, dir, n string) {
	for _, p := range procs {
		if p.side != "" {
			_ = p.cmd.Process.Signal(syscall.SIGUSR1)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range procs {
		if p.side == "" {
			continue
		}
		for time.Now().Before(deadline) {
			if _, err := os.Stat(filepath.Join(dir, p.name+".heap."+n)); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// waitStart waits until the coordinator handed out the start.
func waitStart(ctx context.Context, addr string, coord *proc) (coordinate.Health, error) {
	var h coordinate.Health
	deadline := time.Now().Add(15 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + coordinate.PathHealth)
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if err == nil && h.Started && h.Start != nil {
				return h, nil
			}
		}
		if done(coord) {
			b, _ := os.ReadFile(coord.out.Name())
			return h, fmt.Errorf("the coordinator exited before the start: %s", b)
		}
		select {
		case <-ctx.Done():
			return h, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return h, fmt.Errorf("no start within 15 minutes")
}

// sessions is the channel sessions open on the servers.
func sessions(ctx context.Context, admins []string, token string) int {
	n := 0
	for _, a := range admins {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := adminclient.New(a, token).Stats(c)
		cancel()
		if err == nil {
			n += st.Channel.Sessions
		}
	}
	return n
}

func readSummary(dir string) (*reports.Summary, error) {
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		return nil, err
	}
	var s reports.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
