package capacity

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// PoolRun is a measured run of a pool: Servers reference server processes
// on one PostgreSQL database, the users spread over them (a round-robin
// lookup, so each room has members on every server), posting at a known
// rate (gcload calibrate --pool). Measurement holds the run's window,
// rates, latency and validity as for a sweep point, with
// ServerCPUSeconds the servers' CPU summed (each server's idle CPU taken
// out) and Cores each server's GOMAXPROCS. The pool run is never fitted:
// it is what ValidatePool predicts.
type PoolRun struct {
	Measurement
	// Servers is the pool's size.
	Servers int `json:"servers"`
	// PerServerCPUSeconds is each server's CPU over the window, idle
	// taken out; PerServerIdleCores its idle CPU (CPU seconds per second,
	// measured before the load and subtracted).
	PerServerCPUSeconds []float64 `json:"per_server_cpu_seconds"`
	PerServerIdleCores  []float64 `json:"per_server_idle_cores"`
	// DatabaseCPUSeconds is PostgreSQL's CPU (the postmaster and its
	// backends) over the window, idle taken out; not predicted (the model
	// does not model the database's CPU), shown beside.
	DatabaseCPUSeconds float64 `json:"database_cpu_seconds"`
	// DBCommit* is the database's commit as a pool server makes it (a
	// row inserted and a notification carrying it, committed), timed 200
	// times before the servers start; DBNotify* is from the transaction's
	// start to a listener on another connection receiving the
	// notification (the hop to the other servers). Mean and p99, µs; 0
	// when not measured (the sweep's sync-write loop is used instead).
	DBCommitMeanUs float64 `json:"db_commit_mean_us,omitempty"`
	DBCommitP99Us  float64 `json:"db_commit_p99_us,omitempty"`
	DBNotifyMeanUs float64 `json:"db_notify_mean_us,omitempty"`
	DBNotifyP99Us  float64 `json:"db_notify_p99_us,omitempty"`
	// Time is when the run started; LoadAverage the machine's one-minute
	// load average before and after it (other work shares the CPUs).
	Time        time.Time  `json:"time"`
	LoadAverage [2]float64 `json:"load_average"`
}

// PoolCheck is one quantity of a pool validation: predicted against
// measured, with its target and status (green within the target, amber
// within FarOff times it, red beyond).
type PoolCheck struct {
	Metric    Metric  `json:"metric"`
	Measured  float64 `json:"measured"`
	Predicted float64 `json:"predicted"`
	// RelError is (predicted − measured) / measured.
	RelError float64 `json:"rel_error"`
	Target   float64 `json:"target"`
	Status   Status  `json:"status"`
	Sentence string  `json:"sentence"`
	// Runs and MeanAbs, over several runs (PoolValidation): the runs
	// validated and the mean |relative error| the status is judged on;
	// Measured, Predicted and RelError are then the means.
	Runs    int     `json:"runs,omitempty"`
	MeanAbs float64 `json:"mean_abs_error,omitempty"`
}

// PoolRunValidation is the pool model's prediction of one measured pool
// run, from the calibration sweep of one server.
type PoolRunValidation struct {
	Run PoolRun `json:"run"`
	// Factor is the servers' CPU per delivery in the pool against one
	// server's (PoolCPUPerDelivery's central value unless given).
	Factor float64 `json:"factor"`
	// CPU is the servers' CPU over the window (all servers together),
	// Latency the p99 post → last delivery.
	CPU     PoolCheck `json:"cpu"`
	Latency PoolCheck `json:"latency"`
	// Status is the worse of the two; red when the run could not be
	// validated (Sentence says why).
	Status   Status `json:"status"`
	Sentence string `json:"sentence"`
}

