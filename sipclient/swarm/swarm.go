package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/target"
	"github.com/gcload/gcload/xccos"
)

// dispatchTick is the dispatcher's resolution: operations due within one
// tick of its last wake-up start together (at most 2,000 wake-ups a
// second, whatever the rate). At 200 µs the wake-ups and the one write
// per post each brought cost gcload a third more CPU than at 500 µs in
// bench/compare.sh (5,000 posts/s on one connection).
const dispatchTick = 500 * time.Microsecond

// fineWait is the last stretch before an operation's intended time that
// the dispatcher sleeps in the kernel (nanosleep, tens of microseconds
// late) rather than on a runtime timer: when the process is idle the
// runtime's timers fire up to a millisecond late (the netpoller sleeps in
// whole milliseconds), which a light load would see as the generator's
// own latency.
const fineWait = 2 * time.Millisecond

// preciseSleeps keeps the calling goroutine on its thread and asks the
// kernel to wake that thread on time (a timer slack of 1 ns instead of
// the default 50 µs, Linux's PR_SET_TIMERSLACK) for the dispatcher's
// sleeps; the returned function restores both.
func preciseSleeps() (restore func()) {
	const prSetTimerSlack, prGetTimerSlack = 29, 30
	runtime.LockOSThread()
	old, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0)
	if errno != 0 {
		return runtime.UnlockOSThread
	}
	syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1, 0)
	return func() {
		syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, old, 0)
		runtime.UnlockOSThread()
	}
}

// sleepUntil waits until t: on timer until fineWait before it, then
// (precise) in the kernel, and with spin the last spinWait checking the
// clock; without precise the timer alone. It reports false when ctx ended
// first.
func sleepUntil(ctx context.Context, timer *time.Timer, t time.Time, precise, spin bool) bool {
	locked := false
	for {
		wait := time.Until(t)
		if wait <= 0 {
			return true
		}
		if wait > fineWait || !precise {
			if precise {
				wait -= fineWait
			}
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
				return false
			}
			continue
		}
		if ctx.Err() != nil {
			return false
		}
		if !locked {
			// the kernel sleep's thread, for this wait only: a dispatcher
			// locked to its thread for the whole run made every wake-up,
			// timer ones included, a hand-off between threads (a quarter
			// more CPU in bench/compare.sh)
			defer preciseSleeps()()
			locked = true
		}
		if !spin {
			ts := syscall.NsecToTimespec(int64(wait))
			_ = syscall.Nanosleep(&ts, nil)
			continue
		}
		if wait <= spinWait {
			for time.Now().Before(t) {
			}
			return true
		}
		ts := syscall.NsecToTimespec(int64(wait - spinWait))
		_ = syscall.Nanosleep(&ts, nil) // interrupted: the loop sleeps the rest
	}
}

// spinWait is the very end of a wait, spent checking the clock: waking
// from a sleep costs tens of microseconds (more in a virtual machine).
// The dispatcher spins only when it slept for more than spinAfter (a
// light load, where the cost is nil and every microsecond shows in the
// latency); busier, a wake-up's lateness is shared by the operations it
// starts. It sleeps in the kernel only when its wake-ups are at least
// preciseAfter apart: more often, the process is busy enough that the
// runtime's timers are on time, and a kernel sleep per wake-up cost
// gcload a quarter more CPU in bench/compare.sh.
const (
	spinWait     = 60 * time.Microsecond
	spinAfter    = 2 * time.Millisecond
	preciseAfter = time.Millisecond
)

// Options configure a run.
type Options struct {
	// Target is the server under load: its lookup URI and the address
	// (Target.Server) users connect to. Its domain and admin API are not
	// used here (the plan's users are in the scenario's domain; rooms are
	// provisioned with Provision).
	Target   target.Target
	Shard    Shard
	Recorder *reports.Recorder
	// Start is the run's time zero on this machine's clock (shards of
	// one scenario share it); zero means shortly after Run is called.
	Start time.Time
	// ClockOffset is the run's reference clock minus this machine's: a
	// coordinated shard's measured offset from the coordinator's clock
	// (zero: this machine's clock is the reference). Every instant the
	// shard records (the accounting's send, acknowledgement, delivery
	// and membership times, the intervals, the errors, Outcome's Start
	// and End) or sends to other shards (a post marker's intended time)
	// is on the reference clock, so that shards whose clocks differ
	// merge exactly and a delivery's latency, measured on the receiving
	// shard from a time the sending shard wrote, is corrected by both
	// shards' offsets. Durations measured within the shard do not
	// change; Start and the dispatcher stay on this machine's clock.
	ClockOffset time.Duration
	// Tick is how often the run closes an interval and reports progress
	// (default 1s); OnTick receives a progress snapshot each time.
	Tick   time.Duration
	OnTick func(reports.Snapshot)
	Logger *slog.Logger
	// Archive, when set, is the compliance archive the run is checked
	// against at its end (Outcome.Compliance): every acknowledged post,
	// join, part and history view of this shard's users exactly once.
	Archive Archive
	// EmbeddedPool says the target is an embedded pool: server processes
	// of their own, although the scenario names no target (without it,
	// such a scenario's server runs in this process).
	EmbeddedPool bool
}

// Outcome is what a run measured, besides the recorder's histograms.
type Outcome struct {
	Data      *Data
	Accounted Accounted
	Users     reports.Users
	Generator reports.Generator
	Start     time.Time
	End       time.Time
	Aborted   bool
	SIP       sipnet.Stats
	// Stopped says why the run stopped before its scheduled end when it
	// was not interrupted (the target could not be reached, every early
	// sign-in failed, every session was lost); Unreachable marks the
	// first two.
	Stopped     string
	Unreachable bool
	// AbortReason says what stopped an aborted run (the caller's: an
	// interrupt, a deadline).
	AbortReason string
	// Phases are the phases as run, with what each did.
	Phases []reports.PhaseSummary
	// Checks counts, per conformance rule sipclient enforces on every
	// message, the messages it was checked on.
	Checks map[string]int64
	// Errors are the run's errors by kind (the recorder's).
	Errors []reports.ErrorKind
	// Compliance is the cross-check of the compliance archive (nil
	// without Options.Archive).
	Compliance *reports.Compliance
	// Servers counts what happened on each server (by where each user
	// was).
	Servers []reports.ServerCounts
}

