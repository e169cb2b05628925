package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/store/postgres"
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
	CancelWait  time.Duration
	LogLevel    string
	Misbehave   string
	PostDelay   time.Duration
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

It listens for SIP on TCP and UDP at --listen. Stop it with Ctrl-C.

--misbehave NAME[,NAME] switches deliberate faults on, so that a test can show
gcload catching them; "--misbehave list" lists them.`,
		Example: `  gcload serve --listen 127.0.0.1:5061 --db gc.db --rooms rooms.yaml --admin 127.0.0.1:8080
  gcload serve --listen 0.0.0.0:5061 --domain contoso.com --channels 3 --db /var/lib/gc.db
  gcload serve --listen 0.0.0.0:5061 --db postgres://gcload:secret@db.example.com/gcload
  gcload serve --misbehave list
  gcload serve --listen 127.0.0.1:5061 --admin 127.0.0.1:8080 --misbehave drop-deliveries`,
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
	f.StringVar(&o.Rooms, "rooms", "", "rooms file (YAML) to provision at start")
	f.IntVar(&o.Channels, "channels", 1, "number of channel services")
	f.StringVar(&o.Admin, "admin", "", "admin API listen address HOST:PORT (none if empty)")
	f.IntVar(&o.NoticeLimit, "notice-limit", 250, "rooms with more members online send no join/part notices (0: always send)")
	f.DurationVar(&o.CancelWait, "cancel-wait", 32*time.Second, "how long a console-flow lookup waits for CANCEL before 408")
	f.StringVar(&o.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	f.DurationVar(&o.PostDelay, "post-delay", 0, "hold every post this long before handling it (a slower server on purpose, to test gcload compare)")
	f.StringVar(&o.Misbehave, "misbehave", "", `deliberate faults NAME[,NAME] to switch on ("list" lists them)`)
	return cmd
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
		for _, f := range fault.All() {
			caught := strings.Join(f.Rules, ", ")
			if len(f.Figures) > 0 {
				caught += "; in gcload run: " + strings.Join(f.Figures, ", ")
			}
			fmt.Fprintf(env.Stdout, "%-22s %s (caught by: %s)\n", f.Name, f.What, caught)
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
		refserver.WithChannels(o.Channels), refserver.WithNoticeLimit(o.NoticeLimit),
		refserver.WithCancelWait(o.CancelWait), refserver.WithLogger(log), refserver.WithFaults(faults), refserver.WithPostDelay(o.PostDelay),
	}
	if o.Rooms != "" {
		opts = append(opts, refserver.WithRoomsFile(o.Rooms))
	}
	if o.Admin != "" {
		opts = append(opts, refserver.WithAdmin(o.Admin))
	}
	if ctx == nil {
		ctx = context.Background()
	}
	srv, err := refserver.New(ctx, opts...)
	if err != nil {
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
	}
	fmt.Fprintf(env.Stdout, ", database %s", dbName(o.DB))
	if !faults.Empty() {
		fmt.Fprintf(env.Stdout, ", MISBEHAVING: %s", faults)
	}
	fmt.Fprintln(env.Stdout)
	<-env.Signals
	fmt.Fprintln(env.Stdout, "gcload serve: stopping")
	st := srv.Stats()
	fmt.Fprintf(env.Stdout, "gcload serve: %d posts stored in %d commits, %d deliveries sent\n", st.Store.Appended, st.Store.Commits, st.Channel.Deliveries)
	return nil
}
