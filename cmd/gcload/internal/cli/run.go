package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/gcload/gcload/internal/yamlx"
	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/refserver/store/postgres"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
	"github.com/gcload/gcload/target"
	"github.com/spf13/cobra"
)

// serverMetricsHelp is the help of --server-metrics (gcload run and
// calibrate).
const serverMetricsHelp = "Prometheus exposition of the server under test to measure it from (repeatable): its host's node_exporter (http://HOST:9100/metrics: host CPU by mode, disk writes and flushes, memory, network) and/or its own /metrics (process_cpu_seconds_total, process_resident_memory_bytes); replaces --server-pid's /proc figures in measurement.json"

// RunOptions are the flags of gcload run.
type RunOptions struct {
	Scenario string
	// Target is --target, --server, --admin and --admin-token.
	Target   target.Target
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
	// a local server under test and its GOMAXPROCS, to measure its CPU,
	// memory and disk.
	ServerPID, ServerCores int
	// ServerMetrics are Prometheus expositions of the server (a
	// node_exporter's, its own /metrics) to measure it from.
	ServerMetrics []string
	// Coordinator is the URL of a coordinator (gcload coordinate) to run
	// as one of its shards; CoordinatorCA a PEM file of the CA of an
	// https coordinator's certificate.
	Coordinator, CoordinatorCA string
	// FindMax is --find-max and its settings.
	FindMax FindMaxOptions
	// EmbeddedPool and DB: an embedded pool of that many server
	// processes on the PostgreSQL database DB (empty: the scenario's, or a
	// throw-away cluster).
	EmbeddedPool int
	DB           string
	// Streams are --stream FORMAT=FILE: each interval written to FILE
	// ("-": standard output) as JSON lines or CSV while the run goes on.
	Streams []string
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

--server takes several addresses, comma-separated: users are spread over them
(user i signs in to server i mod N) as DNS SRV spreads clients over a pool's
Front Ends; the summary then counts users, posts, deliveries and errors per
server. --embedded-pool N runs N reference server processes on one PostgreSQL
database (--db, or a throw-away cluster when Debian's postgresql package is
installed) instead of the in-process server.

The run stops by itself when the target cannot be reached or its first
sign-ins all fail (exit code 7), and when every session has been lost
(the target went away; exit code 3).

With --coordinator URL the run is one shard of a distributed run (see
gcload coordinate): its index comes from --shard i, or from
JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's pod: index k is shard
k+1). It registers, has its clock offset measured, waits for the shared
start, reports while it runs, and sends its results folder to the
coordinator at the end; Ctrl-C, or the coordinator stopping the run, ends
the load and sends what there is. The times it records are on the
coordinator's clock (its measured offset is in summary.json), so that a
post sent on one shard and received on another is timed correctly.

