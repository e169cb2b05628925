package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/capacity"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/spf13/cobra"
)

// CapacityOptions are the flags of gcload capacity.
type CapacityOptions struct {
	Profile     string
	Calibration string
	Mix         string
	Objective   time.Duration
	At          float64
	Loads       []float64
	// PoolCPUFactor replaces capacity.PoolCPUPerDelivery's central value
	// in the pool validation (0: keep it).
	PoolCPUFactor float64
}

// Files gcload capacity writes.
const (
	fileCapacityJSON = "capacity.json"
	fileCapacityHTML = "capacity.html"
)

// NewCmdCapacity builds `gcload capacity`.
func NewCmdCapacity(env *Env) *cobra.Command {
	o := &CapacityOptions{}
	cmd := &cobra.Command{
		Use:   "capacity RESULTS_DIR",
		Short: "Predict what a hardware profile sustains, from a calibration sweep",
		Long: `Map measured runs onto a hardware profile (docs/capacity.md): fit CPU per post
against room size (linear, batching, log or piecewise, chosen by leaving out
each room size in turn) and bytes per post, the measured group commit, the
Universal Scalability Law over core counts, service demands per resource,
latency from queueing approximations; then predict, as low/mid/high bands, the
max posts/s for the room-size mix and per room size, max deliveries/s, max
concurrent users and the resource that runs out at each edge, max users per
room at the latency objective, p50/p99 at chosen loads, and headroom against
40 msg/s, 1,000 per room, 20,000 per server, 60,000 per pool.

RESULTS_DIR holds calibration.json (gcload calibrate), or give --calibration.
The mix is --mix (peak, lync2013, a room size, or a scenario file), else the
scenario of RESULTS_DIR when it is a run's folder, else peak. Before mapping
anything, the model predicts each run of the sweep from the others on this
machine: green when server CPU is within 10% and p99 post → last delivery
within 20% at every room size, amber when it misses, red when far off or not
validated. When the calibration holds measured pool runs (gcload calibrate
--pool N), the pool model predicts them from the one-server sweep (the
servers' CPU at --pool-cpu-factor times one server's CPU per delivery, and p99
post → last delivery) and shows each run's error and their mean against the
same targets. Writes capacity.json and capacity.html (the answer first,
tables, charts) into RESULTS_DIR.`,
		Example: `  gcload capacity results/calibrate-20261122-010000
  gcload capacity results/calibrate-20261122-010000 --profile ocs-r2-reference-10k --mix lync2013
  gcload capacity results/calibrate-20261122-010000 --profile my-hardware.yaml --objective 300ms`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCapacity(cmd.Context(), env, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Profile, "profile", capacity.DefaultProfile, "hardware profile: a built-in name (ocs-r2-reference, ocs-r2-reference-10k) or a YAML file")
	f.StringVar(&o.Calibration, "calibration", "", "calibration.json (default: RESULTS_DIR/calibration.json)")
	f.StringVar(&o.Mix, "mix", "", "room-size mix: peak, lync2013, a room size, or a scenario YAML file")
	f.DurationVar(&o.Objective, "objective", 500*time.Millisecond, "latency objective for p99 post → last delivery")
	f.Float64Var(&o.At, "at", capacity.TargetPostsPerSec, "posts/s at which users per room are judged")
	f.Float64Var(&o.PoolCPUFactor, "pool-cpu-factor", 0, fmt.Sprintf("the pool's CPU per delivery against one server's, in the validation against the measured pool runs (default %.2f, measured by BenchmarkPoolDelivery; 1 for a pool of one)", capacity.PoolCPUPerDelivery.Mid))
	f.Float64SliceVar(&o.Loads, "loads", nil, "posts/s to predict latency and utilisation at (default: --at and 25, 50, 80, 95% of the maximum)")
	return cmd
}

func runCapacity(_ context.Context, env *Env, o *CapacityOptions, dir string) error {
	calPath := o.Calibration
	if calPath == "" {
		calPath = filepath.Join(dir, capacity.CalibrationFile)
	}
	cal, err := capacity.LoadCalibration(calPath)
	if err != nil {
		return badInput(fmt.Errorf("calibration: %w (run gcload calibrate first)", err))
	}
	prof, err := capacity.LoadProfile(o.Profile)
	if err != nil {
		return badInput(err)
	}
	mix, err := capacityMix(o.Mix, dir)
	if err != nil {
		return badInput(err)
	}
	obj := capacity.DefaultObjective()
	obj.PostToLastDeliveryUs = float64(o.Objective.Microseconds())
	obj.AtPostsPerSec, obj.Loads = o.At, o.Loads
	pred, err := capacity.Predict(cal, prof, mix, obj)
	if err != nil {
		return badInput(err)
	}
	if o.PoolCPUFactor != 0 {
		if !(o.PoolCPUFactor > 0 && o.PoolCPUFactor < 100) {
			return badInput(fmt.Errorf("--pool-cpu-factor %g: want a factor above 0 (and below 100)", o.PoolCPUFactor))
		}
		if cal.Pool == nil {
			return badInput(fmt.Errorf("--pool-cpu-factor: %s has no measured pool run (gcload calibrate --pool 3)", calPath))
		}
		if err := pred.ValidatePool(cal, o.PoolCPUFactor); err != nil {
			return badInput(err)
		}
	}
	if err := pred.WriteText(env.Stdout); err != nil {
		return err
	}
	js, err := pred.JSON()
	if err != nil {
		return err
	}
	if err := writeFileWith(filepath.Join(dir, fileCapacityJSON), func(w io.Writer) error { _, err := w.Write(js); return err }); err != nil {
		return err
	}
	if err := writeFileWith(filepath.Join(dir, fileCapacityHTML), func(w io.Writer) error { return capacityHTML(w, cal, pred) }); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "\ncapacity: %s, %s\n", filepath.Join(dir, fileCapacityJSON), filepath.Join(dir, fileCapacityHTML))
	return nil
}

