package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/gcload/gcload/coordinate"
	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
	"github.com/gcload/gcload/target"
	"github.com/spf13/cobra"
)

// TokenEnv is the environment variable that holds a coordinated run's
// token: when the coordinator has one, every shard must present it to
// register, and the merged results are served only to who presents it.
const TokenEnv = "GCLOAD_COORDINATOR_TOKEN"

// resultsMargin is what the default --results-timeout gives a shard, past
// its planned phases, drain and last SIP timeout, to write its results
// and send them.
const resultsMargin = 2 * time.Minute

// CoordinateOptions are the flags of gcload coordinate.
type CoordinateOptions struct {
	Scenario string
	// Target is --target, --server and --admin: the shards' target as
	// their scenario records it (the scenario's hash covers it).
	Target         target.Target
	Set            []string
	Shards         int
	Listen         string
	Out            string
	TLSCert        string
	TLSKey         string
	ReadyTimeout   time.Duration
	ResultsTimeout time.Duration
	// Silence and LostGrace: how long a shard may be silent, and silent
	// after a connection of its closed, before it is declared dead
	Silence, LostGrace time.Duration
	ServeResults       time.Duration
	LogLevel           string
}

// NewCmdCoordinate builds `gcload coordinate`.
func NewCmdCoordinate(env *Env, runF func(*CoordinateOptions) error) *cobra.Command {
	o := &CoordinateOptions{}
	cmd := &cobra.Command{
		Use:   "coordinate SCENARIO --shards N --listen HOST:PORT --out DIR",
		Short: "Coordinate the shards of a distributed run: start them together, merge and judge their results",
		Long: `Coordinate a run of SCENARIO over N shards, each a "gcload run SCENARIO
--coordinator URL" on any machine (or a pod of a Kubernetes Indexed Job:
gcload k8s render). The shards register over HTTP (HTTPS with --tls-cert
and --tls-key); the coordinator measures each one's clock offset, gives
every shard the same start once all N are ready (or ends with an error
naming the missing ones after --ready-timeout), watches them run
(heartbeats: a shard that dies is named), receives each one's results
folder, merges them exactly as "gcload merge" does, applies the scenario's
thresholds to the merged result, and writes one results folder and report
to --out (the shards' own folders under --out/shards). Its exit code is the
merged verdict's; a shard that died is named in the verdict, and such a run
never passes (its planned work was not done).

Every shard must run the same scenario with the same --set overrides and
target flags as the coordinator (their hash is compared at registration),
and gcload's version. With $` + TokenEnv + ` set, shards must present the
same token. --serve-results keeps serving the merged folder after the
verdict (GET /v1/merged: a tar.gz; /v1/merged/FILE: one file), for a pod
whose results are not on a shared volume.

Ctrl-C (or SIGTERM) asks the shards to stop their load and send what they
have; the merged result is then aborted. A second one ends at once.`,
		Example: `  gcload coordinate peak --shards 3 --listen :8440 --out results/peak \
      --target sip:ocschat@example.com --server gc.example.com:5061
  # then on each of three machines, i = 1, 2, 3:
  gcload run peak --coordinator http://coord.example.com:8440 --shard $i \
      --target sip:ocschat@example.com --server gc.example.com:5061`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Scenario = args[0]
			if runF != nil {
				return runF(o)
			}
			return runCoordinate(cmd.Context(), env, o)
		},
	}
	f := cmd.Flags()
	addTargetFlags(f, &o.Target)
	// the coordinator does not call the admin API: the shards provision
	_ = f.MarkHidden("admin-token")
	f.StringArrayVar(&o.Set, "set", nil, "override a scenario field: KEY=VALUE (repeatable); the shards must give the same")
	f.IntVar(&o.Shards, "shards", 0, "number of shards, N (required)")
	f.StringVar(&o.Listen, "listen", "", "address to serve the shards on, HOST:PORT or :PORT (required)")
	f.StringVar(&o.Out, "out", "", "folder for the merged results (the shards' under DIR/shards); must not hold results (default results/SCENARIO-TIME)")
	f.StringVar(&o.TLSCert, "tls-cert", "", "PEM certificate (chain) to serve HTTPS with; the shards need --coordinator https://... and its CA (--coordinator-ca)")
	f.StringVar(&o.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.DurationVar(&o.ReadyTimeout, "ready-timeout", coordinate.DefaultReadyTimeout, "how long to wait for every shard to register and be ready before giving up, naming the missing")
	f.DurationVar(&o.Silence, "heartbeat-timeout", coordinate.DefaultHeartbeatTimeout, "a running shard silent this long (no heartbeat, sent every second) is declared dead")
	f.DurationVar(&o.LostGrace, "lost-grace", coordinate.DefaultLostGrace, "a running shard whose connection closed and that is silent this long after is declared dead (a killed process); give more on a machine so busy that a shard's heartbeats come late")
	f.DurationVar(&o.ResultsTimeout, "results-timeout", 0, "how long after the start every shard's results must have arrived; a shard whose have not is dead (default: the scenario's phases, drain and SIP timeout, plus "+resultsMargin.String()+")")
	f.DurationVar(&o.ServeResults, "serve-results", 0, "after the verdict, serve the merged results folder for this long on --listen (GET /v1/merged: a tar.gz; /v1/merged/FILE), then exit; 0: do not")
	f.StringVar(&o.LogLevel, "log-level", "info", "log level of the coordinator's events on standard error: debug, info, warn, error")
	return cmd
}