With --find-max the run is a breakpoint search: the scenario runs again and
again (OUT/step-NN/, each a complete results folder) with its post rate
raised ×2 from --start-rate while every rate holds, then bisected between
the highest rate that held and the lowest that did not, until a threshold
fails or the server saturates (achieved < 97% of offered). A step the
generator could not drive (an invalid run) stops the search and is never
blamed on the server. OUT/search.json has the highest rate that held, the
knee and the resource that ran out; exit 0 when a maximum was found, 3
when even the first rate failed, 5 when the generator was the limit, 8 when
no rate up to --max-rate or --max-steps saturated the server. With
--server-cpus N the reference server runs as a child process limited to N
cores by the cgroup cpu controller (root), measured apart from the
generator.`,
		Example: `  gcload run scenarios/smoke.yaml
  gcload run peak --set phases.steady.duration=60s
  gcload run scenarios/peak.yaml --target sip:ocschat@contoso.com --server 10.0.0.5:5061 --admin http://10.0.0.5:8080
  gcload run peak --shard 2/3 --start-at 2026-11-21T10:00:00Z --target ... --server ...
  gcload run peak --coordinator http://coord.example.com:8440 --shard 2 --target ... --server ...
  gcload run peak --stream json=intervals.jsonl --stream csv=intervals.csv
  gcload run smoke --target sip:ocschat@contoso.com --server gc1.contoso.com:5061,gc2.contoso.com:5061,gc3.contoso.com:5061
  gcload run pool                                  # three servers on a throw-away PostgreSQL, one killed mid-run
  gcload run smoke --embedded-pool 3 --db postgres://gcload@localhost/gcload
  gcload run smoke --find-max --server-cpus 0.5 --out results/findmax`,
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
	addTargetFlags(f, &o.Target)
	addFindMaxFlags(cmd, &o.FindMax)
	f.StringArrayVar(&o.Set, "set", nil, "override a scenario field: KEY=VALUE (repeatable), e.g. users.count=100 or phases.steady.duration=60s")
	f.StringVar(&o.Out, "out", "", "results folder (default results/SCENARIO-TIME)")
	f.StringVar(&o.Shard, "shard", "", "run shard i of N of the scenario (i/N; default 1/1); merge shard results with gcload merge. With --coordinator, i or i/N (default: $JOB_COMPLETION_INDEX + 1)")
	f.StringVar(&o.StartAt, "start-at", "", "start time (RFC 3339) shared by the shards of a run")
	f.StringVar(&o.Coordinator, "coordinator", "", "run as a shard of the coordinator at this URL (gcload coordinate): http://HOST:PORT or https://HOST:PORT")
	f.StringVar(&o.CoordinatorCA, "coordinator-ca", "", "PEM file of the CA that signed an https coordinator's certificate (default: the system's)")
	f.StringVar(&o.Progress, "progress", "auto", "progress display: auto, tty, plain or none")
	f.IntVar(&o.ServerPID, "server-pid", 0, "process ID of a server on this machine, to measure its CPU, memory and disk apart from gcload's (measurement.json)")
	f.StringArrayVar(&o.ServerMetrics, "server-metrics", nil, serverMetricsHelp)
	f.IntVar(&o.ServerCores, "server-cores", 0, "the server's cores (GOMAXPROCS), for its utilisation (default: this machine's CPUs)")
	f.StringVar(&o.Metrics, "metrics-addr", "", "serve live Prometheus metrics at http://ADDR/metrics during the run (e.g. 127.0.0.1:9464)")
	f.DurationVar(&o.Tick, "interval", time.Second, "interval of the time series and the progress display")
	f.StringVar(&o.LogLevel, "log-level", "warn", "log level: debug, info, warn, error")
	f.StringArrayVar(&o.Streams, "stream", nil, `write each interval while the run goes on, FORMAT=FILE (repeatable): json (one JSON object a line) or csv; FILE "-" is standard output, and the summary then goes to standard error (docs/results.md, "Streams")`)
	f.DurationVar(&o.Deadline, "deadline", 0, "end the run after this long whatever happens (load stopped, drain abandoned, results written; exit code 6); 0: no deadline")
	f.IntVar(&o.EmbeddedPool, "embedded-pool", 0, "run an embedded pool of N reference server processes on one PostgreSQL database instead of the in-process server (target.embedded.pool); users are spread over them")
	f.StringVar(&o.DB, "db", "", "the embedded pool's PostgreSQL database, postgres://USER@HOST/DB (default: target.embedded.db, else a throw-away cluster of Debian's postgresql package, which must be installed)")
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

// targetFlags names the scenario fields the target flags set, so that
// their problems name the flag.
var targetFlags = map[string]string{"target.lookup": "--target", "target.server": "--server", "target.admin": "--admin", "target.embedded.pool": "--embedded-pool"}

// targetSets are the --set overrides the target flags make: the scenario
// records the target it ran against (scenario.yaml) and validates it.
func targetSets(t target.Target) []string {
	var set []string
	if t.Lookup != "" {
		set = append(set, "target.lookup="+t.Lookup)
	}
	if t.Server() != "" {
		set = append(set, "target.server="+strings.Join(t.Servers, ","))
	}
	if t.Admin != "" {
		set = append(set, "target.admin="+t.Admin)
	}
	return set
}

func runRun(ctx context.Context, env *Env, o *RunOptions) error {
	level, err := parseLevel(o.LogLevel)
	if err != nil {
		return badInput(err)
	}
	sets := append(append([]string(nil), o.Set...), targetSets(o.Target)...)
	if o.EmbeddedPool != 0 {
		sets = append(sets, fmt.Sprintf("target.embedded.pool=%d", o.EmbeddedPool))
	}
	spec, err := loadSpec(o.Scenario, sets, targetFlags)
	if err != nil {
		return err
	}
	if o.DB != "" && spec.Target.Embedded.Pool == 0 {
		return badInput(errors.New("--db is the embedded pool's database: give --embedded-pool N too (or a scenario with target.embedded.pool)"))
	}
	if o.DB != "" && !postgres.IsURL(o.DB) {
		return badInput(fmt.Errorf("--db %q: want a postgres:// URL", postgres.Redact(o.DB)))
	}
	if err := checkFindMax(o, spec); err != nil {
		return err
	}
	if o.FindMax.Enabled {
		return runFindMax(ctx, env, o, spec, level)
	}
	if o.Coordinator != "" {
		return runShard(ctx, env, o, spec, level)
	}
	shardFlag := o.Shard
	if shardFlag == "" {
		shardFlag = "1/1"
	}
	shard, err := swarm.ParseShard(shardFlag)
	if err != nil {
		return badInput(err)
	}
	var start time.Time
	if o.StartAt != "" {
		if start, err = time.Parse(time.RFC3339, o.StartAt); err != nil {
			return badInput(fmt.Errorf("--start-at %q: want RFC 3339, e.g. 2026-11-21T10:00:00Z", o.StartAt))
		}
	}
	obs, err := newProgressObserver(env, o.Progress)
	if err != nil {
		return err
	}
	if o.Deadline < 0 {
		return badInput(fmt.Errorf("--deadline %s: must not be negative", o.Deadline))
	}
	out := outDir(env, o, spec, shard)
	streams, summaryOut, closeStreams, err := openStreams(env, o.Streams)
	if err != nil {
		return err
	}
	defer closeStreams()
	ctx, cancel := withDeadline(ctx, o.Deadline)
	defer cancel()
	res, err := loadrun.Run(ctx, spec, loadrun.Options{
		Target: withEnvToken(env, o.Target), Shard: shard, Start: start,
		Output: loadrun.Output{Dir: out, Report: true, Version: Version},
		Tick:   o.Tick, Observer: obs, MetricsAddr: o.Metrics, Now: env.Now,
		Logger:  slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level})),
		Measure: loadrun.Measure{ServerPID: o.ServerPID, ServerCores: o.ServerCores, ServerMetrics: o.ServerMetrics},
		Streams: streams,
		PoolDB:  o.DB, PoolLogs: env.Stderr,
	})
	if err != nil {
		return fromLibrary(err)
	}
	if err := closeStreams(); err != nil {
		fmt.Fprintf(env.Stderr, "gcload run: %v\n", err)
	}
	reports.WriteText(summaryOut, &res.Summary)
	fmt.Fprintf(summaryOut, "results: %s\n", out)
	return verdictCode(&res.Summary)
}

// outDir is --out, or results/SCENARIO-TIME[-shardI].
func outDir(env *Env, o *RunOptions, spec *scenarios.Spec, shard swarm.Shard) string {
	if o.Out != "" {
		return o.Out
	}
	out := filepath.Join("results", unsafeName.ReplaceAllString(spec.Name, "_")+"-"+env.Now().Format("20060102-150405"))
	if shard.Of > 1 {
		out += "-shard" + fmt.Sprint(shard.Index)
	}
	return out
}

// openStreams opens the files of --stream FORMAT=FILE and returns their
// sinks, where the summary goes (standard error when a stream takes
// standard output) and a function that closes the files (once; later
// calls return nil).
func openStreams(env *Env, specs []string) (sinks []reports.IntervalSink, summary io.Writer, closeAll func() error, err error) {
	summary = env.Stdout
	var files []*os.File
	closeAll = func() error {
		var errs []error
		for _, f := range files {
			if err := f.Close(); err != nil {
				errs = append(errs, fmt.Errorf("--stream %s: %w", f.Name(), err))
			}
		}
		files = nil
		return errors.Join(errs...)
	}
	seen := map[string]bool{}
	for _, spec := range specs {
		format, file, ok := strings.Cut(spec, "=")
		if !ok || file == "" {
			closeAll()
			return nil, nil, nil, badInput(fmt.Errorf("--stream %q: want FORMAT=FILE, e.g. json=intervals.jsonl or csv=- (standard output)", spec))
		}
		if format != "json" && format != "csv" {
			closeAll()
			return nil, nil, nil, badInput(fmt.Errorf("--stream %q: unknown format %q (want json or csv)", spec, format))
		}
		if seen[file] {
			closeAll()
			return nil, nil, nil, badInput(fmt.Errorf("--stream %q: %s is already the file of another --stream", spec, file))
		}
		seen[file] = true
		var w io.Writer
		if file == "-" {
			w, summary = env.Stdout, env.Stderr
		} else {
			f, err := os.Create(file)
			if err != nil {
				closeAll()
				return nil, nil, nil, badInput(fmt.Errorf("--stream %q: %w", spec, err))
			}
			files = append(files, f)
			w = f
		}
		if format == "json" {
			sinks = append(sinks, reports.NewJSONStream(w))
		} else {
			sinks = append(sinks, reports.NewCSVStream(w))
		}
	}
	return sinks, summary, closeAll, nil
}

// withDeadline bounds ctx, the load, and the drain it carries
// (loadrun.WithDrain) by d (none when d is 0).
func withDeadline(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		return ctx, func() {}
	}
	load, cancel1 := context.WithTimeoutCause(ctx, d, fmt.Errorf("the --deadline of %s passed", d))
	drain, cancel2 := context.WithTimeout(loadrun.Drain(ctx), d)
	return loadrun.WithDrain(load, drain), func() { cancel1(); cancel2() }
}

// fromLibrary attaches the exit code of bad input to the library's
// input errors.
func fromLibrary(err error) error {
	if errors.Is(err, loadrun.ErrInput) {
		return badInput(err)
	}
	if errors.Is(err, swarm.ErrUnreachable) {
		return withCode(reports.ExitUnreachable, err)
	}
	return err
}

// verdictCode is the exit code of a verdict: nil for a pass.
func verdictCode(s *reports.Summary) error {
	if _, code, _ := reports.Decide(s); code != reports.ExitPass {
		return errSilent{code}
	}
	return nil
}

// progressObserver shows a run's progress on standard error.
type progressObserver struct {
	env  *Env
	mode string // tty, plain or none
	prog *reports.Progress
}

// newProgressObserver is the display --progress asks for.
func newProgressObserver(env *Env, mode string) (*progressObserver, error) {
	switch mode {
	case "auto":
		mode = "plain"
		if env.IsTerminal {
			mode = "tty"
		}
	case "tty", "plain", "none":
	default:
		return nil, badInput(fmt.Errorf("--progress %q: want auto, tty, plain or none", mode))
	}
	return &progressObserver{env: env, mode: mode}, nil
}

func (p *progressObserver) Started(i loadrun.Info) {
	if i.MetricsURL != "" {
		fmt.Fprintf(p.env.Stderr, "gcload run: Prometheus metrics at %s\n", i.MetricsURL)
	}
	if p.mode != "none" {
		width := 0
		if p.env.Width != nil {
			width = p.env.Width()
		}
		p.prog = reports.NewProgress(p.env.Stderr, p.mode == "tty", i.Duration, width)
	}
	fmt.Fprintf(p.env.Stderr, "gcload run: %s (%d users, %d rooms, %s of phases, shard %s) against %s\n", i.Scenario, i.Users, i.Rooms, i.Duration, i.Shard, i.Target)
}

func (p *progressObserver) Tick(s reports.Snapshot) {
	if p.prog != nil {
		p.prog.Update(s)
	}
}

func (p *progressObserver) Done() {
	if p.prog != nil {
		p.prog.Done()
	}
}