// capacityMix resolves --mix, or the scenario of dir, or the peak mix.
func capacityMix(s, dir string) (capacity.RoomMix, error) {
	switch strings.ToLower(s) {
	case "peak":
		return capacity.PeakMix(), nil
	case "lync2013", "lync2013-mix":
		return capacity.Lync2013Mix(), nil
	case "":
		if _, err := os.Stat(filepath.Join(dir, reports.FileScenario)); err == nil {
			return scenarioMix(filepath.Join(dir, reports.FileScenario))
		}
		return capacity.PeakMix(), nil
	}
	if k, err := strconv.Atoi(s); err == nil {
		if k < 2 {
			return capacity.RoomMix{}, fmt.Errorf("--mix %d: a room size is at least 2", k)
		}
		return capacity.SingleSize(k), nil
	}
	if _, err := os.Stat(s); err != nil {
		return capacity.RoomMix{}, fmt.Errorf("--mix %q: want peak, lync2013, a room size or a scenario file", s)
	}
	return scenarioMix(s)
}

// scenarioMix is a scenario's room classes weighted by their post shares.
func scenarioMix(file string) (capacity.RoomMix, error) {
	spec, _, err := scenarios.Load(file, nil)
	if err != nil {
		return capacity.RoomMix{}, err
	}
	mix := capacity.RoomMix{Name: "scenario " + spec.Name, RoomsPerUser: 1}
	total := 0
	for _, c := range spec.Rooms.Classes {
		total += c.Count
	}
	for _, c := range spec.Rooms.Classes {
		w := float64(c.Count) / float64(max(total, 1))
		if c.PostShare != nil {
			w = *c.PostShare
		}
		mix.Rooms = append(mix.Rooms, capacity.RoomShare{Size: c.Size, Weight: w})
	}
	return mix, mix.Validate()
}

// capacityHTML writes capacity.html: the prediction as a page for people
// (capacity.Prediction.WriteHTML).
func capacityHTML(w io.Writer, cal capacity.Calibration, pred capacity.Prediction) error {
	return pred.WriteHTML(w, cal)
}
