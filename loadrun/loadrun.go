// Package loadrun is a whole load test as a library call: Run takes a
// scenario and a target, starts the embedded reference server or
// provisions the target's rooms, drives the swarm with a Recorder,
// measures the server and the generator, accounts every delivery, judges
// the thresholds and returns the Result, written as a results folder
// (and report.html) when asked. Merge recomputes one Result from the
// results folders of a run's shards with the same assembly. gcload run,
// gcload merge and gcload calibrate are flag parsing around these calls.
//
// The verdict is the Result's (reports.Decide); the caller maps it to an
// exit code. Errors in what the caller gave (the scenario, the options)
// satisfy errors.Is(err, ErrInput).
package loadrun

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/refserver/embedded"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipclient/swarm"
	"github.com/gcload/gcload/target"
)

// Options configure a run. The zero Options run one shard of one against
// the scenario's target (the embedded reference server when it names
// none), write nothing and show nothing.
type Options struct {
	// Target is where the load goes: the fields it sets replace those of
	// the scenario's target section (spec.Target), and the admin token
	// comes only from here. With no server in either, the embedded
	// reference server runs in-process. The users are in the scenario's
	// domain (target.domain): a Target.Domain that differs is an error.
	Target target.Target
	// Shard is the shard of the plan to run (zero: 1/1). Shards need a
	// shared server: the embedded one cannot be sharded.
	Shard swarm.Shard
	// Start is the run's time zero on this machine's clock (time.Now),
	// shared by the shards of one run (zero: shortly after the load
	// starts).
	Start time.Time
	// Clock, when set, is this shard's clock measured against a
	// coordinator's (gcload run --coordinator): every instant the run
	// records is put on the coordinator's clock (swarm.Options.ClockOffset),
	// so that the shards' results merge exactly and cross-shard delivery
	// latencies are corrected, and the offset is recorded in
	// summary.json ("clock").
	Clock *Clock
	// Join, when set, is called once the run is ready to start (the plan
	// made, the embedded server started or the rooms provisioned) and
	// gives the start and the clock, replacing Start and Clock: a
	// coordinated shard joins its coordinator's barrier there, so that
	// the time its preparation takes (a large plan, provisioning) is not
	// taken from the short lead between the shared start and its
	// announcement. Its error ends the run (Run returns it).
	Join func(ctx context.Context) (start time.Time, clock *Clock, err error)
	// Output says what is written at the end.
	Output Output
	// Tick is the interval of the time series, the progress snapshots
	// and the measurement's samples (default 1s).
	Tick time.Duration
	// Observer follows the run live (nil: nobody).
	Observer Observer
	// MetricsAddr, when set, serves live Prometheus metrics at
	// http://MetricsAddr/metrics during the run (Info.MetricsURL).
	MetricsAddr string
	// Logger logs the components' events (nil: nothing).
	Logger *slog.Logger
	// Now is the clock the recorder starts from (nil: time.Now).
	Now func() time.Time
	// Measure says how to measure the server.
	Measure Measure
	// PoolDB is the PostgreSQL database (postgres://...) of an embedded
	// pool (the scenario's target.embedded.pool), over its
	// target.embedded.db; with neither, a throw-away cluster of Debian's
	// postgresql package is started. It is not written to the results.
	PoolDB string
	// PoolLogs receives the embedded pool's servers' warnings (nil: none).
	PoolLogs io.Writer
	// Streams receive each interval of the run as soon as it closes
	// (reports.NewJSONStream, reports.NewCSVStream, or a sink of your
	// own), from one goroutine that Run waits for before it returns: the
	// same figures as run.hlog and counters.json, except the fan-out
	// completion (post_to_last_delivery), which a stream carries as it
	// completed and the results place at each post's intended time once
	// the accounting is done. A sink that fails is logged and left out;
	// the run goes on.
	Streams []reports.IntervalSink
}

// Clock is a shard's clock offset, measured against a coordinator's
// (coordinate.Offset).
type Clock struct {
	// Offset is the coordinator's clock minus this machine's, within
	// ± Uncertainty; RTT and Samples say how it was measured.
	Offset, Uncertainty, RTT time.Duration
	Samples                  int
	// Read is the clock the offset was measured with (nil: time.Now).
	// The run reads time.Now and puts its instants on the coordinator's
	// clock with Offset plus how far Read is ahead of time.Now: a test
	// gives a Read that is off by a known amount to stand for a machine
	// whose clock is.
	Read func() time.Time
}

