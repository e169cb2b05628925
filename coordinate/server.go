package coordinate

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Defaults of Options left zero.
const (
	DefaultReadyTimeout      = 10 * time.Minute
	DefaultStartLead         = 3 * time.Second
	DefaultHeartbeatInterval = time.Second
	DefaultHeartbeatTimeout  = 10 * time.Second
	// DefaultLostGrace: three default heartbeat intervals
	DefaultLostGrace = 3 * DefaultHeartbeatInterval
)

// State is where a shard is in the run.
type State string

// A shard's states, in order; Done and Dead are final.
const (
	StateMissing    State = "missing"    // not registered
	StateRegistered State = "registered" // registered, measuring its clock
	StateReady      State = "ready"      // clock measured, waiting for the start
	StateRunning    State = "running"    // the start was handed out
	StateDone       State = "done"       // its results were received
	StateDead       State = "dead"       // declared dead: see Shard.Dead
)

func (s State) final() bool { return s == StateDone || s == StateDead }

// Errors of Run and the client.
var (
	// ErrBarrier: not every shard was ready in time (a *BarrierError says
	// which were missing and why).
	ErrBarrier = errors.New("coordinate: not every shard was ready in time")
	// ErrAborted: the run was aborted before its start (Server.Abort).
	ErrAborted = errors.New("coordinate: the run was aborted")
)

// Options configure a Server.
type Options struct {
	// Shards is the number of shards of the run, N (shards 1/N to N/N).
	Shards int
	// ScenarioHash identifies the scenario (with its overrides) the run
	// is for; a shard that registers with another is refused. See
	// HashScenario.
	ScenarioHash string
	// Version is gcload's version; a shard of another version is refused
	// (the plan is derived by the code). Empty skips the check.
	Version string
	// Dir receives each shard's results as Dir/shard-I (created if
	// missing; it must not already hold shard results).
	Dir string
	// Token, when set, must be presented by shards to register
	// ("Authorization: Bearer TOKEN").
	Token string
	// TLSConfig, when set, makes the server speak HTTPS.
	TLSConfig *tls.Config
	// ReadyTimeout bounds the wait for every shard to be ready, from
	// Run's start (default 10 minutes: a cluster pulls images and
	// schedules pods).
	ReadyTimeout time.Duration
	// StartLead is how far after the last shard became ready the shared
	// start is (default 3s): every shard must hear of the start before it.
	StartLead time.Duration
	// HeartbeatInterval is how often shards report (default 1s);
	// HeartbeatTimeout how long a running shard may stay silent before it
	// is declared dead (default 10s); LostGrace how long after one of a
	// shard's connections closed it may stay silent (a shard whose process
	// died loses every connection at once; default 3 heartbeat intervals).
	HeartbeatInterval, HeartbeatTimeout, LostGrace time.Duration
	// ResultsTimeout is how long after the start every shard's results
	// must have arrived (the run's planned duration, its drain, and the
	// time to write and send the results); required.
	ResultsTimeout time.Duration
	// Limits bound one shard's upload (DefaultLimits where zero).
	Limits Limits
	// CheckResults, when set, vets the results folder received from shard
	// index before it is accepted (for instance by reading it back and
	// checking it is that shard's); an error refuses the upload, and the
	// shard is told why.
	CheckResults func(index int, dir string) error
	// Clock is the coordinator's clock (default time.Now): every offset is
	// relative to it and the start is on it.
	Clock func() time.Time
	// Logger receives the run's events (default: discarded).
	Logger *slog.Logger
}

// Shard is what the coordinator knows of one shard.
type Shard struct {
	Index int   `json:"index"`
	State State `json:"state"`
	// Host and Version are what the shard said at registration; Addr is
	// the address its registration came from.
	Host       string    `json:"host,omitempty"`
	Version    string    `json:"version,omitempty"`
	Addr       string    `json:"addr,omitempty"`
	Registered time.Time `json:"registered,omitzero"`
	LastSeen   time.Time `json:"last_seen,omitzero"`
	// Offset is the shard's clock offset measured before the start;
	// EndOffset the one measured before it sent its results (nil when it
	// did not).
	Offset    *Offset `json:"offset,omitempty"`
	EndOffset *Offset `json:"end_offset,omitempty"`
	// Dir is the shard's received results folder; Files and Bytes its
	// size.
	Dir   string `json:"dir,omitempty"`
	Files int    `json:"files,omitempty"`
	Bytes int64  `json:"bytes,omitempty"`
	// Dead says why the shard was declared dead (empty when it was not):
	// it stopped sending heartbeats, lost its connection, sent no results
	// in time, or gave up.
	Dead   string    `json:"dead,omitempty"`
	DeadAt time.Time `json:"dead_at,omitzero"`
}