// ValidatePoolRun predicts the measured pool run from the calibration's
// one-server sweep (the model fitted on every sweep run; the pool run is
// not among them) and compares:
//
//   - the servers' CPU: posts × D(k) × factor, where D is the chosen CPU
//     form at the pool's fan-out and factor the pool's CPU per delivery
//     against one server's (rooms spread over the servers: each server
//     renders and sends its share of every post and takes in the others'
//     posts through the database's notifications);
//   - p99 post → last delivery: the latency model of one server of the
//     pool on this machine (its cores, Allen-Cunneen queueing), each post
//     costing factor × D(k) ÷ servers of that server's CPU at the pool's
//     whole post rate (every server takes part in every post), the
//     fan-out part done in parallel on the servers, the commit at the
//     database's commit latency measured before the run (the sweep's
//     sync-write loop when it was not), the notification's hop to the
//     other servers beyond the commit, and the sweep's latency tail.
//
// Targets: CPUTarget (10%) and LatencyTarget (20%), as for the sweep.
// factor ≤ 0 takes PoolCPUPerDelivery.Mid, or 1 for a pool of one server
// (nothing is spread: the one server on PostgreSQL against the sweep's).
func ValidatePoolRun(cal Calibration, run PoolRun, factor float64) (PoolRunValidation, error) {
	if factor <= 0 {
		factor = PoolCPUPerDelivery.Mid
		if run.Servers == 1 {
			factor = 1
		}
	}
	v := PoolRunValidation{Run: run, Factor: factor, Status: StatusRed}
	v.CPU = PoolCheck{Metric: MetricCPU, Measured: run.ServerCPUSeconds, Target: CPUTarget, Status: StatusRed}
	v.Latency = PoolCheck{Metric: MetricLatency, Measured: run.Latency.PostLastDeliveryP99, Target: LatencyTarget, Status: StatusRed}
	switch {
	case run.Servers < 1:
		return v, errors.New("pool run: no servers")
	case !run.GeneratorValid:
		v.Sentence = fmt.Sprintf("Pool of %d not validated: the load generator was the bottleneck of the measured run (%s).", run.Servers, strings.Join(run.InvalidReasons, "; "))
		return v, nil
	case !(run.Posts() > 0) || !(run.ServerCPUSeconds > 0):
		v.Sentence = fmt.Sprintf("Pool of %d not validated: the measured run has no posts or no server CPU.", run.Servers)
		return v, nil
	}
	m, err := Fit(cal)
	if err != nil {
		return v, fmt.Errorf("pool validation: %w", err)
	}
	cores := run.Cores
	if cores < 1 {
		cores = 1
	}
	k := run.FanOut()
	e := m.localEngine(cores)
	v.CPU.Predicted = factor * e.cpuUs(k, mid) * 1e-6 * run.Posts()
	e.cpuScale = factor / float64(run.Servers)
	if run.DBCommitMeanUs > 0 && run.DBCommitP99Us >= run.DBCommitMeanUs {
		// the commit is the database's, and a post reaches the members on
		// the other servers through its notification
		e.h.fsync, e.h.fsyncP99 = Point(run.DBCommitMeanUs*1e-6), Point(run.DBCommitP99Us*1e-6)
		if run.Servers > 1 {
			e.hop = math.Max(run.DBNotifyP99Us-run.DBCommitP99Us, 0) * 1e-6
		}
	}
	_, last := e.latency(runMix(run.Measurement), run.AchievedPostsPerSec, mid, 0.99)
	v.Latency.Predicted = last * 1e6
	v.CPU.judge("servers' CPU", fmtCPUSeconds)
	v.Latency.judge("p99 post→last delivery", fmtDur)
	v.Status = worse(v.CPU.Status, v.Latency.Status)
	v.Sentence = fmt.Sprintf("Pool of %d servers on PostgreSQL, rooms of %s at %s posts/s (%s deliveries/s), predicted from the one-server sweep with %.2f× its CPU per delivery: %s %s",
		run.Servers, num(k), num(run.AchievedPostsPerSec), num(run.DeliveriesPerSec), factor, v.CPU.Sentence, v.Latency.Sentence)
	return v, nil
}

// PoolValidation is the pool model against every measured pool run: each
// run predicted (ValidatePoolRun), and the mean |relative error| over the
// runs judged against the targets as the sweep's hold-out errors are
// (a single run of a few seconds on a shared machine scatters by ±20%).
type PoolValidation struct {
	Servers int     `json:"servers"`
	Factor  float64 `json:"factor"`
	// Runs are the runs one by one.
	Runs []PoolRunValidation `json:"runs"`
	// CPU and Latency are over the runs validated.
	CPU     PoolCheck `json:"cpu"`
	Latency PoolCheck `json:"latency"`
	// Status is the worse of the two; red when no run could be
	// validated.
	Status   Status `json:"status"`
	Sentence string `json:"sentence"`
}

