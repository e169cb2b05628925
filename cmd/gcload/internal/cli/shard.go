package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/gcload/gcload/coordinate"
	"github.com/gcload/gcload/internal/tlsconf"
	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
)

// runShard is gcload run --coordinator: one shard of a coordinated run.
// It registers with the coordinator, has its clock measured, waits for
// the shared start, runs its shard of the plan with its instants on the
// coordinator's clock, and sends its results folder (what there is when
// interrupted or stopped by the coordinator).
func runShard(ctx context.Context, env *Env, o *RunOptions, spec *scenarios.Spec, level slog.Level) error {
	if o.StartAt != "" {
		return badInput(errors.New("--start-at and --coordinator: the coordinator gives the start"))
	}
	index, of, err := coordinate.ShardIndex(o.Shard, func(name string) (string, bool) {
		v := env.getenv(name)
		return v, v != ""
	})
	if err != nil {
		return badInput(err)
	}
	hash, err := scenarioHash(spec)
	if err != nil {
		return err
	}
	obs, err := newProgressObserver(env, o.Progress)
	if err != nil {
		return err
	}
	if o.Deadline < 0 {
		return badInput(fmt.Errorf("--deadline %s: must not be negative", o.Deadline))
	}
	hc, err := coordinatorClient(o.CoordinatorCA)
	if err != nil {
		return badInput(err)
	}
	// this machine's clock as the offset is measured against it (a test
	// skews it: Env.clockSkew)
	skew := env.clockSkew
	clock := time.Now
	if skew != 0 {
		clock = func() time.Time { return time.Now().Add(skew) }
	}
	host, _ := os.Hostname()
	log := slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	c, err := coordinate.Dial(ctx, coordinate.ClientOptions{
		URL: o.Coordinator, Index: index, Of: of, Host: host, Version: Version, ScenarioHash: hash,
		Token: env.getenv(TokenEnv), HTTPClient: hc, Clock: clock, Logger: log,
	})
	var refused *coordinate.RefusedError
	if errors.As(err, &refused) {
		return badInput(err)
	} else if err != nil {
		return err
	}
	defer c.Close()
	_, of = c.Shard()
	shard := swarm.Shard{Index: index, Of: of}

	// the load stops on Ctrl-C (ctx) and when the coordinator says so
	load, stopLoad := context.WithCancelCause(ctx)
	defer stopLoad(nil)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-c.Aborted():
			stopLoad(fmt.Errorf("the coordinator stopped the run: %s", c.AbortReason()))
		case <-done:
		}
	}()
	defer func() { close(done); wg.Wait() }()
	lctx, cancel := withDeadline(loadrun.WithDrain(load, loadrun.Drain(ctx)), o.Deadline)
	defer cancel()
	// the shard joins the barrier once its plan is made and its rooms
	// provisioned: the 3 s between the start's announcement and the
	// start are not for preparing
	var joinErr error
	join := func(jctx context.Context) (time.Time, *loadrun.Clock, error) {
		fmt.Fprintf(env.Stderr, "gcload run: shard %s registered with %s; waiting for every shard to be ready\n", shard, o.Coordinator)
		st, err := c.Join(jctx)
		if err != nil {
			joinErr = err
			return time.Time{}, nil, err
		}
		fmt.Fprintf(env.Stderr, "gcload run: shard %s starts at %s (coordinator's clock); this machine's clock is %s off it\n",
			shard, st.At.UTC().Format(time.RFC3339Nano), st.Offset)
		// the start on time.Now's clock, which the run reads
		return st.Local.Add(-skew), &loadrun.Clock{Offset: st.Offset.Offset, Uncertainty: st.Offset.Uncertainty, RTT: st.Offset.RTT, Samples: st.Offset.Samples, Read: clock}, nil
	}
	out := outDir(env, o, spec, shard)
	streams, summaryOut, closeStreams, err := openStreams(env, o.Streams)
	if err != nil {
		return err
	}
	defer closeStreams()
	res, err := loadrun.Run(lctx, spec, loadrun.Options{
		Target: withEnvToken(env, o.Target), Shard: shard, Join: join,
		Output: loadrun.Output{Dir: out, Report: true, Version: Version},
		Tick:   o.Tick, Observer: obs, MetricsAddr: o.Metrics, Now: env.Now, Logger: log,
		Measure: loadrun.Measure{ServerPID: o.ServerPID, ServerCores: o.ServerCores, ServerMetrics: o.ServerMetrics},
		Streams: streams,
	})
	if err != nil {
		// the coordinator hears why (a refused start it knows already)
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if ctx.Err() != nil && joinErr != nil {
			err = fmt.Errorf("interrupted before the start: %w", context.Cause(ctx))
		}
		if !errors.As(joinErr, &refused) {
			_ = c.Fail(fctx, err)
		}
		cancel()
		if errors.As(joinErr, &refused) {
			return withCode(reports.ExitUnreachable, fmt.Errorf("no work done: %w", err))
		}
		return fromLibrary(err)
	}
	if err := closeStreams(); err != nil {
		fmt.Fprintf(env.Stderr, "gcload run: %v\n", err)
	}
	reports.WriteText(summaryOut, &res.Summary)
	fmt.Fprintf(summaryOut, "results: %s\n", out)
	if err := c.Upload(loadrun.Drain(ctx), out); err != nil {
		return fmt.Errorf("sending the results to %s: %w", o.Coordinator, err)
	}
	fmt.Fprintf(env.Stderr, "gcload run: results sent to %s\n", o.Coordinator)
	return verdictCode(&res.Summary)
}

// coordinatorClient is the HTTP client of a shard: one trusting the CA in
// the PEM file ca, or nil (the coordinate package's default) without one.
func coordinatorClient(ca string) (*http.Client, error) {
	if ca == "" {
		return nil, nil
	}
	pool, err := tlsconf.LoadPool(ca)
	if err != nil {
		return nil, fmt.Errorf("--coordinator-ca: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}