// Outcome is a run as the coordinator saw it.
type Outcome struct {
	Shards []Shard `json:"shards"` // index order, 1 to N
	// Start is the shared start on the coordinator's clock (zero when the
	// run never started).
	Start time.Time `json:"start,omitzero"`
	// Aborted is the reason given to Server.Abort, if it was called.
	Aborted string `json:"aborted,omitempty"`
}

// Dirs returns the received results folders, by shard index.
func (o *Outcome) Dirs() map[int]string {
	m := map[int]string{}
	for _, s := range o.Shards {
		if s.Dir != "" {
			m[s.Index] = s.Dir
		}
	}
	return m
}

// Dead returns the shards declared dead, in index order.
func (o *Outcome) Dead() []Shard {
	var d []Shard
	for _, s := range o.Shards {
		if s.State == StateDead {
			d = append(d, s)
		}
	}
	return d
}

// MaxUncertainty returns the largest clock-offset uncertainty of the
// shards, before or after the run.
func (o *Outcome) MaxUncertainty() time.Duration {
	var m time.Duration
	for _, s := range o.Shards {
		for _, off := range []*Offset{s.Offset, s.EndOffset} {
			if off != nil {
				m = max(m, off.Uncertainty)
			}
		}
	}
	return m
}

// Missing is a shard that was not ready when the barrier gave up.
type Missing struct {
	Index int
	Why   string
}

// BarrierError is Run's error when not every shard was ready within
// ReadyTimeout; it wraps ErrBarrier.
type BarrierError struct {
	Ready, Shards int
	Timeout       time.Duration
	Missing       []Missing
}

func (e *BarrierError) Error() string {
	parts := make([]string, len(e.Missing))
	for i, m := range e.Missing {
		parts[i] = fmt.Sprintf("shard %d/%d %s", m.Index, e.Shards, m.Why)
	}
	return fmt.Sprintf("coordinate: %d of %d shards ready after %v; missing: %s", e.Ready, e.Shards, e.Timeout, strings.Join(parts, "; "))
}

func (e *BarrierError) Unwrap() error { return ErrBarrier }

// shard is a shard's state on the server.
type shard struct {
	Shard
	session string
	lostAt  time.Time
	// lastTag is the connection the shard was last heard on: only its
	// close makes the shard suspect (a killed process closes it; an older
	// keep-alive connection closed for idleness says nothing)
	lastTag    *connTag
	lostAddr   string
	issued     [32][2]int64 // clock exchanges handed out: (t1, t2)
	nextIssued int
	uploading  bool
	uploadErr  string
	reported   string // the state in its last heartbeat
	told       bool   // it heard it was declared dead
}

// Server is the coordinator's end of the protocol. Create it with
// NewServer, serve with Run.
type Server struct {
	opts Options
	lim  Limits
	log  *slog.Logger

	mu         sync.Mutex
	shards     []*shard
	sessions   map[string]*shard
	superseded map[string]string // old sessions: why they no longer count
	begin      time.Time
	start      time.Time
	abort      string
	ran        bool
	startCh    chan struct{} // closed at the start
	endCh      chan struct{} // closed when the run ends before its start
	endErr     error
	doneCh     chan struct{} // closed when every shard is done or dead
	done       bool
	conns      map[net.Conn]*connTag
}

type connTag struct {
	addr  string
	shard int // 1-based, 0 until an authenticated request came on it
}

type connKey struct{}

