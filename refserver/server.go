// Package refserver is the reference group chat server: a registrar and
// provisioning service enough for real clients (SIPE signs in to it), the
// lookup service (sip:ocschat@domain), one or more channel services
// (sip:gcs1@domain ...) sharing the pool's rooms, durable storage (embedded
// SQLite by default, or PostgreSQL) and an HTTP JSON admin API.
//
// It is the composition root: SIP requests arrive on a sipnet.Endpoint and
// are routed here by method, dialog and Request-URI to the registrar,
// lookup.Service or channel.Hub. It never imports the load harness.
package refserver

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/refserver/admin"
	"github.com/gcload/gcload/refserver/channel"
	"github.com/gcload/gcload/refserver/compliance"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/internal/ua"
	"github.com/gcload/gcload/refserver/lookup"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/postgres"
	"github.com/gcload/gcload/refserver/store/sqlite"
	"github.com/gcload/gcload/refserver/web"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipauth/digest"
	"github.com/gcload/gcload/sipnet"
	"golang.org/x/net/netutil"
)

// Defaults of the options.
const (
	DefaultDomain          = "example.com"
	DefaultChannels        = 1
	DefaultRegisterExpires = 900
	// DefaultNoticeDelay: see WithNoticeDelay.
	DefaultNoticeDelay = channel.DefaultNoticeDelay
	MaxChannels        = 16
	// MaxFileConns bounds the web service's connections at once.
	MaxFileConns = 1024
)

type options struct {
	domain          string
	tcp, udp        string
	dbPath          string
	pgURL           string
	st              store.Store
	roomsFile       string
	categories      []store.Category
	rooms           []store.Room
	channels        int
	adminAddr       string
	logger          *slog.Logger
	cancelWait      time.Duration
	noticeLimit     int
	noticeDelay     time.Duration
	registerExpires int
	trace           func(sipnet.Direction, *sipnet.Conn, []byte)
	timeout         time.Duration
	faults          fault.Set
	postDelay       time.Duration
	replyDelay      time.Duration
	limits          Limits
	adminToken      string
	adminTokenFile  string
	compliance      *compliance.Options
	complianceEvery time.Duration
	pool            PoolOptions
	lookupPolicy    lookup.Policy
	// authentication (auth.go) and TLS
	auth         Auth
	targetName   string
	saLifetime   time.Duration
	digestAlgs   []digest.Algorithm
	nonceTTL     time.Duration
	creds        []accounts.Credential
	accountsFile string
	tlsAddr      string
	tlsConfig    *tls.Config
	files        Files
}

// Files configures the web service for file posts (WithFiles).
type Files struct {
	// Listen is the HTTP(S) address of uploads and downloads
	// ("127.0.0.1:0" picks a port).
	Listen string
	// Dir is the folder of the files (created if missing).
	Dir string
	// MaxFileSize (bytes), MaxFilesPerRoom and TokenTTL: 0 takes the
	// web package's defaults.
	MaxFileSize     int64
	MaxFilesPerRoom int
	TokenTTL        time.Duration
	// TLS, when set, serves HTTPS with it (and the URLs are https://).
	TLS *tls.Config
	// Now is the clock of token expiry (tests); nil is time.Now.
	Now func() time.Time
}

// WithFiles enables file posts: the web service listens on f.Listen and
// keeps files in f.Dir, and rooms advertise filepost=true.
func WithFiles(f Files) Option {
	return func(o *options) error {
		if f.Listen == "" || f.Dir == "" {
			return errors.New("refserver: file posts need a listen address and a files folder")
		}
		if _, _, err := net.SplitHostPort(f.Listen); err != nil {
			return fmt.Errorf("refserver: files address %q: want HOST:PORT", f.Listen)
		}
		o.files = f
		return nil
	}
}

// Option configures a Server.
type Option func(*options) error

// WithDomain sets the SIP domain (default example.com).
func WithDomain(d string) Option {
	return func(o *options) error {
		if d == "" {
			return errors.New("refserver: empty domain")
		}
		o.domain = d
		return nil
	}
}

// WithTCP listens for SIP over TCP on addr ("127.0.0.1:0" picks a port).
func WithTCP(addr string) Option { return func(o *options) error { o.tcp = addr; return nil } }

// WithUDP listens for SIP over UDP on addr.
func WithUDP(addr string) Option { return func(o *options) error { o.udp = addr; return nil } }

// WithDB stores in an SQLite database at path (created if missing).
// WithDB and WithPostgres replace each other: the last one given counts.
func WithDB(path string) Option {
	return func(o *options) error { o.dbPath, o.pgURL = path, ""; return nil }
}