// toCoordinator is what to add to an instant read with time.Now to put
// it on the coordinator's clock (zero without a Clock).
func (c *Clock) toCoordinator() time.Duration {
	if c == nil {
		return 0
	}
	if c.Read == nil {
		return c.Offset
	}
	return c.Offset + time.Until(c.Read()).Round(time.Microsecond)
}

// Output says what a run or a merge writes.
type Output struct {
	// Dir is the results folder (docs/results.md); empty writes none.
	Dir string
	// Report also writes the charts and report.html into Dir.
	Report bool
	// Version is gcload's version, recorded in env.json.
	Version string
}

// Measure says how the server under test is measured into
// measurement.json (the embedded server is measured as this process).
type Measure struct {
	// ServerPID, when positive, is the process of a server on this
	// machine, measured from /proc; ServerCores is its GOMAXPROCS
	// (default: this machine's CPUs) and ServerIdleCPU its CPU use when
	// idle (CPU seconds per second), subtracted from what it used.
	ServerPID, ServerCores int
	ServerIdleCPU          float64
	// ServerMetrics are Prometheus expositions of the server (its own
	// /metrics, its host's node_exporter), which replace /proc's figures.
	ServerMetrics []string
}

// Observer follows a run as it goes (the CLI's progress display).
type Observer interface {
	// Started is called once, when the target is up and the load is
	// about to start.
	Started(Info)
	// Tick is called every Options.Tick with a snapshot of the run.
	Tick(reports.Snapshot)
	// Done is called when the load and the drain are over, before the
	// accounting.
	Done()
}

// Info describes a run about to start.
type Info struct {
	Scenario string
	Users    int
	Rooms    int
	// Duration is the planned time of the phases (without the drain).
	Duration time.Duration
	Shard    swarm.Shard
	// Target describes the server for people ("embedded reference server
	// LOOKUP at ADDR" or "LOOKUP at ADDR").
	Target string
	// MetricsURL is where the live metrics are served ("" when not).
	MetricsURL string
}

// ErrInput is what errors in the caller's input (the scenario, the
// options) are, for errors.Is.
var ErrInput = errors.New("bad input")

type inputError struct{ err error }

func (e *inputError) Error() string        { return e.err.Error() }
func (e *inputError) Unwrap() error        { return e.err }
func (e *inputError) Is(target error) bool { return target == ErrInput }

// badInput marks err as the caller's input being wrong.
func badInput(err error) error {
	if err == nil {
		return nil
	}
	return &inputError{err}
}

// drainKey is the context key of the drain's context (WithDrain).
type drainKey struct{}

// WithDrain returns ctx carrying drain, the context the drain after the
// load runs under. Run stops the load when ctx ends and then drains
// deliveries for the scenario's drain time; when drain ends first (a
// second Ctrl-C), it abandons the drain and accounts what it has.
// Without it the drain always runs to its end.
func WithDrain(ctx, drain context.Context) context.Context {
	return context.WithValue(ctx, drainKey{}, drain)
}

// Drain returns the context WithDrain put in ctx (ctx without its
// cancellation when there is none).
func Drain(ctx context.Context) context.Context {
	if d, ok := ctx.Value(drainKey{}).(context.Context); ok {
		return d
	}
	return context.WithoutCancel(ctx)
}

// run is one run in progress.
type run struct {
	spec   *scenarios.Spec
	o      Options
	plan   *swarm.Plan
	offset time.Duration // time.Now to the coordinator's clock (Options.Clock)
	tg     target.Target
	desc   string // the target for people
	meas   *measurer
	rec    *reports.Recorder
	online *atomic.Int64
	stream *streamer // nil without Options.Streams
	stop   []func()  // what close undoes, in reverse
	// an embedded pool, with its servers' CPU seconds when the load
	// started
	pool             *embedded.Pool
	poolCPU, poolEnd []float64
}