// NewServer checks the options and prepares the results folder.
func NewServer(opts Options) (*Server, error) {
	switch {
	case opts.Shards < 1:
		return nil, fmt.Errorf("coordinate: %d shards: want at least 1", opts.Shards)
	case opts.Dir == "":
		return nil, errors.New("coordinate: no folder for the shards' results")
	case opts.ResultsTimeout <= 0:
		return nil, errors.New("coordinate: no results timeout (the run's duration, drain and upload time)")
	}
	if opts.ReadyTimeout <= 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.StartLead <= 0 {
		opts.StartLead = DefaultStartLead
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if opts.LostGrace <= 0 {
		opts.LostGrace = 3 * opts.HeartbeatInterval
	}
	if opts.HeartbeatTimeout < 2*opts.HeartbeatInterval {
		return nil, fmt.Errorf("coordinate: heartbeat timeout %v is under two intervals of %v", opts.HeartbeatTimeout, opts.HeartbeatInterval)
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("coordinate: results folder: %w", err)
	}
	if old, _ := filepath.Glob(filepath.Join(opts.Dir, "shard-*")); len(old) > 0 {
		return nil, fmt.Errorf("coordinate: %s already holds shard results (%s): give an empty folder", opts.Dir, filepath.Base(old[0]))
	}
	s := &Server{
		opts: opts, lim: opts.Limits.withDefaults(), log: log,
		sessions: map[string]*shard{}, superseded: map[string]string{},
		startCh: make(chan struct{}), endCh: make(chan struct{}), doneCh: make(chan struct{}),
		conns: map[net.Conn]*connTag{},
	}
	for i := range opts.Shards {
		s.shards = append(s.shards, &shard{Shard: Shard{Index: i + 1, State: StateMissing}})
	}
	return s, nil
}

func (s *Server) now() time.Time { return s.opts.Clock() }

// Handler returns the protocol's HTTP handler (Run serves it; it is
// exported for a caller that serves it itself, behind its own server).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathHealth, s.handleHealth)
	mux.HandleFunc("POST "+PathRegister, s.handleRegister)
	mux.HandleFunc("POST "+PathClock, s.authed(s.handleClock))
	mux.HandleFunc("POST "+PathReady, s.authed(s.handleReady))
	mux.HandleFunc("GET "+PathStart, s.authed(s.handleStart))
	mux.HandleFunc("POST "+PathHeartbeat, s.authed(s.handleHeartbeat))
	mux.HandleFunc("POST "+PathOffset, s.authed(s.handleOffset))
	mux.HandleFunc("PUT "+PathResults, s.authed(s.handleResults))
	mux.HandleFunc("POST "+PathFail, s.authed(s.handleFail))
	return mux
}

// Run serves the protocol on ln (HTTPS with Options.TLSConfig) until every
// shard sent its results or was declared dead, and returns what happened.
// It returns early with a *BarrierError when not every shard was ready
// within ReadyTimeout, with ErrAborted when Abort was called before the
// start, and with ctx's error when ctx ends; the Outcome is set in every
// case. Run may be called once; it closes ln.
func (s *Server) Run(ctx context.Context, ln net.Listener) (*Outcome, error) {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return nil, errors.New("coordinate: Run called twice")
	}
	s.ran = true
	s.begin = s.now()
	s.mu.Unlock()
	if s.opts.TLSConfig != nil {
		ln = tls.NewListener(ln, s.opts.TLSConfig)
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * s.opts.HeartbeatTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			tag := &connTag{addr: c.RemoteAddr().String()}
			s.mu.Lock()
			s.conns[c] = tag
			s.mu.Unlock()
			return context.WithValue(ctx, connKey{}, tag)
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				s.connClosed(c)
			}
		},
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	s.log.Info("coordinator listening", "addr", ln.Addr().String(), "shards", s.opts.Shards)

	tick := min(s.opts.HeartbeatInterval, s.opts.LostGrace) / 4
	ticker := time.NewTicker(max(tick, 5*time.Millisecond))
	defer ticker.Stop()
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			runErr = ctx.Err()
			break loop
		case <-s.doneCh:
			break loop
		case <-s.endCh:
			s.mu.Lock()
			runErr = s.endErr
			s.mu.Unlock()
			break loop
		case <-ticker.C:
			s.check(s.now())
		}
	}
	if runErr == nil || errors.Is(runErr, ErrAborted) || errors.Is(runErr, ErrBarrier) {
		s.endRun(runErr)
		s.farewell()
	}
	// Let requests in flight finish (a long poll answers at once now that
	// the run ended), within a bound.
	grace := 5 * time.Second
	if ctx.Err() != nil {
		grace = time.Second
	}
	s.endRun(runErr)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) && runErr == nil {
		runErr = fmt.Errorf("coordinate: serving: %w", err)
	}
	return s.Outcome(), runErr
}

