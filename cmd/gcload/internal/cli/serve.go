package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/gcload/gcload/internal/tlsconf"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/refserver/compliance"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/lookup"
	"github.com/gcload/gcload/refserver/store/postgres"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/spf13/cobra"
)

// ServeOptions are the flags of gcload serve.
type ServeOptions struct {
	Listen      string
	UDP         bool
	Domain      string
	DB          string
	Rooms       string
	Channels    int
	Admin       string
	NoticeLimit int
	NoticeDelay time.Duration
	CancelWait  time.Duration
	LogLevel    string
	Misbehave   string
	PostDelay   time.Duration
	ReplyDelay  time.Duration
	// AdminToken ("": $GCLOAD_ADMIN_TOKEN, else made at start and
	// written to AdminTokenFile, by default next to the database).
	AdminToken, AdminTokenFile string
	Limits                     refserver.Limits
	TxTimeout                  time.Duration
	// File posts (--files-listen, --files-dir, ...).
	FilesListen, FilesDir string
	MaxFileSize           int64
	MaxFilesPerRoom       int
	FileTokenTTL          time.Duration
	// the compliance exporter (none when ComplianceDir is empty)
	ComplianceDir     string
	ComplianceEvery   time.Duration
	CompliancePerRoom bool
	// Pool: a server on PostgreSQL is one server of a pool.
	Pool   refserver.PoolOptions
	Lookup string
	// TLS: a listener, the server's certificate and key, and the CAs of
	// trunks' client certificates (mutual TLS)
	TLSListen, Cert, Key, ClientCA string
	// Auth is none, digest or ntlm; Accounts a CSV file of accounts;
	// FQDN the NTLM target name; SALifetime the security associations'
	Auth, Accounts, FQDN string
	SALifetime           time.Duration
}