// User states.
const (
	stOffline int32 = iota
	stSigning
	stOnline
	stFailed
	stLost
	stAway // lost its session, signing in again (scenario reconnect:)
)

type vuser struct {
	s      *Swarm
	idx    int32
	client *sipclient.Client
	state  atomic.Int32
	home   int          // the listed server it signs in to (idx mod servers)
	srv    atomic.Int32 // the server its channel session is on (s.srv)

	mu       sync.Mutex
	joined   map[int32]bool
	rejected map[uint64]bool // envids of posts the server refused
	posts    map[uint64]int32
}

// Swarm runs one shard of a plan.
type Swarm struct {
	plan   *Plan
	o      Options
	spec   *scenarios.Spec
	rec    *reports.Recorder
	acct   *accounting
	files  *fileState
	router *sipclient.Router
	setup  *sipclient.Setup // how users connect and sign in
	shared *sharedConns     // the shared connections (connections.model: shared)
	users  map[int32]*vuser
	t0     time.Time
	log    *slog.Logger
	// archive: what the compliance cross-check expects (nil without
	// Options.Archive)
	archive *archiveLog

	online, peak atomic.Int64
	lastSIP      sipnet.Stats  // what addSIPCounters last saw (ticker goroutine)
	inflight     atomic.Int64  // posts sent, not answered yet
	settled      chan struct{} // closed when inflight drops to 0 once the load stopped
	draining     atomic.Bool   // the load stopped: settled is to be closed at 0
	settleOnce   sync.Once
	signedIn     atomic.Int64
	failed       atomic.Int64
	signinErrs   atomic.Int64 // sign-ins that failed (not dropped)
	// fdErrs counts the connections this process could not open for lack
	// of file descriptors (EMFILE, ENFILE): the generator's own limit,
	// never the server's fault (judge names it)
	fdErrs, fdSystem atomic.Int64
	lost             atomic.Int64 // sessions lost
	finished         atomic.Bool  // the run is over: sessions ending now were not lost
	ops              sync.WaitGroup

	// stop ends the load early (the target cannot be reached, or went
	// away), with the reason as the cause; unreachable marks the first.
	stop        context.CancelCauseFunc
	unreachable atomic.Bool
	phases      []phaseCounts // by plan phase

	// the servers users are spread over (Target.Servers), and what
	// happened on each (those the users were sent to included)
	servers []string
	srv     serverTable
	// reconnections in progress (scenario reconnect:), ended by reconCancel;
	// none starts once reconDone is set
	recon       sync.WaitGroup
	reconMu     sync.Mutex
	reconDone   bool
	reconCtx    context.Context
	reconCancel context.CancelFunc
}

// Fail fast: the run stops, and is judged unreachable, when the first
// earlySignIns sign-ins (or all of them, if fewer) failed and none
// succeeded.
const earlySignIns = 10

// preflightTimeout bounds the connection attempt that checks the target
// is there before the run starts (with limits.timeout if shorter).
const preflightTimeout = 5 * time.Second

// phaseCounts counts what was done in a phase, by operation.
type phaseCounts struct {
	n [nPhaseOps]atomic.Int64
}

// The operations counted per phase, and their names in the summary.
const (
	pSignIn = iota
	pPost
	pDelivery
	pHistory
	pSearch
	pPart
	pJoin
	pUpload
	pDownload
	pMsgSearch
	pManage
	nPhaseOps
)

var phaseOpNames = [nPhaseOps]string{
	pSignIn: string(reports.OpSignIn), pPost: string(reports.OpPostAck), pDelivery: reports.CounterDeliveries,
	pHistory: string(reports.OpHistory), pSearch: string(reports.OpSearch), pPart: string(reports.OpPart), pJoin: string(reports.OpJoin),
	pUpload: string(reports.OpFileUpload), pDownload: string(reports.OpFileDownload), pMsgSearch: string(reports.OpMessageSearch),
	pManage: string(reports.OpManage),
}

// ErrUnreachable marks a run that stopped because the target could not
// be reached or no user could sign in (see Outcome.Unreachable).
var ErrUnreachable = errors.New("target unreachable")