// farewell keeps serving, for at most two heartbeat intervals, until
// every shard declared dead while it was still heard from has been told so
// by its next request (it then stops its load instead of finding the
// coordinator gone).
func (s *Server) farewell() {
	deadline := time.Now().Add(2*s.opts.HeartbeatInterval + 100*time.Millisecond)
	for time.Now().Before(deadline) {
		now := s.now()
		s.mu.Lock()
		waiting := false
		ended := s.start.IsZero() // the run ended before its start
		for _, sh := range s.shards {
			heard := sh.lostAt.IsZero() && now.Sub(sh.LastSeen) < s.opts.HeartbeatTimeout
			if sh.State == StateDead && !sh.told && heard {
				waiting = true
			}
			// a shard waiting for the start is told the run will not start
			if ended && !sh.State.final() && !sh.told && heard {
				waiting = true
			}
		}
		s.mu.Unlock()
		if !waiting {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// endRun closes endCh (waking long polls) if the run ended otherwise.
func (s *Server) endRun(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.endCh:
	default:
		if err == nil {
			err = errors.New("coordinate: the run is over")
		}
		s.endErr = err
		close(s.endCh)
	}
}

// Abort asks the shards to stop their load and send the results they
// have. Before the start it ends the run (Run returns ErrAborted).
func (s *Server) Abort(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.abort != "" {
		return
	}
	s.abort = reason
	s.log.Warn("run aborted", "reason", reason)
	if s.start.IsZero() {
		select {
		case <-s.endCh:
		default:
			s.endErr = fmt.Errorf("%w before its start: %s", ErrAborted, reason)
			close(s.endCh)
		}
	}
}

// Outcome returns what the coordinator knows now (Run returns it at the
// end).
func (s *Server) Outcome() *Outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &Outcome{Start: s.start, Aborted: s.abort}
	for _, sh := range s.shards {
		c := sh.Shard
		if c.Offset != nil {
			v := *c.Offset
			c.Offset = &v
		}
		if c.EndOffset != nil {
			v := *c.EndOffset
			c.EndOffset = &v
		}
		o.Shards = append(o.Shards, c)
	}
	return o
}

// check declares silent shards dead, gives up on the barrier, and ends
// the run when every shard is done or dead. Called on every tick.
func (s *Server) check(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.start.IsZero() {
		s.tryStart(now)
		if s.start.IsZero() && now.Sub(s.begin) >= s.opts.ReadyTimeout {
			s.failBarrier(now)
		}
		return
	}
	for _, sh := range s.shards {
		if sh.State.final() {
			continue
		}
		switch {
		case !sh.lostAt.IsZero() && now.Sub(sh.lostAt) >= s.opts.LostGrace:
			s.kill(sh, now, fmt.Sprintf("connection lost: %s closed at %s and no word from the shard within %v", sh.lostAddr, clock(sh.lostAt), s.opts.LostGrace))
		case now.Sub(sh.LastSeen) >= s.opts.HeartbeatTimeout:
			s.kill(sh, now, fmt.Sprintf("no heartbeat for %v (last at %s)", s.opts.HeartbeatTimeout, clock(sh.LastSeen)))
		case now.Sub(s.start) >= s.opts.ResultsTimeout:
			why := fmt.Sprintf("results not received within %v of the start", s.opts.ResultsTimeout)
			if sh.uploadErr != "" {
				why += "; its last upload was refused: " + sh.uploadErr
			}
			s.kill(sh, now, why)
		}
	}
	s.checkDone()
}

func clock(t time.Time) string { return t.UTC().Format("15:04:05.000") }

// kill declares a shard dead (s.mu held).
func (s *Server) kill(sh *shard, now time.Time, why string) {
	if sh.State.final() {
		return
	}
	sh.State, sh.Dead, sh.DeadAt = StateDead, why, now
	s.log.Warn("shard dead", "shard", sh.Index, "host", sh.Host, "why", why)
	s.checkDone()
}

// checkDone ends the run once every shard is done or dead (s.mu held).
func (s *Server) checkDone() {
	if s.done || s.start.IsZero() {
		return
	}
	for _, sh := range s.shards {
		if !sh.State.final() {
			return
		}
	}
	s.done = true
	close(s.doneCh)
}

// stale reports whether a shard that registered looks gone: one of its
// connections closed longer than LostGrace ago, or it has been silent
// longer than HeartbeatTimeout (s.mu held).
func (s *Server) stale(sh *shard, now time.Time) string {
	switch {
	case sh.State == StateMissing || sh.State.final():
		return ""
	case !sh.lostAt.IsZero() && now.Sub(sh.lostAt) >= s.opts.LostGrace:
		return fmt.Sprintf("connection from %s lost at %s", sh.lostAddr, clock(sh.lostAt))
	case now.Sub(sh.LastSeen) >= s.opts.HeartbeatTimeout:
		return fmt.Sprintf("silent since %s", clock(sh.LastSeen))
	}
	return ""
}

// tryStart hands out the start once every shard is ready and none looks
// gone (s.mu held).
func (s *Server) tryStart(now time.Time) {
	if !s.start.IsZero() || s.abort != "" {
		return
	}
	for _, sh := range s.shards {
		if sh.State != StateReady || s.stale(sh, now) != "" {
			return
		}
	}
	s.start = now.Add(s.opts.StartLead)
	for _, sh := range s.shards {
		sh.State = StateRunning
	}
	s.log.Info("every shard ready", "start", s.start.UTC().Format(time.RFC3339Nano), "max_uncertainty", s.maxUncertainty())
	close(s.startCh)
}

func (s *Server) maxUncertainty() time.Duration {
	var m time.Duration
	for _, sh := range s.shards {
		if sh.Offset != nil {
			m = max(m, sh.Offset.Uncertainty)
		}
	}
	return m
}

// failBarrier ends the run before its start, naming the missing shards
// (s.mu held).
func (s *Server) failBarrier(now time.Time) {
	e := &BarrierError{Shards: s.opts.Shards, Timeout: s.opts.ReadyTimeout}
	for _, sh := range s.shards {
		gone := s.stale(sh, now)
		var why string
		switch {
		case sh.State == StateMissing:
			why = "never registered"
		case sh.State == StateRegistered:
			why = fmt.Sprintf("registered from %s (%s) at %s but never ready", sh.Host, sh.Addr, clock(sh.Registered))
		case gone != "":
			why = fmt.Sprintf("ready from %s (%s), then %s", sh.Host, sh.Addr, gone)
		default:
			e.Ready++
			continue
		}
		if gone != "" && sh.State == StateRegistered {
			why += ", " + gone
		}
		e.Missing = append(e.Missing, Missing{Index: sh.Index, Why: why})
	}
	s.log.Error("barrier timed out", "err", e.Error())
	select {
	case <-s.endCh:
	default:
		s.endErr = e
		close(s.endCh)
	}
}

// connClosed notes that a connection closed; if a shard used it and is
// not finished, the shard is suspected lost until it is heard from again.
func (s *Server) connClosed(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tag := s.conns[c]
	delete(s.conns, c)
	if tag == nil || tag.shard == 0 {
		return
	}
	sh := s.shards[tag.shard-1]
	if sh.State.final() || sh.State == StateMissing || !sh.lostAt.IsZero() || sh.lastTag != tag {
		return
	}
	sh.lostAt, sh.lostAddr = s.now(), tag.addr
}

// ---- HTTP handlers

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func refuse(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, errorResponse{Error: fmt.Sprintf(format, args...)})
}