// NewCmdServe builds `gcload serve`. runF replaces the action in tests.
func NewCmdServe(env *Env, runF func(*ServeOptions) error) *cobra.Command {
	o := &ServeOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the reference group chat server",
		Long: `Run the reference group chat server: registrar and provisioning (real
clients such as SIPE sign in to it), the lookup service sip:ocschat@DOMAIN,
channel services sip:gcs1@DOMAIN ... sip:gcsN@DOMAIN, durable storage
(an SQLite file in WAL mode, or PostgreSQL when --db is a postgres:// URL) and,
with --admin, the HTTP JSON admin API.

It listens for SIP on TCP and UDP at --listen, and over TLS at --tls-listen
(with --cert and --key; "gcload cert" makes a test CA and certificates). Stop it
with Ctrl-C or SIGTERM.

Sign-in (--auth): "none" registers whoever a REGISTER names; "digest" challenges
with SIP digest (SHA-256 and MD5, qop=auth); "ntlm" with NTLM as Lync and OCS do
(MS-SIPAE), after which every message in both directions is signed and
verified: unsigned requests are refused 401, badly signed ones 403, and a
request or post naming another user than the one signed in 403. Accounts come
from --accounts (CSV: uri,user,password; user may be empty, alice,
EXAMPLE\alice or alice@example.com) and from the admin API (POST
/api/accounts); the server keeps only the hashes each scheme needs and never
logs a password. With --client-ca, a TLS client whose certificate that CA
signed is a trusted trunk (a Front End): its users register without a
challenge.

The admin API (--admin) listens on loopback unless another host is named
(":8080" is 127.0.0.1:8080; "0.0.0.0:8080" every interface, with a warning).
Every request needs its token (Authorization: Bearer TOKEN): --admin-token,
else $GCLOAD_ADMIN_TOKEN, else a random one written at start to
--admin-token-file (default: the database path + ".admin-token", or
gcload.admin-token with PostgreSQL; readable only by its owner). gcload run and conform take it with --admin-token or
$GCLOAD_ADMIN_TOKEN.

Limits against hostile clients (0 keeps the default, -1 switches a limit
off; docs/protocol.md, "Limits"):
  --max-conns             connections in all (default: the open-file limit
                          less a reserve, so sign-in and the admin API still work)
  --max-conns-per-addr    connections from one IP address (4096)
  --signin-timeout        a connection without a REGISTER is closed (30s)
  --message-timeout       a message partly sent is completed within (20s)
  --max-users-per-conn    users registered on one connection (10000)
  --max-sessions-per-user channel sessions (and lookup dialogs) of one user on one
                          connection (16)
  --max-commands          elements in one XCCOS envelope (16)
  --max-conn-queries      history and search queries in progress per connection (16)
  --max-queries           ... in the whole server (1024)
  --store-queue           posts waiting for a commit; beyond, posts get 503 (4096)
A SIP message is at most 65,535 bytes: a larger Content-Length is answered 413
and the connection closed.

--compliance-dir exports the compliance archive (every join, part, post and
history view) as XML files every --compliance-every, resuming where the last
export stopped; gcload compliance export does the same on demand.

A pool: every server on PostgreSQL (--db postgres://...) is one server of the
pool of servers on that database. Start up to four with the same --db: each
registers itself with a heartbeat, names its channel services by the address
clients reach it at (sip:gcs1@HOST:PORT, --advertise), and hands out, through
its lookup service, the channel services of every live server (--lookup
round-robin or least-loaded); a client moves to the server its channel URI
names. A post accepted by any server reaches the members on all of them, in
one order per room. A server that stops heart-beating for --server-ttl is
dropped from the pool (docs/protocol.md, "Pools").
File posts (docs/protocol.md, "File posts") are on with --files-listen: the web
service answers cmd:getfutok / cmd:getfdtok with a token, takes uploads (PUT)
and serves downloads (GET) over HTTP at that address (HTTPS with --cert and
--key when the server has --tls-listen), keeps the files in
--files-dir (default: the --db path + ".files") and their metadata in the
database; rooms then advertise filepost=true. --max-file-size,
--max-files-per-room and --file-token-ttl bound it. The servers of a pool
need one --files-dir, a shared folder: each checks that the others' markers
are in its folder and warns (and lists them in /api/stats) when not.

--misbehave NAME[,NAME] switches deliberate faults on, so that a test can show
gcload catching them; "--misbehave list" lists them. --post-delay and
--reply-delay make a slower server on purpose.`,
		Example: `  gcload serve --listen 127.0.0.1:5061 --db gc.db --admin 127.0.0.1:8080 --rooms examples/rooms.yaml
  gcload serve --listen 0.0.0.0:5061 --domain contoso.com --channels 3 --db /var/lib/gc.db
  gcload serve --listen 0.0.0.0:5061 --db postgres://gcload:secret@db.example.com/gcload
  gcload serve --listen 0.0.0.0:5061 --advertise gc2.contoso.com:5061 --db postgres://gcload@db/gcload --lookup least-loaded
  GCLOAD_ADMIN_TOKEN=$(openssl rand -hex 24) gcload serve --admin 127.0.0.1:8080
  gcload serve --listen 127.0.0.1:5061 --db gc.db --files-listen 127.0.0.1:8443
  gcload serve --misbehave list
  gcload serve --listen 127.0.0.1:5061 --admin 127.0.0.1:8080 --misbehave drop-deliveries
  gcload serve --reply-delay 5s
  gcload cert --out certs --host 127.0.0.1
  gcload serve --tls-listen 127.0.0.1:5063 --cert certs/server.pem --key certs/server-key.pem \
      --client-ca certs/ca.pem --auth ntlm --accounts examples/accounts.csv`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(o)
			}
			return runServe(cmd.Context(), env, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Listen, "listen", "127.0.0.1:5061", "SIP listen address HOST:PORT (TCP and UDP)")
	f.BoolVar(&o.UDP, "udp", true, "also listen on UDP")
	f.StringVar(&o.Domain, "domain", refserver.DefaultDomain, "SIP domain of users, rooms and services")
	f.StringVar(&o.DB, "db", "gcload.db", "SQLite database file (created if missing), or a postgres:// URL of a PostgreSQL database (schema created or migrated at start)")
	f.StringVar(&o.Rooms, "rooms", "", "rooms file (YAML: categories and rooms, docs/protocol.md) to provision at start")
	f.IntVar(&o.Channels, "channels", 1, "number of channel services")
	f.StringVar(&o.Admin, "admin", "", "admin API listen address HOST:PORT, or :PORT on loopback (none if empty)")
	f.StringVar(&o.AdminToken, "admin-token", "", "the admin API's token, at least 16 characters (default: $"+adminclient.TokenEnv+", else a random one)")
	f.StringVar(&o.AdminTokenFile, "admin-token-file", "", `where to write the random admin token (default: the --db path + ".admin-token"; gcload.admin-token with PostgreSQL)`)
	f.IntVar(&o.NoticeLimit, "notice-limit", 250, "rooms with more members online send no join/part notices (0: always send)")
	f.DurationVar(&o.NoticeDelay, "notice-delay", refserver.DefaultNoticeDelay, "each room gathers its join/part notices this long and sends one notice naming everyone who came or went (0: one notice per user, at once; at most 1s)")
	f.DurationVar(&o.CancelWait, "cancel-wait", 32*time.Second, "how long a console-flow lookup waits for CANCEL before 408")
	f.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.DurationVar(&o.PostDelay, "post-delay", 0, "hold every post this long before handling it (a slower server on purpose, to test gcload compare)")
	f.DurationVar(&o.ReplyDelay, "reply-delay", 0, "send every channel command's XCCOS reply this much later (a server answering late on purpose); posts, deliveries and sign-in are not delayed")
	l := &o.Limits
	f.IntVar(&l.MaxConns, "max-conns", 0, "connections accepted in all (0: the open-file limit less a reserve; -1: none)")
	f.IntVar(&l.MaxConnsPerAddr, "max-conns-per-addr", 0, "connections from one IP address (0: 4096; -1: none)")
	f.DurationVar(&l.SignInTimeout, "signin-timeout", 0, "close a connection on which no user registered within this (0: 30s; -1ns: never)")
	f.DurationVar(&l.MessageTimeout, "message-timeout", 0, "close a connection with a message partly received for this long (0: 20s; -1ns: never)")
	f.IntVar(&l.MaxUsersPerConn, "max-users-per-conn", 0, "users registered on one connection (0: 10000; -1: none)")
	f.IntVar(&l.MaxSessionsPerUser, "max-sessions-per-user", 0, "channel sessions (and, apart, lookup dialogs) of one user on one connection (0: 16; -1: none)")
	f.IntVar(&l.MaxCommands, "max-commands", 0, "elements of one XCCOS envelope (0: 16; -1: none)")
	f.IntVar(&l.MaxConnQueries, "max-conn-queries", 0, "history and search queries in progress per connection (0: 16; -1: none)")
	f.IntVar(&l.MaxQueries, "max-queries", 0, "history and search queries in progress in all (0: 1024; -1: none)")
	f.IntVar(&l.StoreQueue, "store-queue", 0, "posts waiting for a commit before posts are refused 503 (0: 4096)")
	f.DurationVar(&o.TxTimeout, "transaction-timeout", 32*time.Second, "how long the server waits for a client's answer to an INFO it sent before it ends that client's session")
	f.StringVar(&o.FilesListen, "files-listen", "", "web service for file posts: HTTP listen address HOST:PORT (none if empty: file posts off)")
	f.StringVar(&o.FilesDir, "files-dir", "", `folder of the uploaded files (default: the --db path + ".files"; gcload.files with PostgreSQL; in a pool, one folder shared by every server)`)
	f.Int64Var(&o.MaxFileSize, "max-file-size", 0, "largest file accepted, in bytes (0: 10 MiB)")
	f.IntVar(&o.MaxFilesPerRoom, "max-files-per-room", 0, "files one room may hold (0: 10000)")
	f.DurationVar(&o.FileTokenTTL, "file-token-ttl", 0, "how long a file token from getfutok/getfdtok is valid (0: 1m)")
	f.StringVar(&o.ComplianceDir, "compliance-dir", "", "export the compliance archive as XML files into this folder on an interval (docs/compliance.md; none if empty)")
	f.DurationVar(&o.ComplianceEvery, "compliance-every", 15*time.Minute, "the compliance export's interval")
	f.BoolVar(&o.CompliancePerRoom, "compliance-per-room", false, "the compliance export writes one file per room")
	f.StringVar(&o.Pool.Advertise, "advertise", "", "in a pool (PostgreSQL): the HOST:PORT clients reach this server at, which names its channel services (default: --listen, or this machine's host name when it listens on every interface)")
	f.StringVar(&o.Pool.ID, "server-id", "", "in a pool: this server's name among the pool's servers (default: the --advertise address)")
	f.DurationVar(&o.Pool.Heartbeat, "heartbeat", refserver.DefaultHeartbeat, "in a pool: how often the server renews its registration and reads the live servers")
	f.DurationVar(&o.Pool.TTL, "server-ttl", refserver.DefaultServerTTL, "in a pool: a server whose last heartbeat is older than this is dropped from the pool")
	f.StringVar(&o.Lookup, "lookup", "round-robin", "how the lookup service chooses a channel service: round-robin (every channel service of every live server in turn) or least-loaded (the server with the fewest sessions)")
	f.StringVar(&o.Misbehave, "misbehave", "", `deliberate faults NAME[,NAME] to switch on ("list" lists them)`)
	f.StringVar(&o.TLSListen, "tls-listen", "", "SIP over TLS listen address HOST:PORT (needs --cert and --key)")
	f.StringVar(&o.Cert, "cert", "", "the server's TLS certificate (PEM; gcload cert makes one)")
	f.StringVar(&o.Key, "key", "", "the server's TLS private key (PEM)")
	f.StringVar(&o.ClientCA, "client-ca", "", "CA certificates (PEM) of trunks' client certificates: a TLS client presenting one is a trusted trunk (mutual TLS)")
	f.StringVar(&o.Auth, "auth", "none", "sign-in: none, digest (SIP digest, SHA-256 and MD5) or ntlm (MS-SIPAE: NTLM, then every message signed)")
	f.StringVar(&o.Accounts, "accounts", "", "accounts file (CSV: uri,user,password) for --auth digest and ntlm")
	f.StringVar(&o.FQDN, "fqdn", "", `the server's FQDN, the targetname of its NTLM challenges (default "gc." and --domain)`)
	f.DurationVar(&o.SALifetime, "sa-lifetime", 0, "how long an NTLM security association lasts before the client must sign in again (0: 8h)")
	return cmd
}