// WithPostgres stores in the PostgreSQL database at url
// (postgres://user:password@host:port/db), creating or migrating its
// schema at start.
func WithPostgres(url string) Option {
	return func(o *options) error { o.pgURL, o.dbPath = url, ""; return nil }
}

// WithStore uses an open store; the server closes it.
func WithStore(s store.Store) Option { return func(o *options) error { o.st = s; return nil } }

// WithRoomsFile provisions the rooms of a rooms file at start.
func WithRoomsFile(path string) Option {
	return func(o *options) error { o.roomsFile = path; return nil }
}

// WithRooms provisions rooms at start, as a rooms file would.
func WithRooms(rs ...store.Room) Option {
	return func(o *options) error { o.rooms = append(o.rooms, rs...); return nil }
}

// WithCategories provisions categories at start (before the rooms), as a
// rooms file would.
func WithCategories(cs ...store.Category) Option {
	return func(o *options) error { o.categories = append(o.categories, cs...); return nil }
}

// WithChannels sets the number of channel services (1 to MaxChannels).
func WithChannels(n int) Option {
	return func(o *options) error {
		if n < 1 || n > MaxChannels {
			return fmt.Errorf("refserver: channels %d: want 1 to %d", n, MaxChannels)
		}
		o.channels = n
		return nil
	}
}

// WithAdmin serves the admin API on addr. An address without a host
// (":8080") listens on loopback (127.0.0.1); another host must be named
// ("0.0.0.0:8080"), and then AdminExposed reports it so the caller can warn.
func WithAdmin(addr string) Option {
	return func(o *options) error {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return fmt.Errorf("refserver: admin address %q: want HOST:PORT or :PORT", addr)
		}
		if host == "" {
			addr = net.JoinHostPort("127.0.0.1", port)
		}
		o.adminAddr = addr
		return nil
	}
}

// MinAdminToken is the shortest admin token accepted.
const MinAdminToken = 16

// WithAdminToken sets the admin API's bearer token (at least MinAdminToken
// characters). Without it the server makes a random one at start: see
// WithAdminTokenFile and AdminToken.
func WithAdminToken(token string) Option {
	return func(o *options) error {
		if len(token) < MinAdminToken || strings.ContainsAny(token, " \t\r\n") {
			return fmt.Errorf("refserver: the admin token must be at least %d characters, without spaces", MinAdminToken)
		}
		o.adminToken = token
		return nil
	}
}

// WithAdminTokenFile writes the token the server makes at start (when no
// WithAdminToken is given) to path, readable only by its owner (mode 0600),
// replacing the file.
func WithAdminTokenFile(path string) Option {
	return func(o *options) error { o.adminTokenFile = path; return nil }
}

// WithLogger logs through l.
func WithLogger(l *slog.Logger) Option { return func(o *options) error { o.logger = l; return nil } }

// WithCancelWait bounds how long a console-flow lookup waits for CANCEL.
func WithCancelWait(d time.Duration) Option {
	return func(o *options) error { o.cancelWait = d; return nil }
}

// WithNoticeLimit: rooms with more members online send no join/part
// notices (0: always send).
func WithNoticeLimit(n int) Option { return func(o *options) error { o.noticeLimit = n; return nil } }

// WithNoticeDelay: each room gathers its join and part notices for d and
// sends each member one notice naming all who came or went (default
// channel.DefaultNoticeDelay; 0 sends each notice at once; at most 1s).
func WithNoticeDelay(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 || d > time.Second {
			return fmt.Errorf("notice delay %v: must be between 0 and 1s", d)
		}
		o.noticeDelay = d
		return nil
	}
}

// WithPostDelay makes the server slower on purpose: every post waits d
// before it is handled (acknowledged, stored, delivered).
func WithPostDelay(d time.Duration) Option {
	return func(o *options) error { o.postDelay = d; return nil }
}

// WithReplyDelay makes the server answer late on purpose: every XCCOS
// reply of the channel services to a command (rpl:...) is sent d after it
// is ready, without holding up the connection's other messages or other
// sessions (the lookup service's rpl:requri is not delayed, so users still
// sign in). Tests of late replies use it.
func WithReplyDelay(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("refserver: reply delay %s is negative", d)
		}
		o.replyDelay = d
		return nil
	}
}

