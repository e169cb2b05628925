package embedded

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gcload/gcload/internal/pgcluster"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/lookup"
	"github.com/gcload/gcload/refserver/store/postgres"
	"github.com/gcload/gcload/target"
)

// An embedded pool is several reference server processes on one
// PostgreSQL database, for a quick try of a pool on one machine: the
// processes are this program run again (PoolChild, which gcload's main
// and the tests' TestMain call first), each listening on loopback with an
// admin API. The database is the one given, or a throw-away cluster of
// Debian's postgresql package (internal/pgcluster) that Close removes.

// MaxPool bounds the servers of an embedded pool.
const MaxPool = 8

// poolChildEnv carries a pool server's configuration (JSON) to the child
// process.
const poolChildEnv = "GCLOAD_EMBEDDED_POOL_SERVER"

// PoolOptions say what pool to start.
type PoolOptions struct {
	// Servers is the number of server processes (1 to MaxPool).
	Servers int
	// DB is the PostgreSQL database (postgres://...); empty starts a
	// throw-away cluster, which needs Debian's postgresql package.
	DB string
	// Domain, Channels, NoticeLimit and NoticeDelay (nil: the default)
	// and Lookup ("round-robin" or "least-loaded") configure every server.
	Domain      string
	Channels    int
	NoticeLimit *int
	NoticeDelay *time.Duration
	Lookup      string
	// Heartbeat and TTL are the pool's (refserver.PoolOptions); zero
	// takes 500 ms and 2 s: a lost server is dropped within about 2.5 s.
	Heartbeat, TTL time.Duration
	// NoCarry: posts are not carried by notifications (refserver.PoolOptions).
	NoCarry bool
	// AdminToken is the admin APIs' token (empty: a random one).
	AdminToken string
	// Logs receives the servers' logs (warnings and errors; nil: none).
	Logs io.Writer
}

// childConfig is what a pool server process is told.
type childConfig struct {
	DB          string         `json:"db"`
	Domain      string         `json:"domain,omitempty"`
	Channels    int            `json:"channels,omitempty"`
	NoticeLimit *int           `json:"notice_limit,omitempty"`
	NoticeDelay *time.Duration `json:"notice_delay,omitempty"`
	Lookup      string         `json:"lookup,omitempty"`
	Heartbeat   time.Duration  `json:"heartbeat"`
	TTL         time.Duration  `json:"ttl"`
	NoCarry     bool           `json:"no_carry,omitempty"`
	AdminToken  string         `json:"admin_token"`
}

// Pool is a running embedded pool.
type Pool struct {
	Servers []*PoolServer
	// DB is the database the servers share.
	DB      string
	domain  string
	token   string
	cluster *pgcluster.Cluster // nil when the database was given
}

// PoolServer is one server process of a pool.
type PoolServer struct {
	// Addr is its SIP address (TCP), Admin its admin API's URL.
	Addr, Admin string
	cmd         *exec.Cmd
	in          io.Closer
	once        sync.Once
	exited      chan struct{}
	mu          sync.Mutex
	killed      bool
}

// StartPool starts a pool: the database (a throw-away cluster when none is
// given), then each server process in turn. ctx bounds the start.
func StartPool(ctx context.Context, o PoolOptions) (*Pool, error) {
	if o.Servers < 1 || o.Servers > MaxPool {
		return nil, fmt.Errorf("embedded pool: %d servers: want 1 to %d", o.Servers, MaxPool)
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 500 * time.Millisecond
	}
	if o.TTL == 0 {
		o.TTL = max(2*time.Second, 4*o.Heartbeat)
	}
	if o.Lookup != "" {
		if _, err := lookup.ParsePolicy(o.Lookup); err != nil {
			return nil, fmt.Errorf("embedded pool: %w", err)
		}
	}
	token := o.AdminToken
	if token == "" {
		token = "embedded-pool-" + strconv.FormatInt(time.Now().UnixNano(), 36) + strconv.Itoa(os.Getpid())
	}
	p := &Pool{DB: o.DB, domain: o.Domain, token: token}
	if p.domain == "" {
		p.domain = refserver.DefaultDomain
	}
	if p.DB == "" {
		if _, err := pgcluster.FindBin(); err != nil {
			return nil, fmt.Errorf("embedded pool: it needs PostgreSQL: give a database (a postgres:// URL) or install Debian's postgresql package: %w", err)
		}
		c, err := pgcluster.Start(ctx, pgcluster.Options{})
		if err != nil {
			return nil, fmt.Errorf("embedded pool: %w", err)
		}
		p.cluster = c
		if err := c.CreateDatabase(ctx, "gcload"); err != nil {
			p.Close()
			return nil, fmt.Errorf("embedded pool: %w", err)
		}
		p.DB = c.URL("gcload")
	}
	exe, err := os.Executable()
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("embedded pool: %w", err)
	}
	cfg, _ := json.Marshal(childConfig{DB: p.DB, Domain: o.Domain, Channels: o.Channels, NoticeLimit: o.NoticeLimit, NoticeDelay: o.NoticeDelay, Lookup: o.Lookup,
		Heartbeat: o.Heartbeat, TTL: o.TTL, NoCarry: o.NoCarry, AdminToken: token})
	for i := 0; i < o.Servers; i++ {
		s, err := startPoolServer(ctx, exe, string(cfg), o.Logs)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("embedded pool: server %d: %w", i+1, err)
		}
		p.Servers = append(p.Servers, s)
	}
	return p, nil
}