// serveAuthOptions are the options of serve's sign-in and TLS flags.
func serveAuthOptions(o *ServeOptions) ([]refserver.Option, error) {
	auth, err := refserver.ParseAuth(o.Auth)
	if err != nil {
		return nil, fmt.Errorf("--auth: %w", err)
	}
	opts := []refserver.Option{refserver.WithAuth(auth)}
	if auth != refserver.AuthNone && o.Accounts == "" && o.Admin == "" {
		return nil, fmt.Errorf("--auth %s: nobody could sign in: give --accounts FILE, or --admin to add accounts through the admin API", auth)
	}
	if o.Accounts != "" {
		// read now: a bad file is reported before anything starts
		if _, err := accounts.LoadFile(o.Accounts); err != nil {
			return nil, fmt.Errorf("--accounts: %w", err)
		}
		opts = append(opts, refserver.WithAccountsFile(o.Accounts))
	}
	if o.FQDN != "" {
		opts = append(opts, refserver.WithTargetName(o.FQDN))
	}
	if o.SALifetime != 0 {
		opts = append(opts, refserver.WithSecurityLifetime(o.SALifetime))
	}
	if o.TLSListen == "" {
		if o.Cert != "" || o.Key != "" || o.ClientCA != "" {
			return nil, errors.New("--cert, --key and --client-ca are for --tls-listen, which is not given")
		}
		return opts, nil
	}
	if _, _, err := net.SplitHostPort(o.TLSListen); err != nil {
		return nil, fmt.Errorf("--tls-listen %q: want HOST:PORT", o.TLSListen)
	}
	if o.Cert == "" || o.Key == "" {
		return nil, errors.New("--tls-listen needs --cert and --key (gcload cert makes a test CA and certificates)")
	}
	cfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{CertFile: o.Cert, KeyFile: o.Key, ClientCAFile: o.ClientCA})
	if err != nil {
		return nil, err
	}
	return append(opts, refserver.WithTLS(o.TLSListen, cfg)), nil
}