// WithLimits sets the limits against hostile clients (see Limits); zero
// fields keep their defaults.
func WithLimits(l Limits) Option {
	return func(o *options) error {
		if l.StoreQueue < 0 {
			return fmt.Errorf("refserver: store queue %d: the queue cannot be switched off, give a size", l.StoreQueue)
		}
		o.limits = l
		return nil
	}
}

// WithCompliance exports the compliance archive into o.Dir every interval
// (and at start), resuming where the last export stopped
// (refserver/compliance); o.Domain defaults to the server's.
func WithCompliance(o compliance.Options, every time.Duration) Option {
	return func(opts *options) error {
		if o.Dir == "" {
			return errors.New("compliance export: no folder")
		}
		if every <= 0 {
			return fmt.Errorf("compliance export: interval %v: want a positive duration", every)
		}
		if !o.Since.IsZero() || !o.Until.IsZero() {
			return errors.New("compliance export: a server exports by cursor, not by time range")
		}
		opts.compliance, opts.complianceEvery = &o, every
		return nil
	}
}

// WithFaults switches deliberate misbehaviours on (see package fault).
func WithFaults(f fault.Set) Option { return func(o *options) error { o.faults = f; return nil } }

// WithTrace shows every SIP message in and out to f (debugging).
func WithTrace(f func(sipnet.Direction, *sipnet.Conn, []byte)) Option {
	return func(o *options) error { o.trace = f; return nil }
}

// WithTransactionTimeout sets how long the server waits for a client's
// answer to its INFOs before it drops the session (default 32 s).
func WithTransactionTimeout(d time.Duration) Option {
	return func(o *options) error { o.timeout = d; return nil }
}

// WithAuth sets how the registrar authenticates users (default
// AuthNone): AuthDigest and AuthNTLM challenge every REGISTER and need
// accounts (WithAccounts, WithAccountsFile, or the admin API). Users
// registering on a trusted trunk (a TLS connection whose client
// certificate verified, WithTLS) are not challenged.
func WithAuth(a Auth) Option {
	return func(o *options) error {
		if _, err := ParseAuth(string(a)); err != nil {
			return fmt.Errorf("refserver: %w", err)
		}
		o.auth = a
		return nil
	}
}

// WithAccounts adds user accounts (each password is kept only as the
// hashes the schemes need).
func WithAccounts(creds ...accounts.Credential) Option {
	return func(o *options) error { o.creds = append(o.creds, creds...); return nil }
}

// WithAccountsFile adds the accounts of a CSV file (uri,user,password;
// sipauth/accounts), read at start.
func WithAccountsFile(path string) Option {
	return func(o *options) error { o.accountsFile = path; return nil }
}

// WithTargetName sets the server's FQDN, the targetname of its NTLM
// challenges and signatures (default "gc." and the domain).
func WithTargetName(fqdn string) Option {
	return func(o *options) error {
		if fqdn == "" || strings.ContainsAny(fqdn, "\\\" \r\n") {
			return fmt.Errorf("refserver: target name %q: want a host name", fqdn)
		}
		o.targetName = fqdn
		return nil
	}
}

// WithSecurityLifetime sets how long an NTLM security association lasts
// before the client must sign in again (default sipae.DefaultLifetime,
// eight hours).
func WithSecurityLifetime(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("refserver: security association lifetime %s is negative", d)
		}
		o.saLifetime = d
		return nil
	}
}

// WithDigestAlgorithms sets the digest algorithms offered, preferred
// first (default SHA-256, then MD5).
func WithDigestAlgorithms(algs ...digest.Algorithm) Option {
	return func(o *options) error { o.digestAlgs = algs; return nil }
}

// WithDigestNonceTTL sets how long a digest nonce is good for (default
// digest.DefaultNonceTTL, five minutes); a response with an older one is
// answered 401 with stale=TRUE.
func WithDigestNonceTTL(d time.Duration) Option {
	return func(o *options) error { o.nonceTTL = d; return nil }
}

// WithTLS listens for SIP over TLS on addr with cfg (its certificate; with
// ClientCAs and ClientAuth, mutual TLS: a connection whose client
// certificate verified is a trusted trunk, whose users sign in without a
// challenge, as a Front End's).
func WithTLS(addr string, cfg *tls.Config) Option {
	return func(o *options) error {
		if !tlsConfigured(cfg) {
			return errors.New("refserver: TLS needs a server certificate")
		}
		o.tlsAddr, o.tlsConfig = addr, cfg
		return nil
	}
}

