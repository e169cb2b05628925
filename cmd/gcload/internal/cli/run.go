package cli

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/gcload/gcload/internal/yamlx"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/check"
	"github.com/gcload/gcload/sipclient/swarm"
	"github.com/spf13/cobra"
)

// RunOptions are the flags of gcload run.
type RunOptions struct {
	Scenario string
	Target   string
	Server   string
	Admin    string
	Set      []string
	Out      string
	Shard    string
	StartAt  string
	Progress string
	Metrics  string
	Tick     time.Duration
	LogLevel string
	// Deadline bounds the whole command: when it passes, the load stops,
	// the drain is abandoned and the results are written (aborted).
	Deadline time.Duration
	// ServerPID and ServerCores, when ServerPID > 0, name the process of
	// a local server under test and its GOMAXPROCS (gcload calibrate runs
	// the server as a child), to measure its CPU, memory and disk.
	ServerPID, ServerCores int
	// ServerIdleCPU is the server's CPU use when idle (CPU seconds per
	// second), subtracted from its measured CPU so that what remains is
	// the work the load caused.
	ServerIdleCPU float64
	// AdminToken is the admin API's token ("": $GCLOAD_ADMIN_TOKEN).
	AdminToken string
	// ServerMetrics are Prometheus expositions of the server (a
	// node_exporter's, its own /metrics) to measure it from.
	ServerMetrics []string
}