// decode reads a bounded JSON body into v, refusing unknown fields and
// trailing data.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			refuse(w, http.StatusRequestEntityTooLarge, "request body over %d bytes", maxJSON)
		} else {
			refuse(w, http.StatusBadRequest, "bad request body: %v", err)
		}
		return false
	}
	if dec.More() {
		refuse(w, http.StatusBadRequest, "bad request body: data after the JSON value")
		return false
	}
	return true
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if t, ok := strings.CutPrefix(h, "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	return ""
}

// authed resolves the request's session to its shard and notes that the
// shard was heard from.
func (s *Server) authed(h func(http.ResponseWriter, *http.Request, *shard)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		now := s.now()
		s.mu.Lock()
		sh := s.sessions[tok]
		if sh == nil {
			why, old := s.superseded[tok]
			s.mu.Unlock()
			if old {
				refuse(w, http.StatusGone, "%s", why)
			} else {
				refuse(w, http.StatusUnauthorized, "unknown session: register first (%s)", PathRegister)
			}
			return
		}
		if sh.State == StateDead {
			why := sh.Dead
			sh.told = true
			s.mu.Unlock()
			refuse(w, http.StatusGone, "shard %d was declared dead: %s", sh.Index, why)
			return
		}
		sh.LastSeen, sh.lostAt = now, time.Time{}
		if tag, ok := r.Context().Value(connKey{}).(*connTag); ok {
			tag.shard, sh.lastTag = sh.Index, tag
		}
		s.mu.Unlock()
		h(w, r, sh)
	}
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	h := Health{Shards: s.opts.Shards, States: map[State]int{}, Started: !s.start.IsZero()}
	if h.Started {
		st := s.start
		h.Start = &st
	}
	for _, sh := range s.shards {
		h.States[sh.State]++
		if sh.State == StateMissing {
			h.Missing = append(h.Missing, sh.Index)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, h)
}