// New prepares a run of one shard of p.
func New(p *Plan, o Options) (*Swarm, error) {
	if o.Recorder == nil {
		return nil, errors.New("swarm: no recorder")
	}
	if o.Target.Server() == "" {
		return nil, errors.New("swarm: no server address")
	}
	setup, err := sipclient.NewSetup(o.Target, p.Spec.Transport)
	if err != nil {
		return nil, err
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Shard.Of == 0 {
		o.Shard = Shard{Index: 1, Of: 1}
	}
	s := &Swarm{plan: p, o: o, spec: p.Spec, rec: o.Recorder, log: o.Logger, users: map[int32]*vuser{}, setup: setup}
	if o.Archive != nil {
		s.archive = newArchiveLog()
	}
	for _, srv := range o.Target.Servers {
		// the transport is the setup's (the first server's, or the
		// scenario's); the swarm knows its servers by HOST:PORT, as channel
		// URIs name them
		_, addr := target.SplitServer(srv)
		s.servers = append(s.servers, addr)
		s.srv.index(addr)
	}
	for u := range p.Users {
		if o.Shard.Owns(int32(u)) {
			v := &vuser{s: s, idx: int32(u), home: u % len(s.servers), joined: map[int32]bool{}, rejected: map[uint64]bool{}, posts: map[uint64]int32{}}
			v.srv.Store(int32(v.home))
			s.users[int32(u)] = v
		}
	}
	if len(s.users) == 0 {
		return nil, ErrEmptyShard
	}
	s.acct = newAccounting(p, o.Shard)
	s.files = newFileState()
	s.acct.completed = func(us int64) { s.rec.Record(reports.OpPostToLastDelivery, time.Duration(us)*time.Microsecond) }
	return s, nil
}

func (s *Swarm) flow(u int32) sipclient.Flow {
	switch s.spec.Lookup.Flow {
	case scenarios.FlowCancel:
		return sipclient.FlowCancel
	case scenarios.FlowMixed:
		if u%2 == 1 {
			return sipclient.FlowCancel
		}
	}
	return sipclient.FlowClient
}

// Run runs the shard. Cancelling ctx stops the load: no new operation
// starts, operations in flight finish, deliveries drain, and the results
// are still computed (Outcome.Aborted). Cancelling drain as well abandons
// the wait for deliveries.
//
// The run also stops by itself, and says why in Outcome.Stopped, when the
// target cannot be reached (a TCP connection to it is refused or times
// out before the run starts), when the first sign-ins all fail, or when
// every session that was open has been lost (the target went away).
func (s *Swarm) Run(ctx, drain context.Context) (*Outcome, error) {
	s.router = sipclient.NewRouter(sipclient.RouterOptions{Timeout: s.spec.Limits.Timeout.D(), Logger: s.log})
	defer func() {
		s.finished.Store(true) // the sessions the close below ends are not lost
		s.router.Close()
		s.files.http.CloseIdleConnections()
	}()
	ep := s.router.Endpoint()
	s.settled = make(chan struct{})
	s.phases = make([]phaseCounts, len(s.plan.Phases))
	load, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	s.stop = stop
	runStart := time.Now()
	if err := s.preflight(ctx); err != nil {
		if OutOfFiles(err) { // this process's limit, not the target's
			n := int64(1)
			if !errors.Is(err, syscall.ENFILE) {
				n = 0
			}
			return nil, fmt.Errorf("swarm: before the run started: %s", s.outOfFilesReason(1, n, s.inProcess()))
		}
		return s.unreachableOutcome(runStart, err), nil
	}
	if s.spec.Connections.Model == scenarios.Shared {
		// opened at the first sign-in on each (see sharedConns), and the
		// users' clients with them
		s.shared = newSharedConns(s, s.spec.Connections.Shared)
	} else {
		for _, u := range s.users {
			cfg, err := s.clientConfig(u, nil)
			if err != nil {
				return nil, err
			}
			c, err := sipclient.New(cfg)
			if err != nil {
				return nil, err
			}
			u.client = c
		}
	}
	s.reconCtx, s.reconCancel = context.WithCancel(load)
	defer s.reconCancel()
	s.t0 = s.o.Start
	if s.t0.IsZero() {
		s.t0 = time.Now().Add(100 * time.Millisecond)
	}
	for r, ops := range s.plan.PostOp {
		for idx, oi := range ops {
			s.acct.post(int32(r), int32(idx)).intended = s.ref(s.t0.Add(s.plan.Ops[oi].At)).UnixNano()
		}
	}
	var archiveFrom string
	var archiveErr error
	if s.o.Archive != nil {
		archiveFrom, archiveErr = s.o.Archive.ArchiveHead(ctx)
	}
	mon := newSelfMonitor(time.Now())
	tickDone := make(chan struct{})
	stopTick := make(chan struct{})
	go s.ticker(stopTick, tickDone, mon)

	s.dispatch(load)
	aborted := ctx.Err() != nil
	var stopped string
	if cause := context.Cause(load); !aborted && cause != nil && cause != context.Canceled {
		stopped = cause.Error()
	}
	s.ops.Wait()
	if stopped == "" {
		// posts still waiting for their answer (bounded by the SIP
		// timeout, and abandoned with the drain)
		s.draining.Store(true)
		if s.inflight.Load() == 0 {
			s.settleOnce.Do(func() { close(s.settled) })
		}
		t := time.NewTimer(s.spec.Limits.Timeout.D() + time.Second)
		select {
		case <-s.settled:
		case <-t.C:
		case <-drain.Done():
		}
		t.Stop()
		// drain: let deliveries in flight arrive
		if d := s.spec.Drain.D(); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-drain.Done():
			}
			t.Stop()
		}
	}
	// reconnections still trying give up; those done have caught up
	s.reconMu.Lock()
	s.reconDone = true
	s.reconMu.Unlock()
	s.reconCancel()
	s.recon.Wait()
	end := time.Now()
	// members still online keep open intervals: they were there for
	// every post's whole grace period
	data := s.acct.data()
	close(stopTick)
	<-tickDone
	g := mon.finish(end)
	out := &Outcome{
		Data: data, Aborted: aborted, Start: s.ref(s.t0), End: s.ref(end), Stopped: stopped, Unreachable: s.unreachable.Load(),
		Users: reports.Users{Planned: len(s.users), SignedIn: int(s.signedIn.Load()), Failed: int(s.failed.Load()), PeakOnline: int(s.peak.Load())},
	}
	out.Accounted = Account(s.plan, s.spec.Limits.PartGrace.D(), data)
	out.Generator = s.judge(g)
	if s.o.Archive != nil {
		if archiveErr != nil {
			out.Compliance = &reports.Compliance{Examples: []string{}, Error: fmt.Sprintf("reading the compliance archive's head before the run: %v", archiveErr)}
		} else {
			out.Compliance = s.checkArchive(drain, archiveFrom)
		}
	}
	if drain.Err() == nil && stopped == "" {
		s.signOut(drain)
	}
	// the last interval holds the sign-out too: every count recorded is in
	// an interval
	out.SIP = ep.Stats()
	s.addSIPCounters(out.SIP)
	s.rec.Tick(s.ref(time.Now()))
	out.Phases = s.phaseSummaries()
	out.Checks = s.router.Checks()
	out.Errors = s.rec.Errors()
	out.Servers = s.srv.counts(s.rec.Counters()[reports.CounterDeliveries])
	return out, nil
}