// Run runs one shard of spec's load test (see Options) and returns its
// Result; its Summary holds the verdict. ctx ending stops the load
// (Ctrl-C): the run then drains (see WithDrain), accounts and returns an
// aborted Result. An error means there is no Result: bad input
// (ErrInput), a target that could not be set up, a results folder that
// could not be written.
func Run(ctx context.Context, spec *scenarios.Spec, o Options) (*reports.Result, error) {
	r, err := prepare(spec, o)
	if err != nil {
		return nil, err
	}
	defer r.close()
	if err := r.startMeasure(ctx); err != nil {
		return nil, err
	}
	if err := r.startTarget(ctx); err != nil {
		return nil, err
	}
	if err := r.join(ctx); err != nil {
		return nil, err
	}
	if err := r.startLive(); err != nil {
		return nil, err
	}
	oc, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	return r.finish(oc)
}

// prepare checks the options, settles the target and makes the plan;
// it starts nothing.
func prepare(spec *scenarios.Spec, o Options) (*run, error) {
	if o.Shard.Of == 0 {
		o.Shard = swarm.Shard{Index: 1, Of: 1}
	}
	if o.Tick <= 0 {
		o.Tick = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = nobody{}
	}
	for i, sink := range o.Streams {
		if sink == nil {
			return nil, badInput(fmt.Errorf("stream %d is nil", i+1))
		}
	}
	if o.Output.Report && o.Output.Dir == "" {
		return nil, badInput(errors.New("a report needs a results folder (Output.Dir)"))
	}
	tg, spec, err := settleTarget(spec, o.Target)
	if err != nil {
		return nil, err
	}
	if tg.Embedded() && o.Shard.Of > 1 {
		return nil, badInput(errors.New("shards need a shared server (a target with a server): each embedded server would be its own pool"))
	}
	plan, err := swarm.NewPlan(spec)
	if err != nil {
		return nil, badInput(err)
	}
	return &run{spec: spec, o: o, plan: plan, offset: o.Clock.toCoordinator(), tg: tg, desc: tg.String(), online: new(atomic.Int64)}, nil
}

// TargetOf is the target a scenario's target section names (no server:
// the embedded reference server).
func TargetOf(spec *scenarios.Spec) target.Target {
	return target.Target{Lookup: spec.Target.Lookup, Domain: spec.Target.Domain, Admin: spec.Target.Admin, Servers: spec.Target.Servers(),
		Login: spec.Users.Login, Password: spec.Users.Password, Accounts: spec.Users.Accounts}
}

// settleTarget returns the run's target, the scenario's section with
// over's fields over it, and the scenario as it runs: with that target
// in its section, so that the swarm and scenario.yaml see one truth.
func settleTarget(spec *scenarios.Spec, over target.Target) (target.Target, *scenarios.Spec, error) {
	tg := TargetOf(spec).With(over)
	if tg.Domain != spec.Target.Domain {
		return tg, nil, badInput(fmt.Errorf("target: domain %q differs from the scenario's target.domain %q (the plan's users are sip:...@%s)", tg.Domain, spec.Target.Domain, spec.Target.Domain))
	}
	if errs := tg.Validate(); len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("target: %w", err)
		}
		return tg, nil, badInput(errors.Join(errs...))
	}
	if tg.Embedded() {
		return tg, spec, nil
	}
	s := *spec
	s.Target.Lookup, s.Target.Server, s.Target.Admin = tg.Lookup, strings.Join(tg.Servers, ","), tg.Admin
	return tg, &s, nil
}

// startMeasure prepares the measurement of the server: its process (a
// PID), its commits (the admin API), its Prometheus expositions.
func (r *run) startMeasure(ctx context.Context) error {
	m, o := &measurer{pid: -1, cores: runtime.GOMAXPROCS(0)}, r.o.Measure
	if o.ServerPID > 0 {
		if _, err := readProc(o.ServerPID); err != nil {
			return badInput(fmt.Errorf("server PID %d: %w", o.ServerPID, err))
		}
		cores := o.ServerCores
		if cores <= 0 {
			cores = runtime.NumCPU()
		}
		m.pid, m.cores, m.idleCPU = o.ServerPID, cores, o.ServerIdleCPU
	}
	if r.tg.Admin != "" {
		m.commits = adminCommits(r.tg.Admin, r.tg.AdminToken)
	}
	if err := m.useServerMetrics(ctx, o.ServerMetrics); err != nil {
		return badInput(err)
	}
	r.meas = m
	return nil
}

