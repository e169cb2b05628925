package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gcload/gcload/capacity"
	"github.com/gcload/gcload/internal/pgcluster"
	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/embedded"
	"github.com/gcload/gcload/scenarios"
	"github.com/jackc/pgx/v5"
)

// PoolPointOptions say what pool run gcload calibrate --pool measures.
type PoolPointOptions struct {
	Servers  int
	Size     int // room size
	Load     int // posts/s
	Steady   time.Duration
	IdleTime time.Duration // idle CPU measured over this before the load
}

// poolSample is every pool server's CPU and PostgreSQL's at one instant.
type poolSample struct {
	at      time.Time
	servers []float64
	db      float64
}

// calibratePool measures a pool: a throw-away PostgreSQL cluster, o.Servers
// reference server processes on it (an embedded pool: gcload serve's
// server with a round-robin lookup and its default heartbeat), their idle
// CPU and the database's over o.IdleTime, then a run posting o.Load posts/s
// into two rooms of o.Size whose members are spread over the servers, each
// server's CPU and the database's read from /proc every 250 ms over the
// posting window. The run's results folder is out.
func calibratePool(ctx context.Context, env *Env, out string, o PoolPointOptions) (capacity.PoolRun, error) {
	if _, err := pgcluster.FindBin(); err != nil {
		return capacity.PoolRun{}, err
	}
	run := capacity.PoolRun{Servers: o.Servers, Time: env.Now().UTC()}
	run.LoadAverage[0] = loadAverage()
	cl, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		return run, err
	}
	defer func() { _ = cl.Stop() }()
	for _, db := range []string{"gcload", "calibrate"} {
		if err := cl.CreateDatabase(ctx, db); err != nil {
			return run, err
		}
	}
	// the database's commit as a pool server makes it, before the servers
	// start: what the model takes for the commit and the hop to the other
	// servers in place of the sweep's sync-write loop
	if run.DBCommitMeanUs, run.DBCommitP99Us, run.DBNotifyMeanUs, run.DBNotifyP99Us, err = dbCommitMicro(ctx, cl.URL("calibrate"), 200); err != nil {
		return run, fmt.Errorf("the database's commit: %w", err)
	}
	pool, err := embedded.StartPool(ctx, embedded.PoolOptions{Servers: o.Servers, DB: cl.URL("gcload"), Lookup: "round-robin",
		Heartbeat: refserver.DefaultHeartbeat, TTL: refserver.DefaultServerTTL, Logs: env.Stderr})
	if err != nil {
		return run, err
	}
	defer func() { _ = pool.Close() }()
	read := func() poolSample {
		s := poolSample{at: time.Now(), db: cl.CPU().Seconds()}
		for _, srv := range pool.Servers {
			s.servers = append(s.servers, srv.CPU().Seconds())
		}
		return s
	}
	// idle: every server heartbeating and reading the live servers, the
	// database answering them
	idle0 := read()
	select {
	case <-ctx.Done():
		return run, ctx.Err()
	case <-time.After(o.IdleTime):
	}
	idle1 := read()
	idleWall := idle1.at.Sub(idle0.at).Seconds()
	dbIdle := (idle1.db - idle0.db) / idleWall
	for i := range idle1.servers {
		run.PerServerIdleCores = append(run.PerServerIdleCores, (idle1.servers[i]-idle0.servers[i])/idleWall)
	}

	tmp, err := os.MkdirTemp("", "gcload-calibrate-pool-*")
	if err != nil {
		return run, err
	}
	defer os.RemoveAll(tmp)
	cores := runtime.NumCPU()
	if g, err := strconv.Atoi(os.Getenv("GOMAXPROCS")); err == nil && g > 0 {
		cores = min(g, cores)
	}
	file := filepath.Join(tmp, "scenario.yaml")
	sc := scenarioFor(point{o.Size, o.Load, cores}, o.Steady)
	sc = []byte(strings.Replace(string(sc), "name: calibrate-", fmt.Sprintf("name: calibrate-pool%d-", o.Servers), 1))
	if err := os.WriteFile(file, sc, 0o644); err != nil {
		return run, err
	}
	spec, _, err := scenarios.Load(file, nil)
	if err != nil {
		return run, badInput(err)
	}

	var (
		mu      sync.Mutex
		samples []poolSample
		stop    = make(chan struct{})
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			s := read()
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	res, err := loadrun.Run(ctx, spec, loadrun.Options{
		Target: pool.Target(), Output: loadrun.Output{Dir: out, Report: true, Version: Version},
		Tick: 250 * time.Millisecond, Now: env.Now,
	})
	close(stop)
	wg.Wait()
	if err != nil {
		return run, fromLibrary(err)
	}
	samples = append(samples, read())
	var rm loadrun.Measurement
	if err := json.Unmarshal(res.Extra[loadrun.FileMeasurement], &rm); err != nil {
		return run, fmt.Errorf("%s: %w", loadrun.FileMeasurement, err)
	}
	run.Measurement = rm.Measurement
	run.Name, run.Cores = spec.Name, cores
	// the run's commit count is the first server's admin API's alone, and
	// its server figures are not the pool's: the pool's are below
	run.Fsyncs, run.DiskWriteBytes, run.MemBytesPerUser = 0, 0, 0

	// the posting window: the steady phase, from the last sample before it
	// to the first after it (every delivery of its last post in)
	var from, to time.Time
	for _, ph := range res.Summary.Phases {
		if ph.Name == "steady" {
			from = res.Summary.Start.Add(time.Duration(ph.StartS * float64(time.Second)))
			to = from.Add(time.Duration(ph.Seconds * float64(time.Second)))
		}
	}
	if from.IsZero() || len(samples) < 2 {
		return run, fmt.Errorf("calibrate: pool run: no steady phase or no samples (%d)", len(samples))
	}
	a, b := samples[0], samples[len(samples)-1]
	for _, s := range samples {
		if !s.at.After(from) {
			a = s
		}
	}
	for i := len(samples) - 1; i >= 0; i-- {
		if !samples[i].at.Before(to) {
			b = samples[i]
		}
	}
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return run, fmt.Errorf("calibrate: pool run: an empty window")
	}
	run.ServerCPUSeconds = 0
	for i := range b.servers {
		c := max(b.servers[i]-a.servers[i]-run.PerServerIdleCores[i]*wall, 0)
		run.PerServerCPUSeconds = append(run.PerServerCPUSeconds, c)
		run.ServerCPUSeconds += c
	}
	run.DatabaseCPUSeconds = max(b.db-a.db-dbIdle*wall, 0)
	run.LoadAverage[1] = loadAverage()
	return run, nil
}