// inProcess reports whether the server runs in this process (the embedded
// reference server).
func (s *Swarm) inProcess() bool { return s.spec.Target.Lookup == "" && !s.o.EmbeddedPool }

// dialTimeout bounds one connection attempt.
func (s *Swarm) dialTimeout() time.Duration {
	return min(preflightTimeout, s.spec.Limits.Timeout.D())
}

// preflight checks that the target takes connections before anything is
// planned to start: a refused or timed-out TCP connection stops the run
// at once (UDP has no connection to check: early sign-ins tell).
func (s *Swarm) preflight(ctx context.Context) error {
	if s.setup.Transport == sipnet.UDP {
		return nil
	}
	d := net.Dialer{Timeout: s.dialTimeout()}
	for _, addr := range s.servers {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			if len(s.servers) > 1 {
				return fmt.Errorf("%s: %w", addr, err)
			}
			return err
		}
		c.Close()
	}
	return nil
}

// unreachableOutcome is the outcome of a run that could not start: the
// target could not be reached. The error is recorded as the run's error.
func (s *Swarm) unreachableOutcome(start time.Time, err error) *Outcome {
	now := time.Now()
	s.fail("connect", err)
	s.rec.Tick(s.ref(now))
	s.failed.Store(int64(len(s.users)))
	return &Outcome{
		Data: s.acct.data(), Start: s.ref(start), End: s.ref(now), Unreachable: true,
		Stopped:   fmt.Sprintf("cannot connect to %s: %v", strings.Join(s.servers, ", "), cleanErr(err)),
		Users:     reports.Users{Planned: len(s.users), Failed: len(s.users)},
		Generator: reports.Generator{Valid: true, EmbeddedServer: s.inProcess(), GOMAXPROCS: runtime.GOMAXPROCS(0)},
		Accounted: Account(s.plan, s.spec.Limits.PartGrace.D(), s.acct.data()),
		SIP:       s.router.Endpoint().Stats(),
		Checks:    s.router.Checks(),
		Errors:    s.rec.Errors(),
	}
}

// phaseSummaries returns each phase with the operations it completed and
// their rates over the phase's own duration.
func (s *Swarm) phaseSummaries() []reports.PhaseSummary {
	out := make([]reports.PhaseSummary, 0, len(s.plan.Phases))
	for i, ph := range s.plan.Phases {
		p := reports.PhaseSummary{Name: ph.Name, StartS: ph.Start.Seconds(), Seconds: (ph.End - ph.Start).Seconds(), Counts: map[string]int64{}}
		for k := range nPhaseOps {
			if n := s.phases[i].n[k].Load(); n > 0 {
				p.Counts[phaseOpNames[k]] = n
			}
		}
		p.Rates = reports.PhaseRates(p.Counts, p.Seconds)
		out = append(out, p)
	}
	return out
}

// phaseDone counts one operation k completed for the plan phase of time
// at (from the run's start).
func (s *Swarm) phaseDone(k int, at time.Duration) {
	for i := len(s.plan.Phases) - 1; i >= 0; i-- {
		if at >= s.plan.Phases[i].Start {
			s.phases[i].n[k].Add(1)
			return
		}
	}
}

// judge decides whether the generator, not the server, was the bottleneck.
func (s *Swarm) judge(g generatorStats) reports.Generator {
	lag := s.rec.Histogram(reports.OpSchedLag)
	out := reports.Generator{
		CPUSeconds: g.cpuSeconds, CPUUtilization: g.utilization, GoSchedP99: g.goSchedP99.Microseconds(),
		GCPauseTotal: g.gcPauseTotal, GCPauseMax: g.gcPauseMax, HeapPeakBytes: g.heapPeak,
		EmbeddedServer: s.inProcess(), GOMAXPROCS: g.procs, Valid: true,
	}
	if lag != nil && lag.TotalCount() > 0 {
		out.SchedLagP99 = lag.ValueAtQuantile(99)
	}
	var reasons []string
	if out.SchedLagP99 > (100 * time.Millisecond).Microseconds() {
		reasons = append(reasons, fmt.Sprintf("the generator started operations late: scheduling lag p99 %s (limit 100ms)", time.Duration(out.SchedLagP99)*time.Microsecond))
	}
	if g.goSchedP99 > 50*time.Millisecond {
		who := "the generator's process"
		if out.EmbeddedServer {
			who = "the machine (the embedded server and the generator share it)"
		}
		reasons = append(reasons, fmt.Sprintf("%s was CPU-saturated: Go run-queue latency p99 %s (limit 50ms)", who, g.goSchedP99.Round(time.Millisecond)))
	}
	if !out.EmbeddedServer && g.utilization > 0.9 {
		reasons = append(reasons, fmt.Sprintf("generator CPU at %.0f%% of %d cores (limit 90%%)", 100*g.utilization, g.procs))
	}
	wall := s.plan.Duration.Seconds()
	if wall > 0 && g.gcPauseTotal/wall > 0.05 {
		reasons = append(reasons, fmt.Sprintf("GC pauses took %.1f%% of the run (limit 5%%)", 100*g.gcPauseTotal/wall))
	}
	if n := s.fdErrs.Load(); n > 0 {
		reasons = append(reasons, s.outOfFilesReason(n, s.fdSystem.Load(), out.EmbeddedServer))
	}
	if len(reasons) > 0 {
		out.Valid, out.InvalidReasons = false, reasons
	}
	return out
}

// CauseOutOfFiles is the cause (Cause) of an operation that could not open
// a connection for lack of file descriptors.
const CauseOutOfFiles = "out of file descriptors"