// scenarioHash identifies a scenario as it runs, overrides and target
// included: the coordinator and its shards compute it from the scenario
// they loaded, and a shard whose differs is refused at registration.
func scenarioHash(spec *scenarios.Spec) (string, error) {
	yml, err := spec.YAML()
	if err != nil {
		return "", err
	}
	return coordinate.HashScenario(yml, nil), nil
}

// tlsServerConfig loads --tls-cert and --tls-key (nil without them).
func tlsServerConfig(cert, key string) (*tls.Config, error) {
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, errors.New("--tls-cert and --tls-key go together")
	}
	c, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", cert, key, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}, nil
}

func runCoordinate(ctx context.Context, env *Env, o *CoordinateOptions) error {
	level, err := parseLevel(o.LogLevel)
	if err != nil {
		return badInput(err)
	}
	switch {
	case o.Shards < 1:
		return badInput(fmt.Errorf("--shards %d: want the number of shards, 1 or more", o.Shards))
	case o.Listen == "":
		return badInput(errors.New("--listen: required (HOST:PORT or :PORT, where the shards reach the coordinator)"))
	case o.ReadyTimeout <= 0 || o.ResultsTimeout < 0 || o.ServeResults < 0 || o.Silence <= 0 || o.LostGrace <= 0:
		return badInput(errors.New("--ready-timeout, --results-timeout and --serve-results must be positive"))
	}
	spec, err := loadSpec(o.Scenario, append(append([]string(nil), o.Set...), targetSets(o.Target)...), targetFlags)
	if err != nil {
		return err
	}
	if o.Shards > 1 && loadrun.TargetOf(spec).Embedded() {
		return badInput(fmt.Errorf("%s: no target: the shards need one shared server (target.lookup and target.server in the scenario, --set, or --target and --server); the embedded server serves one process only", o.Scenario))
	}
	plan, err := swarm.NewPlan(spec)
	if err != nil {
		return badInput(err)
	}
	hash, err := scenarioHash(spec)
	if err != nil {
		return err
	}
	tlsConf, err := tlsServerConfig(o.TLSCert, o.TLSKey)
	if err != nil {
		return badInput(err)
	}
	out := o.Out
	if out == "" {
		out = filepath.Join("results", unsafeName.ReplaceAllString(spec.Name, "_")+"-"+env.Now().Format("20060102-150405"))
	}
	if _, err := os.Stat(filepath.Join(out, reports.FileSummary)); err == nil {
		return badInput(fmt.Errorf("--out %s already holds results: give a new folder", out))
	}
	resultsTimeout := o.ResultsTimeout
	if resultsTimeout == 0 {
		resultsTimeout = plan.Duration + spec.Drain.D() + spec.Limits.Timeout.D() + time.Second + resultsMargin
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	token := env.getenv(TokenEnv)
	srv, err := coordinate.NewServer(coordinate.Options{
		Shards: o.Shards, ScenarioHash: hash, Version: Version, Dir: filepath.Join(out, "shards"), Token: token, TLSConfig: tlsConf,
		ReadyTimeout: o.ReadyTimeout, ResultsTimeout: resultsTimeout, HeartbeatTimeout: o.Silence, LostGrace: o.LostGrace,
		CheckResults: func(index int, dir string) error { return checkShardResults(dir, index, o.Shards, hash) },
		Logger:       log,
	})
	if err != nil {
		return badInput(err)
	}
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return badInput(fmt.Errorf("--listen %s: %w", o.Listen, err))
	}
	addr := ln.Addr().String()
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	fmt.Fprintf(env.Stderr, "gcload coordinate: %s, %d shards, waiting for them at %s://%s (gcload run %s --coordinator URL)\n", spec.Name, o.Shards, scheme, addr, o.Scenario)

	// the first interrupt asks the shards to stop and send what they
	// have; the second (Drain's context) stops waiting for them
	finished := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			srv.Abort(context.Cause(ctx).Error())
		case <-finished:
		}
	}()
	oc, runErr := srv.Run(loadrun.Drain(ctx), ln)
	close(finished)
	wg.Wait()
	var be *coordinate.BarrierError
	switch {
	case errors.As(runErr, &be):
		return withCode(reports.ExitUnreachable, fmt.Errorf("no work done: %w", runErr))
	case errors.Is(runErr, coordinate.ErrAborted):
		return withCode(reports.ExitAborted, runErr)
	case runErr != nil && oc.Start.IsZero():
		return runErr
	}
	shards, dirs := shardStatuses(oc, runErr)
	if len(dirs) == 0 {
		s := reports.Summary{Scenario: spec.Name, Shards: shards, Generator: reports.Generator{Valid: true}}
		_, code, reasons := reports.Decide(&s)
		for _, r := range reasons {
			fmt.Fprintf(env.Stdout, "  - %s\n", r)
		}
		return withCode(code, errors.New("no shard sent its results: nothing to merge"))
	}
	res, err := loadrun.Merge(context.WithoutCancel(ctx), dirs, loadrun.MergeOptions{
		Output: loadrun.Output{Dir: out, Report: true, Version: Version},
		Shards: shards,
	})
	if err != nil {
		return fromLibrary(err)
	}
	reports.WriteText(env.Stdout, &res.Summary)
	fmt.Fprintf(env.Stdout, "results: %s\n", out)
	if o.ServeResults > 0 && loadrun.Drain(ctx).Err() == nil {
		// until the next interrupt: the first, or the second when the
		// first stopped the run
		sctx := ctx
		if ctx.Err() != nil {
			sctx = loadrun.Drain(ctx)
		}
		if err := serveMerged(sctx, env, o, addr, scheme, out, token, tlsConf, oc, log); err != nil {
			fmt.Fprintf(env.Stderr, "gcload coordinate: %v\n", err)
		}
	}
	return verdictCode(&res.Summary)
}