func startPoolServer(ctx context.Context, exe, cfg string, logs io.Writer) (*PoolServer, error) {
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), poolChildEnv+"="+cfg)
	cmd.Stderr = logs
	// the server dies with this process, whatever happens to it
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &PoolServer{cmd: cmd, in: in, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.exited) }()
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
		_, _ = io.Copy(io.Discard, out)
	}()
	var l string
	select {
	case l = <-line:
	case <-ctx.Done():
		s.Kill()
		return nil, ctx.Err()
	}
	f := strings.Fields(l)
	if len(f) != 2 || f[0] == "error" {
		s.Kill()
		return nil, fmt.Errorf("%s", strings.TrimSpace(strings.TrimPrefix(l, "error")))
	}
	s.Addr, s.Admin = f[0], f[1]
	return s, nil
}

// PoolChild serves as a pool's server process when this process was
// started as one (StartPool), and returns true when it is done; it returns
// false at once otherwise. gcload's main and the TestMain of tests that
// start a pool call it first.
func PoolChild() bool {
	raw, ok := os.LookupEnv(poolChildEnv)
	if !ok {
		return false
	}
	if err := servePoolChild(raw); err != nil {
		fmt.Println("error", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
	return true
}

func servePoolChild(raw string) error {
	var c childConfig
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		return fmt.Errorf("pool server configuration: %w", err)
	}
	policy, err := lookup.ParsePolicy(c.Lookup)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := []refserver.Option{
		refserver.WithPostgres(c.DB), refserver.WithTCP("127.0.0.1:0"), refserver.WithAdmin("127.0.0.1:0"), refserver.WithAdminToken(c.AdminToken),
		refserver.WithPool(refserver.PoolOptions{Heartbeat: c.Heartbeat, TTL: c.TTL, NoCarry: c.NoCarry}), refserver.WithLookupPolicy(policy), refserver.WithLogger(log),
		// its clients are one generator, from one address
		refserver.WithLimits(refserver.Limits{MaxConnsPerAddr: -1, MaxUsersPerConn: -1}),
	}
	if c.Domain != "" {
		opts = append(opts, refserver.WithDomain(c.Domain))
	}
	if c.Channels > 0 {
		opts = append(opts, refserver.WithChannels(c.Channels))
	}
	if c.NoticeLimit != nil {
		opts = append(opts, refserver.WithNoticeLimit(*c.NoticeLimit))
	}
	if c.NoticeDelay != nil {
		opts = append(opts, refserver.WithNoticeDelay(*c.NoticeDelay))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	srv, err := refserver.New(ctx, opts...)
	cancel()
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Println(srv.TCPAddr(), srv.AdminURL())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it (or dies)
	return nil
}

// Where names the pool's database for people: the URL without its
// password, or "a throw-away PostgreSQL cluster".
func (p *Pool) Where() string {
	if p.cluster != nil {
		return "a throw-away PostgreSQL cluster"
	}
	return postgres.Redact(p.DB)
}

// Target describes the pool for a client: the lookup URI, the domain,
// every server's address (users spread over them) and the first server's
// admin API with the token.
func (p *Pool) Target() target.Target {
	t := target.Target{Lookup: "sip:ocschat@" + p.domain, Domain: p.domain, AdminToken: p.token}
	for _, s := range p.Servers {
		t.Servers = append(t.Servers, s.Addr)
	}
	if len(p.Servers) > 0 {
		t.Admin = p.Servers[0].Admin
	}
	return t
}

// PID is the server process's ID.
func (s *PoolServer) PID() int { return s.cmd.Process.Pid }

// Killed reports whether Kill killed the server.
func (s *PoolServer) Killed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.killed
}

// Kill kills the server process (SIGKILL: nothing is flushed, its clients
// see their connections reset) and waits until it is gone.
func (s *PoolServer) Kill() error {
	s.mu.Lock()
	s.killed = true
	s.mu.Unlock()
	err := s.cmd.Process.Kill()
	<-s.exited
	if errors.Is(err, os.ErrProcessDone) {
		err = nil
	}
	return err
}

// CPU returns the server process's user and system CPU time so far (from
// /proc; 0 once it is gone).
func (s *PoolServer) CPU() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.PID()) + "/stat")
	if err != nil {
		return 0
	}
	str := string(b)
	i := strings.LastIndexByte(str, ')')
	if i < 0 || i+2 > len(str) {
		return 0
	}
	f := strings.Fields(str[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// stop ends the server: its standard input closed (it closes itself and
// leaves the pool), killed if it has not exited within 10 s.
func (s *PoolServer) stop() {
	s.once.Do(func() {
		s.in.Close()
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

// Close stops every server and the throw-away cluster, if any.
func (p *Pool) Close() error {
	var wg sync.WaitGroup
	for _, s := range p.Servers {
		wg.Add(1)
		go func() { defer wg.Done(); s.stop() }()
	}
	wg.Wait()
	if p.cluster != nil {
		err := p.cluster.Stop()
		p.cluster = nil
		return err
	}
	return nil
}