// dbOption: a postgres:// or postgresql:// URL is a PostgreSQL database,
// anything else an SQLite file.
func dbOption(db string) refserver.Option {
	if postgres.IsURL(db) {
		return refserver.WithPostgres(db)
	}
	return refserver.WithDB(db)
}

// dbName is --db as it may be printed (no password).
func dbName(db string) string {
	if postgres.IsURL(db) {
		return postgres.Redact(db)
	}
	return db
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

func runServe(ctx context.Context, env *Env, o *ServeOptions) error {
	if o.Misbehave == "list" {
		width := 0
		for _, f := range fault.All() {
			width = max(width, len(f.Name))
		}
		for _, f := range fault.All() {
			var caught []string
			if len(f.Rules) > 0 {
				caught = append(caught, strings.Join(f.Rules, ", "))
			}
			if len(f.Figures) > 0 {
				caught = append(caught, "in gcload run: "+strings.Join(f.Figures, ", "))
			}
			fmt.Fprintf(env.Stdout, "%-*s %s (caught by: %s)\n", width, f.Name, f.What, strings.Join(caught, "; "))
		}
		return nil
	}
	faults, err := fault.Parse(o.Misbehave)
	if err != nil {
		return badInput(fmt.Errorf("--misbehave: %w", err))
	}
	level, err := parseLevel(o.LogLevel)
	if err != nil {
		return badInput(err)
	}
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return badInput(fmt.Errorf("--listen %q: want HOST:PORT", o.Listen))
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	opts := []refserver.Option{
		refserver.WithTCP(o.Listen), refserver.WithDomain(o.Domain), dbOption(o.DB),
		refserver.WithChannels(o.Channels), refserver.WithNoticeLimit(o.NoticeLimit), refserver.WithNoticeDelay(o.NoticeDelay),
		refserver.WithCancelWait(o.CancelWait), refserver.WithLogger(log), refserver.WithFaults(faults), refserver.WithPostDelay(o.PostDelay),
		refserver.WithReplyDelay(o.ReplyDelay), refserver.WithLimits(o.Limits), refserver.WithTransactionTimeout(o.TxTimeout),
	}
	if o.ComplianceDir != "" {
		if o.ComplianceEvery <= 0 {
			return badInput(fmt.Errorf("--compliance-every %v: want a positive duration", o.ComplianceEvery))
		}
		opts = append(opts, refserver.WithCompliance(compliance.Options{Dir: o.ComplianceDir, PerRoom: o.CompliancePerRoom}, o.ComplianceEvery))
	}
	policy, err := lookup.ParsePolicy(o.Lookup)
	if err != nil {
		return badInput(fmt.Errorf("--lookup: %w", err))
	}
	opts = append(opts, refserver.WithLookupPolicy(policy))
	if postgres.IsURL(o.DB) {
		opts = append(opts, refserver.WithPool(o.Pool))
	}
	authOpts, err := serveAuthOptions(o)
	if err != nil {
		return badInput(err)
	}
	opts = append(opts, authOpts...)
	if o.Rooms != "" {
		// checked before the database is created: a typo leaves nothing behind
		if _, err := refserver.LoadRoomsFile(o.Rooms); err != nil {
			return badInput(err)
		}
		opts = append(opts, refserver.WithRoomsFile(o.Rooms))
	}
	if o.FilesListen != "" {
		dir := o.FilesDir
		if dir == "" {
			dir = o.DB + ".files"
			if postgres.IsURL(o.DB) {
				dir = "gcload.files"
			}
		}
		if o.MaxFileSize < 0 || o.MaxFilesPerRoom < 0 || o.FileTokenTTL < 0 {
			return badInput(errors.New("--max-file-size, --max-files-per-room and --file-token-ttl: want 0 (the default) or more"))
		}
		files := refserver.Files{Listen: o.FilesListen, Dir: dir, MaxFileSize: o.MaxFileSize, MaxFilesPerRoom: o.MaxFilesPerRoom, TokenTTL: o.FileTokenTTL}
		if o.TLSListen != "" {
			// HTTPS with the server's certificate (no client certificates:
			// those are for SIP trunks)
			cfg, err := tlsconf.ServerConfig(tlsconf.ServerOptions{CertFile: o.Cert, KeyFile: o.Key})
			if err != nil {
				return badInput(fmt.Errorf("--files-listen over TLS: %w", err))
			}
			files.TLS = cfg
		}
		opts = append(opts, refserver.WithFiles(files))
	}
	tokenFile := ""
	if o.Admin != "" {
		if _, _, err := net.SplitHostPort(o.Admin); err != nil {
			return badInput(fmt.Errorf("--admin %q: want HOST:PORT", o.Admin))
		}
	}
	if o.Admin != "" {
		opts = append(opts, refserver.WithAdmin(o.Admin))
		token := o.AdminToken
		if token == "" {
			token = env.getenv(adminclient.TokenEnv)
		}
		if token != "" {
			opts = append(opts, refserver.WithAdminToken(token))
		} else {
			tokenFile = o.AdminTokenFile
			if tokenFile == "" {
				tokenFile = o.DB + ".admin-token"
				if postgres.IsURL(o.DB) {
					tokenFile = "gcload.admin-token" // no file to put it next to
				}
			}
			opts = append(opts, refserver.WithAdminTokenFile(tokenFile))
		}
	}
	_, statErr := os.Stat(o.DB)
	_, tokenErr := os.Stat(tokenFile)
	srv, err := refserver.New(ctx, opts...)
	if err != nil {
		// the server did not start: the files it created go too
		if errors.Is(statErr, fs.ErrNotExist) {
			for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
				_ = os.Remove(o.DB + suffix)
			}
		}
		if tokenFile != "" && errors.Is(tokenErr, fs.ErrNotExist) {
			_ = os.Remove(tokenFile)
		}
		return badInput(err)
	}
	defer srv.Close()
	if o.UDP {
		// the same port as TCP (the one TCP picked when port was 0)
		udp := net.JoinHostPort(host, port)
		if port == "0" {
			_, p, _ := net.SplitHostPort(srv.TCPAddr())
			udp = net.JoinHostPort(host, p)
		}
		if err := srv.ListenUDP(udp); err != nil {
			return badInput(err)
		}
	}
	fmt.Fprintf(env.Stdout, "gcload serve: domain %s, SIP on %s", srv.Domain(), srv.TCPAddr())
	if srv.UDPAddr() != "" {
		fmt.Fprintf(env.Stdout, " (tcp) and %s (udp)", srv.UDPAddr())
	}
	fmt.Fprintf(env.Stdout, ", lookup %s, channels", srv.LookupURI())
	for _, c := range srv.ChannelURIs() {
		fmt.Fprintf(env.Stdout, " %s", c)
	}
	if u := srv.AdminURL(); u != "" {
		fmt.Fprintf(env.Stdout, ", admin API %s", u)
		if tokenFile != "" {
			fmt.Fprintf(env.Stdout, " (token in %s)", tokenFile)
		}
	}
	if u := srv.FilesURL(); u != "" {
		fmt.Fprintf(env.Stdout, ", files %s", u)
	}
	fmt.Fprintf(env.Stdout, ", database %s", dbName(o.DB))
	if id := srv.PoolID(); id != "" {
		fmt.Fprintf(env.Stdout, ", pool server %s (%d live, lookup %s)", id, len(srv.PoolServers()), o.Lookup)
	}
	if a := srv.TLSAddr(); a != "" {
		fmt.Fprintf(env.Stdout, ", SIP over TLS on %s", a)
		if o.ClientCA != "" {
			fmt.Fprint(env.Stdout, " (trunks by client certificate)")
		}
	}
	fmt.Fprintf(env.Stdout, ", sign-in %s", srv.Auth())
	switch srv.Auth() {
	case refserver.AuthNTLM:
		fmt.Fprintf(env.Stdout, " (%d accounts, targetname %s)", srv.Accounts().Len(), srv.TargetName())
	case refserver.AuthDigest:
		fmt.Fprintf(env.Stdout, " (%d accounts)", srv.Accounts().Len())
	}
	if !faults.Empty() {
		fmt.Fprintf(env.Stdout, ", MISBEHAVING: %s", faults)
	}
	fmt.Fprintln(env.Stdout)
	if srv.AdminExposed() {
		fmt.Fprintf(env.Stderr, "gcload serve: WARNING: the admin API listens on %s, beyond this machine's loopback:\n"+
			"gcload serve: anyone who can reach it and holds its token can create, change and disable rooms.\n"+
			"gcload serve: give --admin 127.0.0.1:PORT unless other machines must provision.\n", strings.TrimPrefix(srv.AdminURL(), "http://"))
	}
	<-ctx.Done()
	fmt.Fprintln(env.Stdout, "gcload serve: stopping")
	st := srv.Stats()
	fmt.Fprintf(env.Stdout, "gcload serve: %d posts stored in %d commits, %d deliveries sent\n", st.Store.Appended, st.Store.Commits, st.Channel.Deliveries)
	return nil
}