// NewCmdRun builds `gcload run`.
func NewCmdRun(env *Env, runF func(*RunOptions) error) *cobra.Command {
	o := &RunOptions{}
	cmd := &cobra.Command{
		Use:   "run SCENARIO.yaml",
		Short: "Run a load scenario against a server (or the embedded reference server)",
		Long: `Run a load scenario: simulated users sign in through the lookup service,
open channel sessions, join rooms and post at the scenario's rates, in an open
model (latency from the intended time; operations that cannot start on time
are dropped and counted). Every delivery is accounted for and every protocol
rule checked. Results go to --out (default results/SCENARIO-TIME/); the exit
code says whether the run passed its thresholds.

With no --target the reference server runs in-process on loopback with a
temporary database. A shipped scenario can be named without a path
("gcload run smoke"); see "gcload scenario list".

Ctrl-C (or SIGTERM) stops the load, drains deliveries and still writes the
results; a second one ends gcload at once. --deadline bounds the whole run.

The run stops by itself when the target cannot be reached or its first
sign-ins all fail (exit code 7), and when every session has been lost
(the target went away; exit code 3).`,
		Example: `  gcload run scenarios/smoke.yaml
  gcload run peak --set phases.steady.duration=60s
  gcload run scenarios/peak.yaml --target sip:ocschat@contoso.com --server 10.0.0.5:5061 --admin http://10.0.0.5:8080
  gcload run peak --shard 2/3 --start-at 2026-11-21T10:00:00Z --target ... --server ...`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Scenario = args[0]
			if runF != nil {
				return runF(o)
			}
			return runRun(cmd.Context(), env, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Target, "target", "", "lookup URI of the server under test (sip:ocschat@DOMAIN); empty runs the embedded reference server")
	f.StringVar(&o.Server, "server", "", "HOST:PORT to connect to, as a client's server setting (required with --target)")
	f.StringVar(&o.Admin, "admin", "", "admin API URL of a reference server, to provision the scenario's rooms")
	f.StringVar(&o.AdminToken, "admin-token", "", "the admin API's token (default: $"+adminclient.TokenEnv+"; gcload serve writes it to a file it names at start)")
	f.StringArrayVar(&o.Set, "set", nil, "override a scenario field: KEY=VALUE (repeatable), e.g. users.count=100 or phases.steady.duration=60s")
	f.StringVar(&o.Out, "out", "", "results folder (default results/SCENARIO-TIME)")
	f.StringVar(&o.Shard, "shard", "1/1", "run shard i of N of the scenario (i/N); merge shard results with gcload merge")
	f.StringVar(&o.StartAt, "start-at", "", "start time (RFC 3339) shared by the shards of a run")
	f.StringVar(&o.Progress, "progress", "auto", "progress display: auto, tty, plain or none")
	f.IntVar(&o.ServerPID, "server-pid", 0, "process ID of a server on this machine, to measure its CPU, memory and disk apart from gcload's (measurement.json)")
	f.StringArrayVar(&o.ServerMetrics, "server-metrics", nil, serverMetricsHelp)
	f.IntVar(&o.ServerCores, "server-cores", 0, "the server's cores (GOMAXPROCS), for its utilisation (default: this machine's CPUs)")
	f.StringVar(&o.Metrics, "metrics-addr", "", "serve live Prometheus metrics at http://ADDR/metrics during the run (e.g. 127.0.0.1:9464)")
	f.DurationVar(&o.Tick, "interval", time.Second, "interval of the time series and the progress display")
	f.StringVar(&o.LogLevel, "log-level", "warn", "log level: debug, info, warn, error")
	f.DurationVar(&o.Deadline, "deadline", 0, "end the run after this long whatever happens (load stopped, drain abandoned, results written; exit code 6); 0: no deadline")
	return cmd
}

// loadSpec loads a scenario with --set overrides and checks its
// thresholds' metric names. flags names the overrides that come from
// flags of their own (target.lookup from --target, ...): their problems
// name the flag, not --set.
func loadSpec(path string, set []string, flags map[string]string) (*scenarios.Spec, error) {
	spec, _, err := scenarios.Load(path, set)
	var se *scenarios.Error
	if errors.As(err, &se) {
		for _, p := range se.Problems {
			var ye *yamlx.Error
			if errors.As(p, &ye) {
				if flag, ok := flags[strings.TrimPrefix(ye.Pos, "--set ")]; ok && strings.HasPrefix(ye.Pos, "--set ") {
					ye.Pos = flag
				}
			}
		}
	}
	if err != nil {
		return nil, badInput(err)
	}
	return spec, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func runRun(ctx context.Context, env *Env, o *RunOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	level, err := parseLevel(o.LogLevel)
	if err != nil {
		return badInput(err)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	set := append([]string(nil), o.Set...)
	if o.Target != "" {
		set = append(set, "target.lookup="+o.Target)
	}
	if o.Server != "" {
		set = append(set, "target.server="+o.Server)
	}
	if o.Admin != "" {
		set = append(set, "target.admin="+o.Admin)
	}
	spec, err := loadSpec(o.Scenario, set, map[string]string{"target.lookup": "--target", "target.server": "--server", "target.admin": "--admin"})
	if err != nil {
		return err
	}
	shard, err := swarm.ParseShard(o.Shard)
	if err != nil {
		return badInput(err)
	}
	var start time.Time
	if o.StartAt != "" {
		if start, err = time.Parse(time.RFC3339, o.StartAt); err != nil {
			return badInput(fmt.Errorf("--start-at %q: want RFC 3339, e.g. 2026-11-21T10:00:00Z", o.StartAt))
		}
	}
	embedded := spec.Target.Lookup == ""
	if embedded && shard.Of > 1 {
		return badInput(errors.New("--shard needs a shared server (--target and --server): each embedded server would be its own pool"))
	}
	progress := o.Progress
	switch progress {
	case "auto":
		progress = "plain"
		if env.IsTerminal {
			progress = "tty"
		}
	case "tty", "plain", "none":
	default:
		return badInput(fmt.Errorf("--progress %q: want auto, tty, plain or none", o.Progress))
	}
	plan, err := swarm.NewPlan(spec)
	if err != nil {
		return badInput(err)
	}
	out := o.Out
	if out == "" {
		out = filepath.Join("results", unsafeName.ReplaceAllString(spec.Name, "_")+"-"+env.Now().Format("20060102-150405"))
		if shard.Of > 1 {
			out += "-shard" + fmt.Sprint(shard.Index)
		}
	}
	server, lookup := spec.Target.Server, spec.Target.Lookup
	target := lookup + " at " + server
	meas := &measurer{pid: -1, cores: runtime.GOMAXPROCS(0)}
	if o.ServerPID > 0 {
		if _, err := readProc(o.ServerPID); err != nil {
			return badInput(fmt.Errorf("--server-pid %d: %w", o.ServerPID, err))
		}
		cores := o.ServerCores
		if cores <= 0 {
			cores = runtime.NumCPU()
		}
		meas.pid, meas.cores, meas.idleCPU = o.ServerPID, cores, o.ServerIdleCPU
	}
	adminToken := o.AdminToken
	if adminToken == "" {
		adminToken = env.getenv(adminclient.TokenEnv)
	}
	ctx = adminclient.WithToken(ctx, adminToken)
	if spec.Target.Admin != "" {
		meas.commits = adminCommits(spec.Target.Admin, adminToken)
	}
	if err := meas.useServerMetrics(ctx, o.ServerMetrics); err != nil {
		return badInput(err)
	}
	if embedded {
		dir, err := os.MkdirTemp("", "gcload-embedded-*")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		opts := []refserver.Option{
			refserver.WithDB(filepath.Join(dir, "gc.db")), refserver.WithDomain(spec.Target.Domain),
			refserver.WithChannels(spec.Target.Embedded.Channels), refserver.WithRooms(plan.StoreRooms(spec.Rooms.Privacy)...),
			refserver.WithLogger(log),
			// its only client is this process, from one address, with as
			// many users per connection as the scenario puts there
			refserver.WithLimits(refserver.Limits{MaxConnsPerAddr: -1, MaxUsersPerConn: -1}),
		}
		if spec.Target.Embedded.NoticeLimit != nil {
			opts = append(opts, refserver.WithNoticeLimit(*spec.Target.Embedded.NoticeLimit))
		}
		if spec.Transport == "udp" {
			opts = append(opts, refserver.WithUDP("127.0.0.1:0"))
		} else {
			opts = append(opts, refserver.WithTCP("127.0.0.1:0"))
		}
		srv, err := refserver.New(ctx, opts...)
		if err != nil {
			return fmt.Errorf("embedded server: %w", err)
		}
		defer srv.Close()
		meas.pid, meas.commits = 0, func() uint64 { return srv.Stats().Store.Commits }
		server, lookup = srv.TCPAddr(), srv.LookupURI()
		if spec.Transport == "udp" {
			server = srv.UDPAddr()
		}
		target = "embedded reference server " + lookup + " at " + server
	} else if spec.Target.Admin != "" {
		if err := swarm.Provision(ctx, spec.Target.Admin, plan, spec.Rooms.Privacy); err != nil {
			return err
		}
	}
	rec := reports.NewRecorder(env.Now(), o.Tick)
	var online atomic.Int64
	if o.Metrics != "" {
		stopMetrics, err := serveMetrics(env, o.Metrics, rec, &online, len(plan.Rooms))
		if err != nil {
			return badInput(err)
		}
		defer stopMetrics()
	}
	var prog *reports.Progress
	if progress != "none" {
		width := 0
		if env.Width != nil {
			width = env.Width()
		}
		prog = reports.NewProgress(env.Stderr, progress == "tty", plan.Duration, width)
	}
	fmt.Fprintf(env.Stderr, "gcload run: %s (%d users, %d rooms, %s of phases, shard %s) against %s\n", spec.Name, spec.Users.Count, len(plan.Rooms), plan.Duration, shard, target)
	sw, err := swarm.New(plan, swarm.Options{
		Server: server, Lookup: lookup, Shard: shard, Recorder: rec, Start: start, Tick: o.Tick, Logger: log,
		OnTick: func(s reports.Snapshot) {
			meas.tick()
			online.Store(int64(s.UsersOnline))
			if prog != nil {
				prog.Update(s)
			}
		},
	})
	if err != nil {
		return badInput(err)
	}
	meas.sw, meas.rec = sw, rec
	meas.start()
	loadCtx, drainCtx := ctx, drainContext(ctx)
	if o.Deadline < 0 {
		return badInput(fmt.Errorf("--deadline %s: must not be negative", o.Deadline))
	}
	if o.Deadline > 0 {
		var cancel1, cancel2 context.CancelFunc
		loadCtx, cancel1 = context.WithTimeoutCause(loadCtx, o.Deadline, fmt.Errorf("the --deadline of %s passed", o.Deadline))
		defer cancel1()
		drainCtx, cancel2 = context.WithTimeout(drainCtx, o.Deadline)
		defer cancel2()
	}
	outcome, err := sw.Run(loadCtx, drainCtx)
	if err == nil && outcome.Aborted {
		outcome.AbortReason = context.Cause(loadCtx).Error()
	}
	if prog != nil {
		prog.Done()
	}
	if err != nil {
		return err
	}
	res, err := buildResult(spec, plan, shard, target, rec.Hists(), rec.Counters(), rec.Intervals(), rec.IntervalLength(), outcome.Accounted, outcome)
	if err != nil {
		return err
	}
	renv, envJSON := runEnv(target)
	res.Extra[fileEnv] = envJSON
	if mj, err := json.MarshalIndent(meas.measurement(plan, outcome, &res.Summary), "", "  "); err == nil {
		res.Extra[fileMeasurement] = mj
	}
	if err := reports.WriteResults(out, res); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	if err := writeReport(out, res, renv); err != nil {
		return err
	}
	reports.WriteText(env.Stdout, &res.Summary)
	fmt.Fprintf(env.Stdout, "results: %s\n", out)
	_, code, _ := reports.Decide(&res.Summary)
	if code != reports.ExitPass {
		return errSilent{code}
	}
	return nil
}

// buildResult assembles the results of a run (or of merged shards).
func buildResult(spec *scenarios.Spec, plan *swarm.Plan, shard swarm.Shard, target string, hists map[reports.Op]*hdrhistogram.Histogram, counters map[string]int64, intervals []reports.Interval, interval time.Duration, acc swarm.Accounted, oc *swarm.Outcome) (*reports.Result, error) {
	hists[reports.OpPostToLastDelivery] = acc.LastDelivery
	if acc.LastDeliveryService != nil && acc.LastDeliveryService.TotalCount() > 0 {
		hists[reports.OpPostToLastDeliveryService] = acc.LastDeliveryService
	} else {
		delete(hists, reports.OpPostToLastDeliveryService)
	}
	intervals = completionIntervals(intervals, acc.Completions)
	secs := oc.End.Sub(oc.Start).Seconds()
	s := reports.Summary{
		Scenario: spec.Name, Shard: shard.String(), Target: target, Start: oc.Start, End: oc.End, Seconds: secs,
		Users: oc.Users, Counters: counters, Delivery: acc.Delivery, Rooms: acc.Rooms, Generator: oc.Generator,
		Aborted: oc.Aborted, AbortReason: oc.AbortReason, Stopped: oc.Stopped, Unreachable: oc.Unreachable, Phases: oc.Phases, Errors: oc.Errors,
	}
	for i := range s.Rooms {
		s.Rooms[i].Status = s.Rooms[i].StatusOf()
	}
	s.Counters["lost"] = acc.Delivery.Lost
	s.Counters[reports.CounterIncompleteFanouts] = acc.Incomplete
	s.Counters[reports.CounterWrongRoom] = acc.WrongRoom
	s.Counters[reports.CounterForeign] = acc.Foreign
	// what the accounting found that breaks a conformance rule (lost
	// deliveries stay a figure of their own: under overload they are a
	// capacity result, gated by a "lost" threshold)
	setRule := func(rule string, n int64) {
		if n > 0 {
			s.Counters["violations."+rule] = n
		} else {
			delete(s.Counters, "violations."+rule)
		}
	}
	setRule(check.RuleExactlyOnce, acc.Delivery.Duplicated)
	setRule(check.RuleOrder, acc.Delivery.OutOfOrder)
	setRule(check.RuleNoSpoofing, acc.Delivery.Spoofed)
	s.RecomputeOps(hists)
	s.Rules = runRules(oc.Checks, &s)
	for _, t := range spec.Thresholds {
		th, err := reports.ParseThreshold(t)
		if err != nil {
			return nil, badInput(err)
		}
		s.Thresholds = append(s.Thresholds, th.Eval(&s, hists))
	}
	s.Verdict, _, s.Reasons = reports.Decide(&s)
	yml, err := spec.YAML()
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err := gob.NewEncoder(zw).Encode(oc.Data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &reports.Result{
		Summary: s, Hists: hists, Intervals: intervals, IntervalLength: interval, ScenarioYAML: yml,
		Extra: map[string][]byte{fileAccounting: gz.Bytes()},
	}, nil
}

// runRules is the status of each rule gcload run checks as it goes:
// sipclient's per-message checks (checks, by rule) and the delivery
// accounting's (every delivery received is checked for duplicates, order
// and author). A rule nothing exercised is not_exercised.
func runRules(checks map[string]int64, s *reports.Summary) []reports.RuleStatus {
	var out []reports.RuleStatus
	for _, id := range check.RunRules {
		n := checks[id]
		switch id {
		case check.RuleExactlyOnce, check.RuleOrder, check.RuleNoSpoofing:
			n = s.Delivery.Received + s.Delivery.Duplicated + s.Delivery.Extra
		}
		v := s.Counters["violations."+id]
		out = append(out, reports.RuleStatus{Rule: id, Checks: n, Violations: v, Status: reports.RuleStatusOf(n, v)})
	}
	return out
}

// fileAccounting keeps a run's delivery accounting data, so that merge can
// recompute the accounting over every shard.
const fileAccounting = "accounting.gob.gz"

// readAccounting decodes a results folder's accounting.gob.gz.
func readAccounting(res *reports.Result, dir string) (*swarm.Data, error) {
	b, ok := res.Extra[fileAccounting]
	if !ok {
		return nil, fmt.Errorf("%s: no accounting.gob.gz (not a gcload run's results?)", dir)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: accounting.gob.gz: %w", dir, err)
	}
	var d swarm.Data
	if err := gob.NewDecoder(io.LimitReader(zr, 1<<30)).Decode(&d); err != nil {
		return nil, fmt.Errorf("%s: accounting.gob.gz: %w", dir, err)
	}
	return &d, nil
}

// completionIntervals returns the intervals with each post's fan-out
// completion time in the interval of its intended time (known only once
// the accounting is done; a merge recomputes them, so any already there
// are replaced). The intervals a Recorder returned are shared: each is
// copied before it changes.
func completionIntervals(in []reports.Interval, cs []swarm.Completion) []reports.Interval {
	out := make([]reports.Interval, len(in))
	copy(out, in)
	for i := range out {
		if _, ok := out[i].Hists[reports.OpPostToLastDelivery]; ok {
			out[i].Hists = maps.Clone(out[i].Hists)
			delete(out[i].Hists, reports.OpPostToLastDelivery)
		}
	}
	cloned := make([]bool, len(out))
	for _, c := range cs {
		t := time.Unix(0, c.Intended)
		i := sort.Search(len(out), func(i int) bool { return out[i].End.After(t) })
		if i == len(out) || t.Before(out[i].Start) && i > 0 {
			continue
		}
		if !cloned[i] {
			out[i].Hists = maps.Clone(out[i].Hists)
			if out[i].Hists == nil {
				out[i].Hists = map[reports.Op]*hdrhistogram.PackedHistogram{}
			}
			cloned[i] = true
		}
		h := out[i].Hists[reports.OpPostToLastDelivery]
		if h == nil {
			h = reports.NewPackedHistogram()
			out[i].Hists[reports.OpPostToLastDelivery] = h
		}
		_ = h.RecordValue(c.Micros)
	}
	return out
}