// startTarget starts the embedded reference server, or provisions the
// scenario's rooms on a target with an admin API.
func (r *run) startTarget(ctx context.Context) error {
	if !r.tg.Embedded() {
		if r.tg.Locate() {
			tg, err := sipclient.Locate(ctx, r.tg)
			if err != nil {
				return fmt.Errorf("%w: %w", swarm.ErrUnreachable, err)
			}
			r.tg, r.desc = tg, tg.String()+" (found in DNS)"
			r.spec.Target.Server = tg.Server()
		}
		if r.tg.Admin == "" {
			return nil
		}
		admin := adminclient.New(r.tg.Admin, r.tg.AdminToken)
		if err := swarm.Provision(ctx, admin, r.plan, r.spec.Rooms.Privacy); err != nil {
			return err
		}
		setup, err := sipclient.NewSetup(r.tg, r.spec.Transport)
		if err != nil {
			return badInput(err)
		}
		creds, err := r.plan.Credentials(setup.Credentials)
		if err != nil {
			return badInput(err)
		}
		return swarm.ProvisionAccounts(ctx, admin, creds)
	}
	spec := r.spec
	if spec.Target.Embedded.Pool > 0 {
		return r.startPool(ctx)
	}
	auth, err := refserver.ParseAuth(spec.Target.Embedded.Auth)
	if err != nil {
		return badInput(fmt.Errorf("target.embedded.auth: %w", err))
	}
	creds := r.tg
	if auth != refserver.AuthNone && !creds.HasCredentials() {
		// the users' passwords, for this run only
		var b [8]byte
		_, _ = rand.Read(b[:])
		creds.Password = "gcload-" + hex.EncodeToString(b[:]) + "-{i}"
	}
	transport := embedded.TCP
	switch spec.Transport {
	case scenarios.UDP:
		transport = embedded.UDP
	case scenarios.TLS:
		transport = embedded.TLS
	}
	opts := embedded.Options{
		Domain: spec.Target.Domain, Transports: []string{transport}, Rooms: r.plan.AdminRooms(spec.Rooms.Privacy),
		Files: spec.HasFiles(),
		Options: []refserver.Option{
			refserver.WithAuth(auth),
			refserver.WithChannels(spec.Target.Embedded.Channels),
			refserver.WithLogger(r.o.Logger),
			// its only client is this process, from one address, with as
			// many users per connection as the scenario puts there
			refserver.WithLimits(refserver.Limits{MaxConnsPerAddr: -1, MaxUsersPerConn: -1}),
		},
	}
	if spec.Target.Embedded.NoticeLimit != nil {
		opts.Options = append(opts.Options, refserver.WithNoticeLimit(*spec.Target.Embedded.NoticeLimit))
	}
	if d := spec.Target.Embedded.NoticeDelay; d != nil {
		opts.Options = append(opts.Options, refserver.WithNoticeDelay(d.D()))
	}
	if auth != refserver.AuthNone {
		users, err := sipclient.NewCredentials(creds)
		if err != nil {
			return badInput(err)
		}
		accts, err := r.plan.Credentials(users)
		if err != nil {
			return badInput(err)
		}
		opts.Options = append(opts.Options, refserver.WithAccounts(accts...))
	}
	// the compliance cross-check reads the archive through the admin API
	opts.Admin = wantsCompliance(spec)
	srv, err := embedded.Start(ctx, opts)
	if err != nil {
		return err
	}
	r.stop = append(r.stop, func() { srv.Close() })
	tg := srv.Target()
	tg.Accounts, tg.Login, tg.Password, tg.Auth = creds.Accounts, creds.Login, creds.Password, creds.Auth
	r.tg = tg
	r.desc = "embedded reference server " + r.tg.String()
	r.meas.pid, r.meas.commits = 0, func() uint64 { return srv.Stats().Store.Commits }
	return nil
}