// loadAverage is the machine's one-minute load average (0 when unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	x, _ := strconv.ParseFloat(f[0], 64)
	return x
}

// printPool prints the pool run and its validation.
func printPool(env *Env, cal capacity.Calibration, r capacity.PoolRun) {
	per := make([]string, len(r.PerServerCPUSeconds))
	for i, c := range r.PerServerCPUSeconds {
		per[i] = fmt.Sprintf("%.3g", c)
	}
	fmt.Fprintf(env.Stdout, "pool: %d servers, rooms of %d at %.1f posts/s (%.0f achieved, %.0f deliveries/s) over %.1f s: servers' CPU %.3g s (%s; idle taken out), PostgreSQL %.3g s, p99 post→last delivery %.2f ms, generator valid %v, load average %.2f..%.2f\n",
		r.Servers, r.RoomSize, r.OfferedPostsPerSec, r.AchievedPostsPerSec, r.DeliveriesPerSec, r.WallSeconds, r.ServerCPUSeconds, strings.Join(per, " + "),
		r.DatabaseCPUSeconds, r.Latency.PostLastDeliveryP99/1000, r.GeneratorValid, r.LoadAverage[0], r.LoadAverage[1])
	if len(cal.Measurements) == 0 {
		return
	}
	v, err := capacity.ValidatePoolRun(cal, r, 0)
	if err != nil {
		fmt.Fprintf(env.Stdout, "pool run validation: %v\n", err)
		return
	}
	fmt.Fprintf(env.Stdout, "pool run validation: %s. %s\n", strings.ToUpper(string(v.Status)), v.Sentence)
}