// printable reports whether a shard-given string is safe to log and show.
func printable(v string, maxLen int) bool {
	if len(v) > maxLen {
		return false
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) {
	if s.opts.Token != "" && subtle.ConstantTimeCompare([]byte(bearer(r)), []byte(s.opts.Token)) != 1 {
		refuse(w, http.StatusUnauthorized, "registration needs this run's token (Authorization: Bearer TOKEN)")
		return
	}
	var req registerRequest
	if !decode(w, r, &req) {
		return
	}
	switch {
	case !printable(req.Host, 253) || !printable(req.Version, 100) || !printable(req.ScenarioHash, 128):
		refuse(w, http.StatusBadRequest, "host, version or scenario hash too long or not printable")
		return
	case req.Index < 1 || req.Index > s.opts.Shards:
		refuse(w, http.StatusConflict, "shard index %d is out of range: this run has %d shards (1 to %d)", req.Index, s.opts.Shards, s.opts.Shards)
		return
	case req.Of != 0 && req.Of != s.opts.Shards:
		refuse(w, http.StatusConflict, "shard %d/%d: this run has %d shards, not %d", req.Index, req.Of, s.opts.Shards, req.Of)
		return
	case req.ScenarioHash != s.opts.ScenarioHash:
		refuse(w, http.StatusConflict, "shard %d (%s) runs another scenario: its hash is %s, the coordinator's %s (every shard must run the coordinator's scenario file with the same overrides)", req.Index, req.Host, short(req.ScenarioHash), short(s.opts.ScenarioHash))
		return
	case s.opts.Version != "" && req.Version != s.opts.Version:
		refuse(w, http.StatusConflict, "shard %d (%s) runs gcload %s, the coordinator %s (the plan is derived by the code: every shard must run the coordinator's version)", req.Index, req.Host, req.Version, s.opts.Version)
		return
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shards[req.Index-1]
	switch {
	case !s.start.IsZero():
		refuse(w, http.StatusConflict, "the run started at %s: shard %d cannot join it late", s.start.UTC().Format(time.RFC3339Nano), req.Index)
		return
	case s.abort != "":
		refuse(w, http.StatusGone, "the run was aborted: %s", s.abort)
		return
	case sh.State != StateMissing && s.stale(sh, now) == "" && sh.lostAt.IsZero():
		refuse(w, http.StatusConflict, "shard %d is already registered from %s (%s), last heard from %v ago", req.Index, sh.Host, sh.Addr, now.Sub(sh.LastSeen).Round(time.Millisecond))
		return
	}
	if sh.session != "" {
		delete(s.sessions, sh.session)
		s.superseded[sh.session] = fmt.Sprintf("superseded: shard %d registered again from %s at %s", req.Index, req.Host, clock(now))
		s.log.Warn("shard replaced", "shard", req.Index, "old_host", sh.Host, "new_host", req.Host)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	*sh = shard{Shard: Shard{Index: req.Index, State: StateRegistered, Host: req.Host, Version: req.Version, Addr: r.RemoteAddr, Registered: now, LastSeen: now}, session: tok}
	s.sessions[tok] = sh
	if tag, ok := r.Context().Value(connKey{}).(*connTag); ok {
		tag.shard, sh.lastTag = sh.Index, tag
	}
	s.log.Info("shard registered", "shard", req.Index, "host", req.Host, "addr", r.RemoteAddr, "version", req.Version)
	writeJSON(w, http.StatusOK, registerResponse{
		Session: tok, Shards: s.opts.Shards,
		HeartbeatMS: s.opts.HeartbeatInterval.Milliseconds(), HeartbeatTimeoutMS: s.opts.HeartbeatTimeout.Milliseconds(),
	})
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return "(none)"
	}
	return h
}

func (s *Server) handleClock(w http.ResponseWriter, r *http.Request, sh *shard) {
	t1 := s.now()
	var req clockRequest
	if !decode(w, r, &req) {
		return
	}
	t2 := s.now()
	s.mu.Lock()
	sh.issued[sh.nextIssued%len(sh.issued)] = [2]int64{t1.UnixNano(), t2.UnixNano()}
	sh.nextIssued++
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, clockResponse{T0: req.T0, T1: t1.UnixNano(), T2: t2.UnixNano()})
}

// offset checks a reported sample against the exchanges handed out and
// computes the offset from it (s.mu held).
func (s *Server) offset(sh *shard, ws wireSample) (Offset, error) {
	found := false
	for _, p := range sh.issued {
		if p[0] == ws.T1 && p[1] == ws.T2 && p[0] != 0 {
			found = true
			break
		}
	}
	if !found {
		return Offset{}, errors.New("the sample's t1 and t2 are not those of a recent clock exchange of this shard")
	}
	smp := Sample{T0: time.Unix(0, ws.T0), T1: time.Unix(0, ws.T1), T2: time.Unix(0, ws.T2), T3: time.Unix(0, ws.T3)}
	off, err := Estimate([]Sample{smp})
	if err != nil {
		return Offset{}, fmt.Errorf("the sample's round trip is negative (t0 %d, t3 %d)", ws.T0, ws.T3)
	}
	off.Samples = max(ws.Samples, 1)
	return off, nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request, sh *shard) {
	var req offsetRequest
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh.State != StateRegistered && sh.State != StateReady {
		refuse(w, http.StatusConflict, "shard %d is %s, not waiting for the start", sh.Index, sh.State)
		return
	}
	off, err := s.offset(sh, req.Sample)
	if err != nil {
		refuse(w, http.StatusBadRequest, "clock sample refused: %v", err)
		return
	}
	sh.Offset, sh.State = &off, StateReady
	s.log.Info("shard ready", "shard", sh.Index, "host", sh.Host, "offset", off.Offset, "uncertainty", off.Uncertainty)
	s.tryStart(s.now())
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) handleStart(w http.ResponseWriter, r *http.Request, sh *shard) {
	t := time.NewTimer(pollWindow)
	defer t.Stop()
	select {
	case <-s.startCh:
		s.mu.Lock()
		resp := startResponse{Start: s.start}
		if sh.Offset != nil {
			resp.Offset = *sh.Offset
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, resp)
	case <-s.endCh:
		s.mu.Lock()
		err := s.endErr
		sh.told = true
		s.mu.Unlock()
		refuse(w, http.StatusGone, "the run will not start: %v", err)
	case <-t.C:
		writeJSON(w, http.StatusAccepted, struct{}{})
	case <-r.Context().Done():
	}
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request, sh *shard) {
	var req heartbeatRequest
	if !decode(w, r, &req) {
		return
	}
	if !printable(req.State, 32) {
		refuse(w, http.StatusBadRequest, "bad state")
		return
	}
	s.mu.Lock()
	sh.reported = req.State
	resp := heartbeatResponse{Abort: s.abort}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleOffset(w http.ResponseWriter, r *http.Request, sh *shard) {
	var req offsetRequest
	if !decode(w, r, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	off, err := s.offset(sh, req.Sample)
	if err != nil {
		refuse(w, http.StatusBadRequest, "clock sample refused: %v", err)
		return
	}
	sh.EndOffset = &off
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) handleFail(w http.ResponseWriter, r *http.Request, sh *shard) {
	var req failRequest
	if !decode(w, r, &req) {
		return
	}
	msg := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return ' '
	}, req.Error)
	if len(msg) > 1000 {
		msg = msg[:1000] + "…"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh.State == StateDone {
		refuse(w, http.StatusConflict, "shard %d's results were received already", sh.Index)
		return
	}
	s.kill(sh, s.now(), "the shard gave up: "+msg)
	sh.told = true
	if s.start.IsZero() {
		// before the start, a failed shard may be replaced: free its slot
		delete(s.sessions, sh.session)
		s.superseded[sh.session] = "shard gave up: " + msg
		*sh = shard{Shard: Shard{Index: sh.Index, State: StateMissing}}
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) handleResults(w http.ResponseWriter, r *http.Request, sh *shard) {
	s.mu.Lock()
	switch {
	case s.start.IsZero():
		s.mu.Unlock()
		refuse(w, http.StatusConflict, "the run has not started: no results yet")
		return
	case sh.State == StateDone:
		s.mu.Unlock()
		refuse(w, http.StatusConflict, "shard %d's results were received already", sh.Index)
		return
	case sh.uploading:
		s.mu.Unlock()
		refuse(w, http.StatusConflict, "shard %d's results are being received on another request", sh.Index)
		return
	}
	sh.uploading = true
	s.mu.Unlock()
	files, size, dir, err := s.receive(w, r, sh.Index)
	s.mu.Lock()
	defer s.mu.Unlock()
	sh.uploading = false
	if err == nil && sh.State == StateDead {
		os.RemoveAll(dir)
		err = fmt.Errorf("shard %d was declared dead while sending: %s", sh.Index, sh.Dead)
	}
	if err != nil {
		code := http.StatusBadRequest
		switch {
		case errors.Is(err, ErrTooLarge):
			code = http.StatusRequestEntityTooLarge
		case sh.State == StateDead:
			code = http.StatusGone
		case !errors.Is(err, ErrBadArchive):
			code = http.StatusUnprocessableEntity
		}
		sh.uploadErr = err.Error()
		s.log.Warn("results refused", "shard", sh.Index, "err", err)
		refuse(w, code, "shard %d's results refused: %v", sh.Index, err)
		return
	}
	sh.State, sh.Dir, sh.Files, sh.Bytes, sh.uploadErr = StateDone, dir, files, size, ""
	s.log.Info("results received", "shard", sh.Index, "files", files, "bytes", size, "dir", dir)
	s.checkDone()
	writeJSON(w, http.StatusOK, uploadResponse{Files: files, Bytes: size})
}

// receive unpacks an upload into a staging folder, vets it, and moves it
// to Dir/shard-I.
func (s *Server) receive(w http.ResponseWriter, r *http.Request, index int) (files int, size int64, dir string, err error) {
	staging, err := os.MkdirTemp(s.opts.Dir, fmt.Sprintf(".incoming-shard-%d-*", index))
	if err != nil {
		return 0, 0, "", err
	}
	body := http.MaxBytesReader(w, r.Body, s.lim.Compressed)
	files, size, err = ExtractArchive(body, staging, s.lim)
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		err = fmt.Errorf("%w: the upload is over %d bytes", ErrTooLarge, s.lim.Compressed)
	}
	if err == nil && files == 0 {
		err = fmt.Errorf("%w: no files", ErrBadArchive)
	}
	if err == nil && s.opts.CheckResults != nil {
		if cerr := s.opts.CheckResults(index, staging); cerr != nil {
			err = fmt.Errorf("not a results folder: %w", cerr)
		}
	}
	if err == nil {
		dir = filepath.Join(s.opts.Dir, fmt.Sprintf("shard-%d", index))
		err = os.Rename(staging, dir)
	}
	if err != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		os.RemoveAll(staging)
		return 0, 0, "", err
	}
	return files, size, dir, nil
}