// OutOfFiles reports whether err is a lack of file descriptors: this
// process's limit (EMFILE) or the system's (ENFILE).
func OutOfFiles(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// outOfFilesReason says why a run whose generator ran out of file
// descriptors (n connections not opened, sys of them for the system's
// limit) is invalid: the limit is the generator's, not the server's.
func (s *Swarm) outOfFilesReason(n, sys int64, embedded bool) string {
	what := fmt.Sprintf("%s connections could not be opened", reports.FormatCount(n))
	if sys == n {
		return fmt.Sprintf("out of file descriptors: the system's open-file table is full (ENFILE); %s: raise fs.file-max or spread the load over more machines", what)
	}
	limit := "the open-file limit"
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil {
		limit = fmt.Sprintf("limit %s per process", reports.FormatCount(int64(rl.Cur)))
	}
	hint := "use more shards (gcload run --shard or --coordinator, docs/distributed.md), each with fewer users"
	if embedded {
		hint = "the embedded server's connections share this process's descriptors; run the server apart (gcload serve) and " + hint
	}
	return fmt.Sprintf("out of file descriptors: %s, %s (RLIMIT_NOFILE) of this generator's process; %s", what, limit, hint)
}

// ticker closes intervals and reports progress.
func (s *Swarm) ticker(stop, done chan struct{}, mon *selfMonitor) {
	defer close(done)
	t := time.NewTicker(s.o.Tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			mon.sample()
			s.addSIPCounters(s.router.Endpoint().Stats())
			s.rec.Gauge("users_online", float64(s.online.Load()))
			s.rec.Tick(s.ref(now))
			if s.o.OnTick != nil {
				snap := s.rec.Snapshot(s.ref(now))
				snap.Elapsed = now.Sub(s.t0)
				snap.UsersOnline = int(s.online.Load())
				snap.UsersPlanned = len(s.users)
				snap.Phase = s.phaseAt(now.Sub(s.t0))
				s.o.OnTick(snap)
			}
		}
	}
}

// addSIPCounters adds to the recorder what the endpoint counted since the
// last call (answers by status code, timeouts, retransmissions), so that
// the intervals show when they happened. Called by the ticker, then once
// after it stopped.
func (s *Swarm) addSIPCounters(st sipnet.Stats) {
	for code, n := range st.Responses {
		if d := int64(n - s.lastSIP.Responses[code]); d > 0 {
			s.rec.Add("sip."+strconv.Itoa(code), d)
		}
	}
	s.rec.Add(reports.CounterTimeouts, int64(st.Timeouts-s.lastSIP.Timeouts))
	s.rec.Add(reports.CounterRetransmits, int64(st.Retransmissions-s.lastSIP.Retransmissions))
	s.rec.Add(reports.CounterLateReplies, int64(st.LateResponses-s.lastSIP.LateResponses))
	s.lastSIP = st
}

func (s *Swarm) phaseAt(d time.Duration) string {
	for _, ph := range s.plan.Phases {
		if d >= ph.Start && d < ph.End {
			return ph.Name
		}
	}
	if d >= s.plan.Duration {
		return "drain"
	}
	return "start"
}

// dispatch starts every operation of the shard at its intended time; it
// reports whether ctx stopped it early.
func (s *Swarm) dispatch(ctx context.Context) bool {
	sem := make(chan struct{}, s.spec.Limits.Concurrency)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// Posts due together go out together: the dispatcher wakes at most
	// once per tick and sends every post then due in one write per
	// connection (their latency counts the wait, from the intended time).
	var batch sipnet.Batch
	defer batch.Flush()
	var lastWake time.Time
	for i := range s.plan.Ops {
		op := &s.plan.Ops[i]
		if !s.o.Shard.Owns(op.User) {
			continue
		}
		due := s.t0.Add(op.At)
		if time.Until(due) > 0 {
			batch.Flush()
			wake := due
			if next := lastWake.Add(dispatchTick); wake.Before(next) {
				wake = next
			}
			gap := wake.Sub(lastWake)
			if !sleepUntil(ctx, timer, wake, gap >= preciseAfter, gap > spinAfter) {
				return true
			}
			lastWake = time.Now()
		}
		if op.Kind == KindPost && !op.File {
			// a post does not wait for its answer: the dispatcher sends it
			// and the connection's reader accounts for the answer
			s.postNow(op, due, &batch)
			continue
		}
		batch.Flush()
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return true
		}
		s.ops.Add(1)
		go func() {
			defer func() { <-sem; s.ops.Done() }()
			s.run(op, due)
		}()
	}
	// wait for the end of the last phase
	batch.Flush()
	if wait := time.Until(s.t0.Add(s.plan.Duration)); wait > 0 {
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			return true
		}
	}
	return ctx.Err() != nil
}