// join waits for the start when Options.Join says when it is.
func (r *run) join(ctx context.Context) error {
	if r.o.Join == nil {
		return nil
	}
	start, clock, err := r.o.Join(ctx)
	if err != nil {
		return err
	}
	r.o.Start, r.o.Clock, r.offset = start, clock, clock.toCoordinator()
	return nil
}

// startPool starts the embedded pool of server processes on one
// PostgreSQL database and provisions the rooms through its first server.
func (r *run) startPool(ctx context.Context) error {
	e := r.spec.Target.Embedded
	db := r.o.PoolDB
	if db == "" {
		db = e.DB
	}
	var delay *time.Duration
	if e.NoticeDelay != nil {
		d := e.NoticeDelay.D()
		delay = &d
	}
	p, err := embedded.StartPool(ctx, embedded.PoolOptions{
		Servers: e.Pool, DB: db, Domain: r.spec.Target.Domain, Channels: e.Channels, NoticeLimit: e.NoticeLimit, NoticeDelay: delay, Lookup: e.Lookup,
		Logs: r.o.PoolLogs,
	})
	if err != nil {
		return err
	}
	r.stop = append(r.stop, func() { p.Close() })
	r.pool, r.tg = p, p.Target()
	r.desc = fmt.Sprintf("embedded pool of %d servers on %s: %s", e.Pool, p.Where(), r.tg.String())
	r.meas.pid = -1 // several processes: measured one by one (summary.json servers)
	return swarm.Provision(ctx, adminclient.New(r.tg.Admin, r.tg.AdminToken), r.plan, r.spec.Rooms.Privacy)
}

// poolStarts notes the pool servers' CPU time as the load starts and
// schedules the kill the scenario asks for; the returned function cancels
// the kill, or waits for it when it is under way.
func (r *run) poolStarts(start time.Time) func() {
	if r.pool == nil {
		return func() {}
	}
	r.poolCPU = make([]float64, len(r.pool.Servers))
	r.poolEnd = make([]float64, len(r.pool.Servers))
	for i, s := range r.pool.Servers {
		st, _ := readProc(s.PID())
		r.poolCPU[i] = st.CPU
	}
	k := r.spec.Target.Embedded.Kill
	if k == nil {
		return func() {}
	}
	i, srv := k.Server-1, r.pool.Servers[k.Server-1]
	done := make(chan struct{})
	t := time.AfterFunc(time.Until(start.Add(k.At.D())), func() {
		defer close(done)
		r.o.Logger.Warn("killing a server of the embedded pool, as the scenario asks", "server", srv.Addr)
		if st, err := readProc(srv.PID()); err == nil {
			r.poolEnd[i] = st.CPU // what it used is what it used until now
		}
		_ = srv.Kill()
	})
	return func() {
		if !t.Stop() {
			<-done
		}
	}
}

// poolCounts adds the pool servers' CPU time during the load, and which
// one was killed, to the per-server counts.
func (r *run) poolCounts(oc *swarm.Outcome) {
	if r.pool == nil {
		return
	}
	for i, s := range r.pool.Servers {
		if !s.Killed() {
			if st, err := readProc(s.PID()); err == nil {
				r.poolEnd[i] = st.CPU
			}
		}
		j := slices.IndexFunc(oc.Servers, func(sc reports.ServerCounts) bool { return sc.Server == s.Addr })
		if j < 0 {
			oc.Servers = append(oc.Servers, reports.ServerCounts{Server: s.Addr})
			j = len(oc.Servers) - 1
		}
		oc.Servers[j].CPUSeconds, oc.Servers[j].Killed = max(r.poolEnd[i]-r.poolCPU[i], 0), s.Killed()
	}
}

// startLive creates the recorder, serves the live metrics and tells the
// observer the run is starting.
func (r *run) startLive() error {
	r.rec = reports.NewRecorder(r.o.Now().Add(r.offset), r.o.Tick)
	info := Info{
		Scenario: r.spec.Name, Users: r.spec.Users.Count, Rooms: len(r.plan.Rooms), Duration: r.plan.Duration,
		Shard: r.o.Shard, Target: r.desc,
	}
	if r.o.MetricsAddr != "" {
		stop, url, err := serveMetrics(r.o.MetricsAddr, r.rec, r.online, len(r.plan.Rooms))
		if err != nil {
			return badInput(err)
		}
		r.stop = append(r.stop, stop)
		info.MetricsURL = url
	}
	r.o.Observer.Started(info)
	return nil
}