// checkShardResults vets a shard's upload before the coordinator accepts
// it: a results folder, of that shard, of the coordinator's scenario as it
// runs (the merge would refuse it at the end, with the run over).
func checkShardResults(dir string, index, shards int, hash string) error {
	res, err := reports.ReadResults(dir)
	if err != nil {
		return err
	}
	if want := fmt.Sprintf("%d/%d", index, shards); res.Summary.Shard != want {
		return fmt.Errorf("these are the results of shard %s, not %s", res.Summary.Shard, want)
	}
	if coordinate.HashScenario(res.ScenarioYAML, nil) != hash {
		return fmt.Errorf("its %s is not the scenario the coordinator runs", reports.FileScenario)
	}
	return nil
}

// shardStatuses turns what the coordinator saw into the merged summary's
// shards, and the received folders in shard order. A shard still running
// when the coordinator stopped waiting (a second interrupt) is missing.
func shardStatuses(oc *coordinate.Outcome, runErr error) ([]reports.ShardStatus, []string) {
	var shards []reports.ShardStatus
	var dirs []string
	for _, sh := range oc.Shards {
		st := reports.ShardStatus{Index: sh.Index, Of: len(oc.Shards), Host: sh.Host, Addr: sh.Addr, Dir: sh.Dir}
		if off := sh.Offset; off != nil {
			st.Clock = reports.ClockOffsetOf(off.Offset, off.Uncertainty, off.RTT, off.Samples)
		}
		if off := sh.EndOffset; off != nil {
			st.EndClock = reports.ClockOffsetOf(off.Offset, off.Uncertainty, off.RTT, off.Samples)
		}
		switch sh.State {
		case coordinate.StateDone:
			st.State = reports.ShardDone
			dirs = append(dirs, sh.Dir)
		case coordinate.StateDead:
			st.State, st.Why = reports.ShardDead, sh.Dead
		default:
			st.State, st.Why = reports.ShardMissing, fmt.Sprintf("%s when the coordinator stopped waiting", sh.State)
			if runErr != nil {
				st.Why += ": " + runErr.Error()
			}
		}
		shards = append(shards, st)
	}
	sort.Strings(dirs) // shard-1, shard-2...: the order the summary names them in
	return shards, dirs
}

// serveMerged serves the merged folder on the coordinator's address for
// --serve-results (or until interrupted).
func serveMerged(ctx context.Context, env *Env, o *CoordinateOptions, addr, scheme, dir, token string, tlsConf *tls.Config, oc *coordinate.Outcome, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serving the results on %s: %w", addr, err)
	}
	h := coordinate.Health{Shards: len(oc.Shards), States: map[coordinate.State]int{}, Started: !oc.Start.IsZero()}
	for _, sh := range oc.Shards {
		h.States[sh.State]++
	}
	fmt.Fprintf(env.Stderr, "gcload coordinate: serving the results for %s at %s://%s%s (a tar.gz; %s/report.html...); Ctrl-C to stop\n", o.ServeResults, scheme, addr, coordinate.PathMerged, coordinate.PathMerged)
	sctx, cancel := context.WithTimeout(ctx, o.ServeResults)
	defer cancel()
	return coordinate.ServeFolder(sctx, ln, dir, coordinate.FolderOptions{Token: token, TLSConfig: tlsConf, Health: h, Logger: log})
}