// run performs one operation.
func (s *Swarm) run(op *Op, due time.Time) {
	start := time.Now()
	lag := start.Sub(due)
	s.rec.Record(reports.OpSchedLag, max(lag, 0))
	u := s.users[op.User]
	if lag > s.spec.Limits.MaxLag.D() {
		s.rec.Add(reports.CounterDropped, 1)
		s.rec.Add("dropped."+op.Kind.String(), 1)
		if op.Kind == KindPost {
			s.acct.post(op.Room, op.Index).status.Store(postDropped)
		}
		if op.Kind == KindSignIn {
			u.state.Store(stFailed)
			s.failed.Add(1)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.spec.Limits.Timeout.D())
	defer cancel()
	switch op.Kind {
	case KindSignIn:
		if s.signIn(ctx, u, due, start) {
			s.phaseDone(pSignIn, op.At)
		}
	case KindHistory:
		if !s.ready(u, op.Room) {
			return
		}
		_, err := u.client.History(ctx, s.plan.Rooms[op.Room].URI, s.phaseSpec(op).History.Last)
		s.archive.note(kindBackchat, u.idx, []int32{op.Room}, err)
		s.done(u, reports.OpHistory, reports.OpHistoryService, due, start, err, op, pHistory)
	case KindSearch:
		if !s.isOnline(u) {
			return
		}
		_, err := u.client.SearchRooms(ctx, s.phaseSpec(op).Search.Criteria)
		s.done(u, reports.OpSearch, reports.OpSearchService, due, start, err, op, pSearch)
	case KindPart:
		if !s.ready(u, op.Room) {
			return
		}
		s.acct.left(u.idx, op.Room, s.ref(time.Now()))
		u.mu.Lock()
		delete(u.joined, op.Room)
		u.mu.Unlock()
		err := u.client.Part(ctx, s.plan.Rooms[op.Room].URI)
		s.archive.note(kindPart, u.idx, []int32{op.Room}, err)
		s.done(u, reports.OpPart, reports.OpPartService, due, start, err, op, pPart)
	case KindPost: // a file post (text posts go through postNow)
		s.upload(ctx, u, op, due, start)
	case KindDownload:
		s.download(ctx, u, op, due, start)
	case KindMsgSearch:
		s.msgSearch(ctx, u, op, due, start)
	case KindManage:
		s.manage(ctx, u, op, due, start)
	case KindRejoin:
		if !s.isOnline(u) {
			return
		}
		res, err := u.client.Join(ctx, s.plan.Rooms[op.Room].URI)
		s.done(u, reports.OpJoin, "", due, start, err, op, pJoin)
		if err == nil {
			s.markJoined(u, res, s.ref(time.Now()))
		} else {
			s.archive.note(kindJoin, u.idx, []int32{op.Room}, err)
		}
	}
}

func (s *Swarm) phaseSpec(op *Op) *scenarios.Phase { return &s.spec.Phases[op.Phase] }

// ready reports whether u is online in room; otherwise the operation is
// counted as skipped.
func (s *Swarm) ready(u *vuser, room int32) bool {
	if u.state.Load() == stOnline {
		u.mu.Lock()
		ok := u.joined[room]
		u.mu.Unlock()
		if ok {
			return true
		}
	}
	s.skip(u)
	return false
}

// online reports whether u is online; otherwise the operation is counted
// as skipped.
func (s *Swarm) isOnline(u *vuser) bool {
	if u.state.Load() == stOnline {
		return true
	}
	s.skip(u)
	return false
}

// skip counts an operation u could not do: skipped, or skipped_offline
// while u signs in again after a lost session.
func (s *Swarm) skip(u *vuser) {
	if u.state.Load() == stAway {
		s.rec.Add(reports.CounterSkippedOffline, 1)
		return
	}
	s.rec.Add(reports.CounterSkipped, 1)
}

// done records an operation's response time from its intended time due
// and its service time (svc, unless "") from its actual start, or its
// error; it counts the operation in its phase (k) when it succeeded.
func (s *Swarm) done(u *vuser, op, svc reports.Op, due, start time.Time, err error, o *Op, k int) {
	if err != nil {
		s.at(u).errors.Add(1)
		s.fail(string(op), err)
		return
	}
	now := time.Now()
	s.rec.Record(op, now.Sub(due))
	if svc != "" {
		s.rec.Record(svc, now.Sub(start))
	}
	s.phaseDone(k, o.At)
}

// fail counts a failed operation: in the errors counters (errors,
// errors.<what>, errors.<what>.<cause>), as an error of its kind (the
// first of each kept with its message), and as a timeout when the reply
// it waited for did not come in time (a SIP transaction's own timeout is
// counted by the endpoint).
func (s *Swarm) fail(what string, err error) {
	cause := Cause(err)
	if cause == CauseOutOfFiles {
		s.fdErrs.Add(1)
		if errors.Is(err, syscall.ENFILE) {
			s.fdSystem.Add(1)
		}
		s.rec.Add(reports.CounterOutOfFiles, 1)
	}
	s.rec.Add(reports.CounterErrors, 1)
	s.rec.Add("errors."+what, 1)
	s.rec.Add("errors."+what+"."+causeSlug(cause), 1)
	if errors.Is(err, sipclient.ErrReplyTimeout) {
		s.rec.Add(reports.CounterTimeouts, 1)
	}
	s.rec.Error(what, cause, cleanErr(err).Error(), s.ref(time.Now()))
	s.log.Debug("operation failed", "op", what, "err", err)
}

// Cause names the cause of an operation's error, for grouping errors by
// kind: "authentication failed", "out of file descriptors", "connection refused", "connection reset", "connection closed",
// "connect timeout", "timeout", "SIP 503", "XCCOS 403", "session ended",
// "not signed in" or "other".
func Cause(err error) string {
	var se *sipclient.StatusError
	var re *sipclient.ReplyError
	var ae *sipclient.AuthError
	var ne net.Error
	switch {
	case errors.As(err, &ae):
		return "authentication failed"
	case OutOfFiles(err):
		return CauseOutOfFiles
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.As(err, &se):
		return "SIP " + strconv.Itoa(se.Code)
	case errors.As(err, &re):
		return "XCCOS " + strconv.Itoa(re.Code)
	case errors.Is(err, sipnet.ErrTimeout), errors.Is(err, sipclient.ErrReplyTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.As(err, &ne) && ne.Timeout():
		return "connect timeout"
	case errors.Is(err, sipnet.ErrClosed), errors.Is(err, io.EOF), errors.Is(err, sipnet.ErrOverflow):
		return "connection closed"
	case errors.Is(err, sipclient.ErrSessionEnded):
		return "session ended"
	case errors.Is(err, sipclient.ErrNotSignedIn), errors.Is(err, sipclient.ErrNoChannel):
		return "not signed in"
	}
	return "other"
}

// causeSlug turns a cause into a counter name part: "SIP 503" is sip_503.
func causeSlug(cause string) string {
	return strings.ReplaceAll(strings.ToLower(cause), " ", "_")
}

// cleanErr drops the package prefixes ("sipclient: ", "sipnet: ") from an
// error's message, for people.
func cleanErr(err error) error {
	msg := err.Error()
	for _, p := range []string{"sipclient: ", "sipnet: ", "swarm: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return errors.New(msg)
}

// signIn signs a user in (REGISTER, provisioning), looks up a channel
// service, opens the channel session and joins the user's rooms; it
// reports whether the user is online. start is when the operation
// actually started (due its intended time).
func (s *Swarm) signIn(ctx context.Context, u *vuser, due, start time.Time) bool {
	u.state.Store(stSigning)
	fail := func(what string, err error) bool {
		u.state.Store(stFailed)
		s.failed.Add(1)
		s.at(u).errors.Add(1)
		s.rec.Add(reports.CounterSignInFailed, 1)
		s.fail(what, err)
		if OutOfFiles(err) {
			// the generator's own limit: the server is not to blame, and
			// the users that do get a descriptor still run (judge says
			// why the run is invalid)
			return false
		}
		if n := s.signinErrs.Add(1); s.signedIn.Load() == 0 && n >= int64(min(earlySignIns, len(s.users))) {
			var ae *sipclient.AuthError
			if errors.As(err, &ae) {
				// the server is there and refuses the credentials: a
				// failed run, not an unreachable target
				s.stop(fmt.Errorf("the first %d sign-ins failed and none succeeded: the server refuses the credentials (the last: %s: %v)", n, what, cleanErr(err)))
			} else {
				s.unreachable.Store(true)
				s.stop(fmt.Errorf("%w: the first %d sign-ins failed and none succeeded (the last: %s: %v)", ErrUnreachable, n, what, cleanErr(err)))
			}
		}
		return false
	}
	if u.client == nil {
		// shared connections: the user's client is made now, on its
		// connection (opened by the first user to sign in on it)
		conn, err := s.shared.get(ctx, s.servers[u.home], int(u.idx))
		if err != nil {
			return fail("connect", err)
		}
		cfg, err := s.clientConfig(u, conn)
		if err != nil {
			return fail("register", err)
		}
		if u.client, err = sipclient.New(cfg); err != nil {
			return fail("register", err)
		}
	}
	c := u.client
	t := time.Now()
	if err := c.SignIn(ctx); err != nil {
		return fail("register", err)
	}
	s.rec.Record(reports.OpRegister, time.Since(t))
	uri := s.spec.Lookup.Channel
	if s.spec.Lookup.Flow != scenarios.FlowDirect {
		t = time.Now()
		var err error
		if uri, err = c.Lookup(ctx, s.flow(u.idx)); err != nil {
			return fail("lookup", err)
		}
		s.rec.Record(reports.OpLookup, time.Since(t))
	}
	t = time.Now()
	if err := c.OpenChannel(ctx, uri); err != nil {
		return fail("channel_invite", err)
	}
	now := time.Now()
	u.srv.Store(s.srv.index(c.Server()))
	s.at(u).users.Add(1)
	s.rec.Record(reports.OpChannelInvite, now.Sub(t))
	s.rec.Record(reports.OpSignIn, now.Sub(due))
	s.rec.Record(reports.OpSignInService, now.Sub(start))
	u.state.Store(stOnline)
	s.signedIn.Add(1)
	for n, p := s.online.Add(1), s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	rooms := s.plan.UserRoom[u.idx]
	if len(rooms) == 0 {
		return true
	}
	uris := make([]string, len(rooms))
	for i, r := range rooms {
		uris[i] = s.plan.Rooms[r].URI
	}
	t = time.Now()
	res, err := c.Join(ctx, uris...)
	if err != nil {
		s.archive.note(kindJoin, u.idx, rooms, err)
		s.at(u).errors.Add(1)
		s.fail("join", err)
		return true
	}
	s.rec.Record(reports.OpJoin, time.Since(t))
	s.markJoined(u, res, s.ref(time.Now()))
	if len(res.Rooms) < len(rooms) {
		s.rec.Add(reports.CounterErrors, 1)
		s.rec.Add("errors.join.partial", 1)
		s.rec.Error("join", "partial", fmt.Sprintf("%s joined %d of its %d rooms", u.client.User(), len(res.Rooms), len(rooms)), s.ref(time.Now()))
	}
	return true
}

func (s *Swarm) markJoined(u *vuser, res *sipclient.JoinResult, at time.Time) {
	for _, ch := range res.Rooms {
		r := s.plan.RoomIndex(ch.URI)
		if r < 0 {
			continue
		}
		s.archive.note(kindJoin, u.idx, []int32{r}, nil)
		u.mu.Lock()
		u.joined[r] = true
		u.mu.Unlock()
		s.acct.joined(u.idx, r, at)
	}
}

// postNow sends one planned post, unless it is too late to: the answer is
// accounted for on the connection's reader goroutine.
func (s *Swarm) postNow(op *Op, due time.Time, batch *sipnet.Batch) {
	now := time.Now()
	lag := now.Sub(due)
	s.rec.Record(reports.OpSchedLag, max(lag, 0))
	ps := s.acct.post(op.Room, op.Index)
	if lag > s.spec.Limits.MaxLag.D() {
		s.rec.Add(reports.CounterDropped, 1)
		s.rec.Add("dropped.post", 1)
		ps.status.Store(postDropped)
		return
	}
	u := s.users[op.User]
	if !s.ready(u, op.Room) {
		ps.status.Store(postSkipped)
		return
	}
	// the intended time on the reference clock: the recipients, on any
	// shard, measure the delivery's latency from it
	m := marker{room: op.Room, index: op.Index, shard: int32(max(s.o.Shard.Index, 1)), floor: s.acct.floor(op.Room), intended: s.ref(due).UnixMicro()}
	text := string(appendPostText(make([]byte, 0, op.Size+64), s.plan.RunTag, m, int(op.Size)))
	envid := u.client.NextEnvID()
	slot := s.acct.base[op.Room] + op.Index
	u.mu.Lock()
	u.posts[envid] = slot // before sending: the refusal may come at once
	u.mu.Unlock()
	s.inflight.Add(1)
	ps.sent.Store(s.ref(now).UnixNano())
	author := u.client.User()
	if op.Spoof {
		author = s.forgedAuthor(op)
		s.rec.Add(reports.CounterSpoofedSent, 1)
	}
	err := u.client.SendChatBatch(batch, envid, xccos.Chat{ChanURI: s.plan.Rooms[op.Room].URI, Author: author, TS: now, Text: text, Story: op.Story},
		func(status int, err error) { s.posted(u, ps, envid, op, due, now, status, err) })
	if err != nil {
		s.posted(u, ps, envid, op, due, now, 0, err)
	}
}

// forgedAuthor is who a spoofed post claims to be from: the next member
// of its room after the poster (another user when the room has one).
func (s *Swarm) forgedAuthor(op *Op) string {
	ms := s.plan.Rooms[op.Room].Members
	for i, m := range ms {
		if m == op.User && len(ms) > 1 {
			return s.plan.Users[ms[(i+1)%len(ms)]]
		}
	}
	return s.plan.Users[(int(op.User)+1)%len(s.plan.Users)]
}

// posted accounts for a post's answer: its response time from due, its
// service time from sent.
func (s *Swarm) posted(u *vuser, ps *postStat, envid uint64, op *Op, due, sent time.Time, status int, err error) {
	defer func() {
		if s.inflight.Add(-1) == 0 && s.draining.Load() {
			s.settleOnce.Do(func() { close(s.settled) })
		}
	}()
	if err == nil && status != 200 {
		err = &sipclient.StatusError{Method: "INFO", Code: status, Reason: "answer to a post"}
	}
	if err != nil {
		ps.status.Store(postFailed)
		u.mu.Lock()
		delete(u.posts, envid)
		u.mu.Unlock()
		s.at(u).errors.Add(1)
		s.fail("post", err)
		return
	}
	now := time.Now()
	ps.acked.Store(s.ref(now).UnixNano())
	u.mu.Lock()
	rejected := u.rejected[envid]
	delete(u.rejected, envid)
	u.mu.Unlock()
	if rejected {
		ps.status.Store(postRejected)
		return
	}
	// a refusal arriving after this (rpl:grpchat follows the 200) flips
	// the status through u.posts
	ps.status.CompareAndSwap(postPending, postAcked)
	s.rec.Record(reports.OpPostAck, now.Sub(due))
	s.rec.Record(reports.OpPostAckService, now.Sub(sent))
	s.rec.Add(reports.CounterPosts, 1)
	s.at(u).posts.Add(1)
	s.acct.ackedLive(op.Room, ps)
	s.phaseDone(pPost, op.At)
}

// event handles what the server sends a user: deliveries are accounted on
// the connection's reader goroutine, without allocating a goroutine or a
// timer.
func (u *vuser) event(e sipclient.Event) {
	s := u.s
	switch e.Kind {
	case sipclient.Delivery:
		s.rec.Add(reports.CounterDeliveries, 1)
		if s.srv.multi.Load() {
			s.at(u).deliveries.Add(1)
		}
		// the marker's intended time is on the reference clock (the
		// sender added its offset): the arrival goes there with this
		// shard's
		at := s.ref(e.At)
		if intended, sent, ok := s.acct.delivery(u.idx, e.Chat.Author, e.Chat.Text, at); ok {
			in := time.UnixMicro(intended)
			if e.Chat.File != nil {
				// a file post: its latency counts the upload
				s.rec.Record(reports.OpFilePostToDelivery, at.Sub(in))
				s.filePostDelivered(e.Chat)
			} else {
				s.rec.Record(reports.OpPostToDelivery, at.Sub(in))
			}
			if sent != 0 && e.Chat.File == nil {
				s.rec.Record(reports.OpPostToDeliveryService, at.Sub(time.Unix(0, sent)))
			}
			s.phaseDone(pDelivery, in.Sub(s.ref(s.t0)))
		}
	case sipclient.LateReply:
		s.rec.Add(reports.CounterLateReplies, 1)
	case sipclient.Joined, sipclient.Parted:
		s.rec.Add(reports.CounterNotices, 1)
	case sipclient.Rejected:
		s.rec.Add(reports.CounterRejectedPosts, 1)
		u.mu.Lock()
		slot, ok := u.posts[e.EnvID]
		delete(u.posts, e.EnvID)
		if !ok || s.acct.posts[slot].acked.Load() == 0 {
			u.rejected[e.EnvID] = true // posted, when the 200 comes, sees it
		}
		u.mu.Unlock()
		if ok {
			s.acct.posts[slot].status.Store(postRejected)
		}
	case sipclient.Breach:
		s.rec.Add(reports.CounterViolations, 1)
		s.rec.Add("violations."+e.Violation.Rule, 1)
	case sipclient.Ended:
		next := stLost
		if s.spec.Reconnect != nil {
			next = stAway
		}
		if !s.finished.Load() && u.state.CompareAndSwap(stOnline, next) {
			online := s.online.Add(-1)
			lost := s.lost.Add(1)
			s.rec.Add(reports.CounterSessionsLost, 1)
			s.at(u).lost.Add(1)
			s.rec.Error("session", "lost", e.Text, s.ref(e.At))
			u.mu.Lock()
			for r := range u.joined {
				s.acct.left(u.idx, r, s.ref(e.At))
			}
			clear(u.joined)
			u.mu.Unlock()
			if online == 0 && lost == s.signedIn.Load() {
				s.stop(fmt.Errorf("the target went away %s into the run: every session was lost (%d)", e.At.Sub(s.t0).Round(time.Second), lost))
				return
			}
			if next == stAway && !s.startReconnect(u, e.At) {
				u.state.Store(stLost) // the run is ending
			}
		}
	}
}

// signOut ends every session (BYE, unREGISTER), a bounded number at once.
func (s *Swarm) signOut(ctx context.Context) {
	sem := make(chan struct{}, 256)
	var wg sync.WaitGroup
	defer wg.Wait() // ctx ending stops starting sign-outs, never the wait for those started
	for _, u := range s.users {
		if u.state.Load() != stOnline {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			_ = u.client.Close(cctx)
			s.online.Add(-1)
		}()
	}
}

// SIPStats returns the swarm's SIP endpoint counters so far (bytes and
// messages on the wire, responses by status): zero before Run, and
// callable from OnTick.
func (s *Swarm) SIPStats() sipnet.Stats {
	if s.router == nil {
		return sipnet.Stats{}
	}
	return s.router.Endpoint().Stats()
}