// measurePool runs the --pool-runs pool runs of --pool, each on a fresh
// cluster and pool (OUT/pool-N/), and prints each with its prediction.
func (o *CalibrateOptions) measurePool(ctx context.Context, env *Env, out string, cal capacity.Calibration) ([]capacity.PoolRun, error) {
	var runs []capacity.PoolRun
	for i := range o.PoolRuns {
		fmt.Fprintf(env.Stderr, "gcload calibrate: pool run %d of %d: %d servers on a throw-away PostgreSQL, rooms of %d at %d posts/s\n", i+1, o.PoolRuns, o.Pool, o.PoolSize, o.PoolLoad)
		r, err := calibratePool(ctx, env, filepath.Join(out, fmt.Sprintf("pool-%d", i+1)), PoolPointOptions{Servers: o.Pool, Size: o.PoolSize, Load: o.PoolLoad, Steady: o.Steady, IdleTime: 2 * time.Second})
		if err != nil {
			if ctx.Err() != nil {
				return nil, withCode(6, ctx.Err())
			}
			return nil, fmt.Errorf("calibrate: pool of %d, run %d: %w", o.Pool, i+1, err)
		}
		printPool(env, cal, r)
		runs = append(runs, r)
	}
	if len(cal.Measurements) > 0 {
		v, err := capacity.ValidatePool(cal, runs, 0)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(env.Stdout, "pool validation: %s. %s\n", strings.ToUpper(string(v.Status)), v.Sentence)
	}
	return runs, nil
}

// calibratePoolOnly measures the pool runs and puts them in the
// calibration in --out (replacing any pool runs it had).
func calibratePoolOnly(ctx context.Context, env *Env, o *CalibrateOptions) error {
	if o.Out == "" {
		return badInput(errors.New("--pool-only: give --out, the folder of the calibration to add the pool runs to"))
	}
	cal, err := capacity.LoadCalibration(o.Out)
	if err != nil {
		return badInput(fmt.Errorf("--pool-only: %w (run gcload calibrate first)", err))
	}
	runs, err := o.measurePool(ctx, env, o.Out, cal)
	if err != nil {
		return err
	}
	cal.Pool = runs
	if err := capacity.SaveCalibration(o.Out, cal); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "calibration: %s (next: gcload capacity %s)\n", filepath.Join(o.Out, capacity.CalibrationFile), o.Out)
	return nil
}

// dbCommitMicro times n commits on the database at url as a pool server
// makes them: one transaction inserting a 500-byte row and notifying a
// channel with the row (the post carried to the other servers), then
// committing. It returns the commit's latency (begin to commit answered)
// and the notification's (begin to a listener on another connection
// receiving it), mean and p99, in µs.
func dbCommitMicro(ctx context.Context, url string, n int) (commitMean, commitP99, notifyMean, notifyP99 float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	w, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer w.Close(context.Background())
	l, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer l.Close(context.Background())
	if _, err := w.Exec(ctx, "CREATE TABLE calibrate_commit (id bigserial PRIMARY KEY, body text NOT NULL)"); err != nil {
		return 0, 0, 0, 0, err
	}
	if _, err := l.Exec(ctx, "LISTEN calibrate_commit"); err != nil {
		return 0, 0, 0, 0, err
	}
	body := strings.Repeat("x", 500)
	commits, notes := make([]float64, 0, n), make([]float64, 0, n)
	for range n {
		t0 := time.Now()
		tx, err := w.Begin(ctx)
		if err != nil {
			return 0, 0, 0, 0, err
		}
		if _, err := tx.Exec(ctx, "INSERT INTO calibrate_commit (body) VALUES ($1)", body); err != nil {
			_ = tx.Rollback(ctx)
			return 0, 0, 0, 0, err
		}
		if _, err := tx.Exec(ctx, "SELECT pg_notify('calibrate_commit', $1)", body); err != nil {
			_ = tx.Rollback(ctx)
			return 0, 0, 0, 0, err
		}
		if err := tx.Commit(ctx); err != nil {
			return 0, 0, 0, 0, err
		}
		commits = append(commits, float64(time.Since(t0).Microseconds()))
		if _, err := l.WaitForNotification(ctx); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("waiting for the notification: %w", err)
		}
		notes = append(notes, float64(time.Since(t0).Microseconds()))
	}
	if _, err := w.Exec(ctx, "DROP TABLE calibrate_commit"); err != nil {
		return 0, 0, 0, 0, err
	}
	stat := func(xs []float64) (mean, p99 float64) {
		slices.Sort(xs)
		for _, x := range xs {
			mean += x
		}
		return mean / float64(len(xs)), xs[min(len(xs)-1, len(xs)*99/100)]
	}
	commitMean, commitP99 = stat(commits)
	notifyMean, notifyP99 = stat(notes)
	return commitMean, commitP99, notifyMean, notifyP99, nil
}