// Server is a running reference server.
type Server struct {
	o          options
	log        *slog.Logger
	ep         *sipnet.Endpoint
	st         store.Store
	hub        *channel.Hub
	lookup     *lookup.Service
	lookupURI  string
	provBody   []byte // the provisioning SUBSCRIBE's 200 body, rendered once
	chanURIs   []string
	tcpAddr    net.Addr
	udpAddr    net.Addr
	tlsAddr    net.Addr
	auth       *authn
	admin      *http.Server
	adminDone  chan struct{} // closed when the admin API's Serve returned
	adminAddr  net.Addr
	adminToken string
	files      *web.Service
	filesHTTP  *http.Server
	filesDone  chan struct{}
	filesAddr  net.Addr
	reg        registrar
	member     *member // nil outside a pool
	// ready: the services exist (in a pool the server listens before it
	// knows its channel services' names, which carry its port)
	ready     atomic.Bool
	closeOnce sync.Once
	closeErr  error
	// the compliance exporter's life
	exportStop context.CancelFunc
	exportDone chan struct{}
}

// New starts a server: it opens the store, provisions rooms, and listens.
func New(ctx context.Context, opts ...Option) (*Server, error) {
	o := options{domain: DefaultDomain, channels: DefaultChannels, noticeLimit: channel.DefaultNoticeLimit, noticeDelay: channel.DefaultNoticeDelay, registerExpires: DefaultRegisterExpires, auth: AuthNone}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.tcp == "" && o.udp == "" && o.tlsAddr == "" {
		return nil, errors.New("refserver: no listen address (WithTCP, WithUDP or WithTLS)")
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.targetName == "" {
		o.targetName = "gc." + o.domain
	}
	if o.accountsFile != "" {
		creds, err := accounts.LoadFile(o.accountsFile)
		if err != nil {
			return nil, err
		}
		o.creds = append(o.creds, creds...)
	}
	auth, err := newAuthn(authConfig{scheme: o.auth, targetName: o.targetName, realm: o.domain, lifetime: o.saLifetime,
		algorithms: o.digestAlgs, nonceTTL: o.nonceTTL, creds: o.creds, faults: o.faults, log: o.logger})
	if err != nil {
		return nil, err
	}
	lim := o.limits.resolved()
	s := &Server{o: o, log: o.logger, lookupURI: "sip:ocschat@" + o.domain, auth: auth}
	s.provBody = provisioningBody(s.lookupURI)
	s.reg.auth = auth
	s.reg.expires = o.registerExpires
	s.reg.maxUsers = lim.MaxUsersPerConn
	for i := 1; i <= o.channels; i++ {
		s.chanURIs = append(s.chanURIs, "sip:gcs"+strconv.Itoa(i)+"@"+o.domain)
	}
	s.reg.faults = o.faults
	var onKeepAlive func(*sipnet.Conn)
	if o.faults.Has(fault.KeepAliveClose) {
		onKeepAlive = func(c *sipnet.Conn) { c.Close() }
	}
	s.ep = sipnet.NewEndpoint(sipnet.Options{
		Handler: s.route, OnConnClose: s.connClosed, Logger: o.logger, Trace: o.trace, Timeout: o.timeout,
		OnKeepAlive: onKeepAlive,
		MaxConns:    off(lim.MaxConns), MaxConnsPerAddr: off(lim.MaxConnsPerAddr),
		SignInTimeout: offD(lim.SignInTimeout), MessageTimeout: offD(lim.MessageTimeout),
	})
	fail := func(err error) (*Server, error) {
		s.Close()
		return nil, err
	}
	s.st = o.st
	if s.st == nil && o.pgURL != "" {
		// a server on PostgreSQL is one server of a pool: it listens first,
		// as its channel services are named by its address
		if o.tcp == "" {
			return fail(errors.New("refserver: a server on PostgreSQL (a pool) needs a TCP listen address (WithTCP)"))
		}
		if s.tcpAddr, err = s.ep.ListenTCP(o.tcp); err != nil {
			return fail(err)
		}
		adv := o.pool.Advertise
		if adv == "" {
			if adv, err = advertiseAddr(s.tcpAddr.String()); err != nil {
				return fail(err)
			}
		}
		id := o.pool.ID
		if id == "" {
			id = adv
		}
		s.chanURIs = poolURIs(adv, o.channels)
		pg, err := postgres.Open(ctx, o.pgURL, postgres.WithLogger(o.logger), postgres.WithQueueLen(lim.StoreQueue), postgres.WithServerID(id))
		if err != nil {
			return fail(err)
		}
		s.st = pg
		s.member = newMember(pg, id, adv, s.chanURIs, o.pool, o.logger)
	}
	if s.st == nil {
		if o.dbPath == "" {
			return fail(errors.New("refserver: no storage (WithDB, WithPostgres or WithStore)"))
		}
		if dir := filepath.Dir(o.dbPath); dir != "" {
			if _, err := os.Stat(dir); err != nil {
				return fail(fmt.Errorf("refserver: database directory: %w", err))
			}
		}
		if s.st, err = sqlite.OpenWith(o.dbPath, sqlite.Options{QueueLen: lim.StoreQueue}); err != nil {
			return fail(err)
		}
	}
	if o.files.Listen != "" {
		if s.files, err = web.New(web.Config{Dir: o.files.Dir, Store: s.st, MaxFileSize: o.files.MaxFileSize, MaxFilesPerRoom: o.files.MaxFilesPerRoom,
			TokenTTL: o.files.TokenTTL, Now: o.files.Now, Logger: o.logger, Faults: o.faults}); err != nil {
			return fail(err)
		}
		if s.member != nil {
			// before the server joins the pool: the others find its
			// marker as soon as they see it live
			if err := s.files.MarkFolder(s.member.id); err != nil {
				return fail(err)
			}
			s.member.files = s.files
		}
	}
	cfg := channel.Config{
		Files:  s.files,
		Domain: o.domain, ServiceURIs: s.chanURIs, Store: s.st, Endpoint: s.ep,
		NoticeLimit: o.noticeLimit, NoticeDelay: o.noticeDelay, Logger: o.logger, Faults: o.faults, PostDelay: o.postDelay, ReplyDelay: o.replyDelay,
		MaxCommands: unlimited(lim.MaxCommands), MaxConnQueries: unlimited(lim.MaxConnQueries),
		MaxQueries: unlimited(lim.MaxQueries), MaxSessionsPerUser: unlimited(lim.MaxSessionsPerUser),
	}
	lcfg := lookup.Config{URI: s.lookupURI, Channels: s.chanURIs, Endpoint: s.ep, CancelWait: o.cancelWait, Logger: o.logger, Faults: o.faults,
		MaxDialogsPerUser: unlimited(lim.MaxSessionsPerUser), Policy: o.lookupPolicy}
	if s.member != nil {
		cfg.Pool = s.member
		lcfg.Directory = s.member
	}
	s.hub, err = channel.New(ctx, cfg)
	if err != nil {
		return fail(err)
	}
	s.lookup = lookup.New(lcfg)
	rooms, cats := o.rooms, o.categories
	if o.roomsFile != "" {
		rf, err := ReadRoomsFile(o.roomsFile)
		if err != nil {
			return fail(err)
		}
		rooms = append(rooms, rf.Rooms...)
		cats = append(cats, rf.Categories...)
	}
	if err := s.provisionCategories(ctx, cats); err != nil {
		return fail(err)
	}
	if err := s.provision(ctx, rooms); err != nil {
		return fail(err)
	}
	if s.member != nil {
		if err := s.member.start(ctx, s.hub); err != nil {
			s.member = nil // nothing to stop
			return fail(err)
		}
	}
	s.ready.Store(true)
	if o.tcp != "" && s.tcpAddr == nil {
		if s.tcpAddr, err = s.ep.ListenTCP(o.tcp); err != nil {
			return fail(err)
		}
	}
	if o.udp != "" {
		if s.udpAddr, err = s.ep.ListenUDP(o.udp); err != nil {
			return fail(err)
		}
	}
	if o.tlsAddr != "" {
		if s.tlsAddr, err = s.ep.ListenTLS(o.tlsAddr, o.tlsConfig); err != nil {
			return fail(err)
		}
	}
	if o.adminAddr != "" {
		if err := s.startAdmin(); err != nil {
			return fail(err)
		}
	}
	if s.files != nil {
		if err := s.startFiles(); err != nil {
			return fail(err)
		}
	}
	if o.compliance != nil {
		s.startExport(*o.compliance, o.complianceEvery)
	}
	return s, nil
}

// startFiles serves the web service for files: HTTPS when Files.TLS is
// set, else HTTP.
func (s *Server) startFiles() error {
	f := &s.o.files
	ln, err := net.Listen("tcp", f.Listen)
	if err != nil {
		return fmt.Errorf("refserver: files listen %s: %w", f.Listen, err)
	}
	// at most MaxFileConns connections at once: more wait in the backlog
	ln = netutil.LimitListener(ln, MaxFileConns)
	scheme := "http"
	if f.TLS != nil {
		ln = tls.NewListener(ln, f.TLS)
		scheme = "https"
	}
	s.filesAddr = ln.Addr()
	s.files.SetRooms(s.hub)
	s.files.SetBaseURL(scheme + "://" + s.filesAddr.String())
	// ReadTimeout bounds a half-sent upload; the body limit is the web
	// service's
	s.filesHTTP = &http.Server{Handler: s.files, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 5 * time.Minute, WriteTimeout: 5 * time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
	s.filesDone = make(chan struct{})
	go func() {
		defer close(s.filesDone)
		_ = s.filesHTTP.Serve(ln)
	}()
	return nil
}

// FilesURL is the web service's base URL ("" when file posts are off).
func (s *Server) FilesURL() string {
	if s.filesAddr == nil {
		return ""
	}
	return strings.TrimSuffix(s.files.FileURL(""), web.PathPrefix)
}

// startExport runs the compliance exporter until Close.
func (s *Server) startExport(o compliance.Options, every time.Duration) {
	if o.Domain == "" {
		o.Domain = s.o.domain
	}
	ctx, stop := context.WithCancel(context.Background())
	s.exportStop, s.exportDone = stop, make(chan struct{})
	names := func() map[string]string {
		m := map[string]string{}
		for _, r := range s.hub.Rooms() {
			m[r.ID] = r.Name
		}
		return m
	}
	go func() {
		defer close(s.exportDone)
		compliance.Run(ctx, s.st, names, o, every, s.log)
	}()
}

// startAdmin makes or writes the admin token and serves the admin API.
func (s *Server) startAdmin() error {
	o := &s.o
	s.adminToken = o.adminToken
	hint := ""
	if s.adminToken == "" {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("refserver: admin token: %w", err)
		}
		s.adminToken = base64.RawURLEncoding.EncodeToString(b[:])
		if o.adminTokenFile != "" {
			if err := writePrivate(o.adminTokenFile, []byte(s.adminToken+"\n")); err != nil {
				return fmt.Errorf("refserver: admin token file: %w", err)
			}
			hint = "the server wrote it to " + o.adminTokenFile
		}
	}
	ln, err := net.Listen("tcp", o.adminAddr)
	if err != nil {
		return fmt.Errorf("refserver: admin listen %s: %w", o.adminAddr, err)
	}
	s.adminAddr = ln.Addr()
	if s.AdminExposed() {
		s.log.Warn("refserver: the admin API listens beyond loopback: anyone who can reach it and has the token can change rooms", "addr", s.adminAddr.String())
	}
	h := admin.Handler(s.hub, func() any { return s.Stats() }, admin.Options{Token: s.adminToken, Addr: s.adminAddr.String(), TokenHint: hint, Accounts: s.auth.store})
	s.admin = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	s.adminDone = make(chan struct{})
	go func() {
		defer close(s.adminDone)
		_ = s.admin.Serve(ln)
	}()
	return nil
}

// writePrivate writes b to path readable and writable by its owner only:
// through a new file in the same folder, renamed over path, so no reader
// ever sees it with other permissions or half-written.
func writePrivate(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".admin-token-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// provision creates the rooms given at start, or updates them if they exist
// (a disabled flag is applied only when the spec disables the room).
// provisionCategories creates or replaces categories, parents first (a
// category whose parent comes later in the list waits for it).
func (s *Server) provisionCategories(ctx context.Context, cats []store.Category) error {
	done := map[string]bool{}
	for _, c := range s.hub.Categories() {
		done[c.ID] = true
	}
	left := cats
	for len(left) > 0 {
		var next []store.Category
		for _, c := range left {
			if c.Parent != "" && !done[c.Parent] && slices.ContainsFunc(left, func(o store.Category) bool { return o.ID == c.Parent }) {
				next = append(next, c) // its parent first
				continue
			}
			if _, err := s.hub.PutCategory(ctx, c); err != nil {
				return fmt.Errorf("refserver: provision category %q: %w", c.ID, err)
			}
			done[c.ID] = true
		}
		if len(next) == len(left) {
			return fmt.Errorf("refserver: provision categories: %q and the others left are each other's ancestors (a cycle)", next[0].ID)
		}
		left = next
	}
	return nil
}

func (s *Server) provision(ctx context.Context, rooms []store.Room) error {
	for _, r := range rooms {
		if _, err := s.hub.Room(r.ID); err == nil {
			if _, err := s.hub.UpdateRoom(ctx, r); err != nil {
				return fmt.Errorf("refserver: provision room %q: %w", r.ID, err)
			}
			if r.Disabled {
				if err := s.hub.SetDisabled(ctx, r.ID, true); err != nil {
					return fmt.Errorf("refserver: provision room %q: %w", r.ID, err)
				}
			}
			continue
		}
		disabled := r.Disabled
		if _, err := s.hub.CreateRoom(ctx, r); err != nil {
			return fmt.Errorf("refserver: provision room %q: %w", r.ID, err)
		}
		if disabled {
			if err := s.hub.SetDisabled(ctx, r.ID, true); err != nil {
				return fmt.Errorf("refserver: provision room %q: %w", r.ID, err)
			}
		}
	}
	return nil
}

// Close stops listening, ends sessions and closes the store (which first
// commits what was queued). It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *Server) close() error {
	if s.filesHTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.filesHTTP.Shutdown(ctx)
		cancel()
		_ = s.filesHTTP.Close()
		<-s.filesDone
	}
	if s.exportStop != nil {
		s.exportStop()
		<-s.exportDone
	}
	if s.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.admin.Shutdown(ctx)
		cancel()
		<-s.adminDone
	}
	if s.ep != nil {
		s.ep.Close()
	}
	if s.member != nil {
		s.member.stop()
	}
	if s.hub != nil {
		s.hub.Close()
	}
	if s.lookup != nil {
		s.lookup.Close()
	}
	if s.st != nil {
		return s.st.Close()
	}
	return nil
}