// ValidatePool predicts every pool run (ValidatePoolRun with factor) and
// judges the mean |relative error| over those that could be validated.
func ValidatePool(cal Calibration, runs []PoolRun, factor float64) (PoolValidation, error) {
	v := PoolValidation{Status: StatusRed}
	v.CPU = PoolCheck{Metric: MetricCPU, Target: CPUTarget, Status: StatusRed}
	v.Latency = PoolCheck{Metric: MetricLatency, Target: LatencyTarget, Status: StatusRed}
	if len(runs) == 0 {
		return v, errors.New("pool validation: no pool run")
	}
	v.Servers = runs[0].Servers
	var notes []string
	for i, r := range runs {
		rv, err := ValidatePoolRun(cal, r, factor)
		if err != nil {
			return v, fmt.Errorf("pool run %d: %w", i+1, err)
		}
		v.Factor = rv.Factor
		v.Runs = append(v.Runs, rv)
		if !(rv.CPU.Predicted > 0) {
			notes = append(notes, fmt.Sprintf("run %d: %s", i+1, rv.Sentence))
			continue
		}
		for _, c := range []struct{ agg, one *PoolCheck }{{&v.CPU, &rv.CPU}, {&v.Latency, &rv.Latency}} {
			if !finite(c.one.RelError) {
				continue
			}
			c.agg.Runs++
			c.agg.Measured += c.one.Measured
			c.agg.Predicted += c.one.Predicted
			c.agg.RelError += c.one.RelError
			c.agg.MeanAbs += math.Abs(c.one.RelError)
		}
	}
	if v.CPU.Runs == 0 {
		v.Sentence = fmt.Sprintf("Pool of %d not validated: %s", v.Servers, strings.Join(notes, " "))
		return v, nil
	}
	r0 := v.Runs[0].Run
	for _, c := range []struct {
		c      *PoolCheck
		what   string
		format func(float64) string
	}{{&v.CPU, "servers' CPU", fmtCPUSeconds}, {&v.Latency, "p99 post→last delivery", fmtDur}} {
		n := float64(c.c.Runs)
		if n == 0 {
			c.c.Sentence = c.what + " not predicted."
			continue
		}
		c.c.Measured, c.c.Predicted, c.c.RelError, c.c.MeanAbs = c.c.Measured/n, c.c.Predicted/n, c.c.RelError/n, c.c.MeanAbs/n
		switch {
		case c.c.MeanAbs <= c.c.Target:
			c.c.Status = StatusGreen
		case c.c.MeanAbs <= FarOff*c.c.Target:
			c.c.Status = StatusAmber
		default:
			c.c.Status = StatusRed
		}
		var each []string
		for _, rv := range v.Runs {
			one := rv.CPU
			if c.c.Metric == MetricLatency {
				one = rv.Latency
			}
			if one.Predicted > 0 {
				each = append(each, fmt.Sprintf("%+.1f%%", 100*one.RelError))
			}
		}
		verdict := map[Status]string{StatusGreen: "within", StatusAmber: "misses", StatusRed: "far off"}[c.c.Status]
		c.c.Sentence = fmt.Sprintf("%s predicted %s, measured %s on average: mean |error| %.1f%% (runs %s), %s its %.0f%% target (%s).", c.what,
			c.format(c.c.Predicted), c.format(c.c.Measured), 100*c.c.MeanAbs, strings.Join(each, ", "), verdict, 100*c.c.Target, c.c.Status)
	}
	v.Status = worse(v.CPU.Status, v.Latency.Status)
	runs1 := "1 run"
	if v.CPU.Runs > 1 {
		runs1 = fmt.Sprintf("%d runs", v.CPU.Runs)
	}
	v.Sentence = fmt.Sprintf("Pool of %d servers on PostgreSQL, rooms of %s at %s posts/s (%s deliveries/s, %s), predicted from the one-server sweep with %.2f× its CPU per delivery: %s %s",
		v.Servers, num(r0.FanOut()), num(r0.AchievedPostsPerSec), num(r0.DeliveriesPerSec), runs1, v.Factor, v.CPU.Sentence, v.Latency.Sentence)
	if len(notes) > 0 {
		v.Sentence += " Not validated: " + strings.Join(notes, " ")
	}
	return v, nil
}

func fmtCPUSeconds(s float64) string { return fmt.Sprintf("%.3g CPU-s", s) }

// judge sets the check's error, status and sentence.
func (c *PoolCheck) judge(what string, format func(float64) string) {
	c.RelError = (c.Predicted - c.Measured) / c.Measured
	e := math.Abs(c.RelError)
	switch {
	case !finite(e) || !(c.Measured > 0):
		c.RelError, c.Status = math.Inf(1), StatusRed
		c.Sentence = fmt.Sprintf("%s not predicted (measured %s).", what, format(c.Measured))
		return
	case e <= c.Target:
		c.Status = StatusGreen
	case e <= FarOff*c.Target:
		c.Status = StatusAmber
	default:
		c.Status = StatusRed
	}
	verdict := map[Status]string{StatusGreen: "within", StatusAmber: "misses", StatusRed: "far off"}[c.Status]
	c.Sentence = fmt.Sprintf("%s predicted %s, measured %s: %s, %s its %.0f%% target (%s).", what, format(c.Predicted), format(c.Measured),
		fmtErr(c.RelError), verdict, 100*c.Target, c.Status)
}

// Validate checks a pool run read from a file.
func (r PoolRun) Validate() error {
	var errs []error
	if r.Servers < 1 || r.Servers > 64 {
		errs = append(errs, fmt.Errorf("pool.servers: %d: want 1 to 64", r.Servers))
	}
	if r.RoomSize < 2 && len(r.RoomMix) == 0 {
		errs = append(errs, fmt.Errorf("pool.room_size: %d: want at least 2 (or a room_mix)", r.RoomSize))
	}
	if len(r.PerServerCPUSeconds) != 0 && len(r.PerServerCPUSeconds) != r.Servers {
		errs = append(errs, fmt.Errorf("pool.per_server_cpu_seconds: %d values for %d servers", len(r.PerServerCPUSeconds), r.Servers))
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"wall_seconds", r.WallSeconds}, {"server_cpu_seconds", r.ServerCPUSeconds}, {"achieved_posts_per_s", r.AchievedPostsPerSec}, {"database_cpu_seconds", r.DatabaseCPUSeconds}} {
		if f.v < 0 || !finite(f.v) {
			errs = append(errs, fmt.Errorf("pool.%s: %g: want a finite value ≥ 0", f.name, f.v))
		}
	}
	return errors.Join(errs...)
}