// load runs the swarm: the load until its end (or ctx's), then the drain.
func (r *run) load(ctx context.Context) (*swarm.Outcome, error) {
	start := r.o.Start
	if start.IsZero() {
		start = time.Now().Add(100 * time.Millisecond)
	}
	var archive swarm.Archive
	if wantsCompliance(r.spec) && r.tg.Admin != "" {
		archive = adminclient.New(r.tg.Admin, r.tg.AdminToken)
	}
	sw, err := swarm.New(r.plan, swarm.Options{
		Target: r.tg, Shard: r.o.Shard, Recorder: r.rec, Start: start, ClockOffset: r.offset, Tick: r.o.Tick, Logger: r.o.Logger, EmbeddedPool: r.pool != nil,
		Archive: archive,
		OnTick: func(s reports.Snapshot) {
			r.meas.tick()
			if r.stream != nil {
				r.stream.tick(s)
			}
			r.online.Store(int64(s.UsersOnline))
			r.o.Observer.Tick(s)
		},
	})
	if err != nil {
		return nil, badInput(err)
	}
	r.meas.sw, r.meas.rec, r.meas.offset = sw, r.rec, r.offset
	if len(r.o.Streams) > 0 {
		r.stream = newStreamer(r.o.Streams, r.rec, r.plan, r.o.Logger)
	}
	r.meas.start()
	stopKill := r.poolStarts(start)
	oc, err := sw.Run(ctx, Drain(ctx))
	stopKill()
	if r.stream != nil {
		began := start
		if err == nil {
			began = oc.Start
		}
		r.stream.close(began)
	}
	if err == nil && oc.Aborted {
		oc.AbortReason = context.Cause(ctx).Error()
	}
	if err == nil && wantsCompliance(r.spec) && archive == nil {
		oc.Compliance = &reports.Compliance{Examples: []string{}, Error: "a threshold names the compliance cross-check, but the target has no admin API (--admin) to read the archive through"}
	}
	if err == nil {
		r.poolCounts(oc)
	}
	r.o.Observer.Done()
	return oc, err
}

// finish assembles the Result (accounting, thresholds, verdict, the
// environment and the measurement) and writes what Output asks for.
func (r *run) finish(oc *swarm.Outcome) (*reports.Result, error) {
	rec := r.rec
	res, err := buildResult(r.spec, r.plan, r.o.Shard, r.desc, rec.Hists(), rec.Counters(), rec.Intervals(), rec.IntervalLength(), oc.Accounted, oc)
	if err != nil {
		return nil, err
	}
	if c := r.o.Clock; c != nil {
		res.Summary.Clock = reports.ClockOffsetOf(c.Offset, c.Uncertainty, c.RTT, c.Samples)
	}
	if res.Extra[fileEnv], err = envJSON(r.o.Output.Version, r.desc); err != nil {
		return nil, err
	}
	if mj, err := r.meas.measurement(r.plan, oc, &res.Summary).json(); err == nil {
		res.Extra[FileMeasurement] = mj
	}
	if err := write(res, r.o.Output); err != nil {
		return nil, err
	}
	return res, nil
}

// close stops what the run started, last first.
func (r *run) close() {
	for i := len(r.stop) - 1; i >= 0; i-- {
		r.stop[i]()
	}
}

// nobody is the Observer of a run nobody follows.
type nobody struct{}

func (nobody) Started(Info)          {}
func (nobody) Tick(reports.Snapshot) {}
func (nobody) Done()                 {}

// wantsCompliance reports whether the run checks the compliance archive:
// a threshold names compliance_missing, compliance_extra or
// compliance_checked (docs/compliance.md).
func wantsCompliance(spec *scenarios.Spec) bool {
	for _, t := range spec.Thresholds {
		th, err := reports.ParseThreshold(t)
		if err != nil {
			continue
		}
		switch th.Metric {
		case reports.CounterComplianceMissing, reports.CounterComplianceExtra, reports.CounterComplianceChecked:
			return true
		}
	}
	return false
}