// ListenUDP adds a UDP listener after start (gcload serve binds UDP on the
// port TCP picked).
func (s *Server) ListenUDP(addr string) error {
	if s.udpAddr != nil {
		return fmt.Errorf("refserver: already listening on UDP %s", s.udpAddr)
	}
	a, err := s.ep.ListenUDP(addr)
	if err != nil {
		return err
	}
	s.udpAddr = a
	return nil
}

// Domain returns the SIP domain.
func (s *Server) Domain() string { return s.o.domain }

// LookupURI returns the lookup service URI, sip:ocschat@domain.
func (s *Server) LookupURI() string { return s.lookupURI }

// ChannelURIs returns the channel service URIs.
func (s *Server) ChannelURIs() []string { return append([]string(nil), s.chanURIs...) }

// TCPAddr returns the TCP listen address ("" when not listening).
func (s *Server) TCPAddr() string {
	if s.tcpAddr == nil {
		return ""
	}
	return s.tcpAddr.String()
}

// TLSAddr returns the TLS listen address ("" when not listening).
func (s *Server) TLSAddr() string {
	if s.tlsAddr == nil {
		return ""
	}
	return s.tlsAddr.String()
}

// Auth returns how the registrar authenticates users.
func (s *Server) Auth() Auth { return s.o.auth }

// TargetName returns the server's FQDN as its NTLM challenges name it.
func (s *Server) TargetName() string { return s.o.targetName }

// Accounts returns the server's account table (the admin API adds to it).
func (s *Server) Accounts() *accounts.Store { return s.auth.store }

// UDPAddr returns the UDP listen address ("" when not listening).
func (s *Server) UDPAddr() string {
	if s.udpAddr == nil {
		return ""
	}
	return s.udpAddr.String()
}

// AdminURL returns the admin API's base URL ("" when not serving).
func (s *Server) AdminURL() string {
	if s.adminAddr == nil {
		return ""
	}
	return "http://" + s.adminAddr.String()
}

// AdminToken returns the admin API's bearer token ("" when not serving).
func (s *Server) AdminToken() string { return s.adminToken }

// AdminExposed reports whether the admin API listens on an address other
// than loopback (other machines may reach it).
func (s *Server) AdminExposed() bool {
	if s.adminAddr == nil {
		return false
	}
	ap, err := netip.ParseAddrPort(s.adminAddr.String())
	return err != nil || !ap.Addr().IsLoopback()
}

// Hub returns the channel services' shared state (rooms and sessions).
func (s *Server) Hub() *channel.Hub { return s.hub }

// Stats are the server's counters.
type Stats struct {
	Registered int `json:"registered"`
	// RegisterLimited counts REGISTERs refused over MaxUsersPerConn.
	RegisterLimited uint64        `json:"register_limited"`
	Channel         channel.Stats `json:"channel"`
	Lookup          lookup.Stats  `json:"lookup"`
	Store           store.Stats   `json:"store"`
	SIP             sipnet.Stats  `json:"sip"`
	Conns           int           `json:"connections"`
	Files           *web.Stats    `json:"files,omitempty"`
	Auth            AuthStats     `json:"auth"`
	// Pool is the pool this server is one of (PostgreSQL), as it last
	// read the live servers.
	Pool *PoolStats `json:"pool,omitempty"`
}

// PoolStats say which pool a server is in.
type PoolStats struct {
	ID      string          `json:"id"` // this server's
	Servers []lookup.Server `json:"servers"`
}

// Stats returns counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Registered: s.reg.count(), RegisterLimited: s.reg.limited.Load(), Channel: s.hub.Stats(), Lookup: s.lookup.Stats(),
		Store: s.st.Stats(), SIP: s.ep.Stats(), Conns: s.ep.Conns(), Auth: s.auth.stats(),
		Files: s.filesStats(),
	}
	if s.member != nil {
		st.Pool = &PoolStats{ID: s.member.id, Servers: s.PoolServers()}
	}
	return st
}

// PoolID returns the server's ID in its pool ("" outside a pool).
func (s *Server) PoolID() string {
	if s.member == nil {
		return ""
	}
	return s.member.id
}

// PoolServers returns the live servers of the server's pool, by ID, as it
// last read them (itself included); nil outside a pool.
func (s *Server) PoolServers() []lookup.Server {
	if s.member == nil {
		return nil
	}
	return slices.Clone(s.member.Live())
}

func (s *Server) filesStats() *web.Stats {
	if s.files == nil {
		return nil
	}
	st := s.files.Stats()
	if s.member != nil {
		st.UnsharedServers = s.member.Unshared()
	}
	return &st
}

func (s *Server) connClosed(c *sipnet.Conn) {
	s.reg.connClosed(c)
	if !s.ready.Load() {
		return // no service had a session yet
	}
	s.hub.ConnClosed(c)
	s.lookup.ConnClosed(c)
}

// route dispatches a request to the registrar, the lookup service or the
// channel services.
func (s *Server) route(tx *sipnet.ServerTx) {
	m := tx.Msg
	if !s.ready.Load() {
		if m.Method != "ACK" {
			_ = tx.Respond(503, "Service Unavailable", ua.Warning("the server is starting"))
		}
		return
	}
	if m.Branch == "" && m.Method != "ACK" && s.o.faults.Has(fault.RequireBranch) {
		_ = tx.Respond(400, "Bad Request", ua.Warning("no Via branch"))
		return
	}
	switch m.Method {
	case "REGISTER":
		s.reg.register(tx)
		return
	case "OPTIONS":
		if s.o.faults.Has(fault.MismatchedResponse) {
			_ = tx.Conn.Write(optionsWrongCSeq(m))
			return
		}
		_ = tx.Respond(200, "OK", sipnet.Header{Name: "Allow", Value: allow})
		return
	}
	from, err := sipnet.AOR(m.From)
	if err != nil {
		if m.Method != "ACK" {
			_ = tx.Respond(400, "Bad Request", ua.Warning("From: "+err.Error()))
		}
		return
	}
	if !s.auth.verify(tx, s.reg.bindingOf(tx.Conn, false), from) {
		return // refused (the signature, or the user it authenticated)
	}
	if !s.reg.bound(tx.Conn, from) && !s.o.faults.Has(fault.NoIdentityBinding) {
		if m.Method != "ACK" {
			_ = tx.Respond(403, "Forbidden", ua.Warning(from+" is not registered on this connection"))
		}
		return
	}
	if m.ToTag != "" {
		if s.lookup.HandleInDialog(tx, from) || s.hub.HandleInDialog(tx, from) {
			return
		}
		if m.Method != "ACK" {
			s.noDialog(tx)
		}
		return
	}
	switch m.Method {
	case "SUBSCRIBE":
		s.subscribe(tx)
	case "INVITE":
		target, err := sipnet.AOR(m.RequestURI)
		switch {
		case err != nil:
			_ = tx.Respond(400, "Bad Request", ua.Warning("Request-URI: "+err.Error()))
		case target == s.lookupURI:
			s.lookup.HandleInvite(tx, from)
		case s.hub.IsService(target) || (s.member != nil && s.member.isService(target)):
			s.hub.HandleInvite(tx, from, target)
		default:
			_ = tx.Respond(404, "Not Found", ua.Warning("no service "+target+" here"))
		}
	case "ACK":
	case "BYE", "INFO", "UPDATE", "NOTIFY", "PRACK":
		s.noDialog(tx)
	default:
		_ = tx.Respond(405, "Method Not Allowed", sipnet.Header{Name: "Allow", Value: allow})
	}
}

const allow = "REGISTER, SUBSCRIBE, INVITE, ACK, CANCEL, BYE, INFO, UPDATE, OPTIONS"
