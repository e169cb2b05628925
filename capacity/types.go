package capacity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// Resource names what can bound capacity.
type Resource string

// The resources of the model.
const (
	CPU      Resource = "cpu"       // server CPU (all cores)
	DiskSync Resource = "disk-sync" // synchronous commits: one flush at a time on one spindle
	DiskIOPS Resource = "disk-iops" // random write operations and write bandwidth of the disk set
	NIC      Resource = "nic"       // network interface bandwidth
	RAM      Resource = "ram"       // memory for connected users and their room memberships
)

// Resources lists the resources in report order.
var Resources = []Resource{CPU, DiskSync, DiskIOPS, NIC, RAM}

// Band is an estimate with its range: Low ≤ Mid ≤ High numerically. For a
// capacity Low is the pessimistic end; for a latency or a utilisation High
// is. A non-finite value (unbounded, or saturated) is written to JSON as
// null.
type Band struct {
	Low  float64 `json:"low" yaml:"low"`
	Mid  float64 `json:"mid" yaml:"mid"`
	High float64 `json:"high" yaml:"high"`
}

// Point is the band with no width.
func Point(x float64) Band { return Band{x, x, x} }

// sorted returns the band with its values in ascending order.
func (b Band) sorted() Band {
	v := []float64{b.Low, b.Mid, b.High}
	sort.Float64s(v)
	return Band{v[0], v[1], v[2]}
}

// Scale multiplies every value by f.
func (b Band) Scale(f float64) Band { return Band{b.Low * f, b.Mid * f, b.High * f} }

// RelWidth is (High − Low) / Mid: 0 for a point, larger when less certain.
func (b Band) RelWidth() float64 {
	if b.Mid == 0 {
		return math.Inf(1)
	}
	return (b.High - b.Low) / math.Abs(b.Mid)
}

// Finite reports whether all three values are finite.
func (b Band) Finite() bool { return finite(b.Low) && finite(b.Mid) && finite(b.High) }

// MarshalJSON writes {"low":..,"mid":..,"high":..}, null for non-finite
// values.
func (b Band) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(`{"low":`)
	buf.WriteString(jsonNum(b.Low))
	buf.WriteString(`,"mid":`)
	buf.WriteString(jsonNum(b.Mid))
	buf.WriteString(`,"high":`)
	buf.WriteString(jsonNum(b.High))
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func jsonNum(x float64) string {
	if !finite(x) {
		return "null"
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// RoomShare is a room size and the share of posts that go to rooms of that
// size (weights are relative: they need not sum to 1).
type RoomShare struct {
	Size   int     `json:"size" yaml:"size"`
	Weight float64 `json:"weight" yaml:"weight"`
}

// RoomMix is what the deployment's posts look like: the room sizes they go
// to, and, for user counts, how many rooms a user is in and how often a
// user posts.
type RoomMix struct {
	Name  string      `json:"name,omitempty" yaml:"name"`
	Rooms []RoomShare `json:"rooms" yaml:"rooms"`
	// RoomsPerUser is the rooms each user has joined (memory); 0 means 1.
	RoomsPerUser float64 `json:"rooms_per_user,omitempty" yaml:"rooms_per_user"`
	// PostsPerUserPerHour is each online user's posting rate; it turns a
	// throughput into concurrent users (N = X·Z). 0: users are bounded by
	// RAM only.
	PostsPerUserPerHour float64 `json:"posts_per_user_per_hour,omitempty" yaml:"posts_per_user_per_hour"`
}

// SingleSize is the mix of posts into rooms of k only.
func SingleSize(k int) RoomMix {
	return RoomMix{Name: fmt.Sprintf("rooms of %d", k), Rooms: []RoomShare{{Size: k, Weight: 1}}, RoomsPerUser: 1}
}

// PeakMix is the published OCS 2007 R2 peak (scenario peak): 60,000 users
// in rooms of 1,000, one room each, 40 posts/s in all (2.4 posts per user
// per hour).
func PeakMix() RoomMix {
	return RoomMix{Name: "peak (rooms of 1,000)", Rooms: []RoomShare{{Size: 1000, Weight: 1}}, RoomsPerUser: 1, PostsPerUserPerHour: 2.4}
}

// Lync2013Mix is the Lync 2013 / Skype for Business 2015 Persistent Chat
// planning model (scenario lync2013-mix): posts to rooms of 30, 150 and
// 16,000 in the shares 22.2 : 1.67 : 0.15, 16.4 rooms per user, 6 posts/s
// per 20,000 users (1.08 posts per user per hour).
func Lync2013Mix() RoomMix {
	return RoomMix{
		Name:                "lync2013 (30/150/16,000)",
		Rooms:               []RoomShare{{30, 0.92423}, {150, 0.069525}, {16000, 0.006245}},
		RoomsPerUser:        16.4,
		PostsPerUserPerHour: 1.08,
	}
}

// Validate reports a mix that cannot be used.
func (m RoomMix) Validate() error {
	if len(m.Rooms) == 0 {
		return errors.New("room mix: no room sizes")
	}
	var sum float64
	for i, r := range m.Rooms {
		if r.Size < 1 {
			return fmt.Errorf("room mix: rooms[%d].size %d (want at least 1)", i, r.Size)
		}
		if r.Weight < 0 || !finite(r.Weight) {
			return fmt.Errorf("room mix: rooms[%d].weight %g (want a non-negative number)", i, r.Weight)
		}
		sum += r.Weight
	}
	if sum == 0 && len(m.Rooms) > 1 {
		return errors.New("room mix: every weight is 0")
	}
	if m.RoomsPerUser < 0 || m.PostsPerUserPerHour < 0 {
		return errors.New("room mix: rooms_per_user and posts_per_user_per_hour must not be negative")
	}
	return nil
}

// shares returns the mix with weights normalised to sum to 1.
func (m RoomMix) shares() []RoomShare {
	var sum float64
	for _, r := range m.Rooms {
		sum += r.Weight
	}
	out := make([]RoomShare, len(m.Rooms))
	for i, r := range m.Rooms {
		w := 1 / float64(len(m.Rooms))
		if sum > 0 {
			w = r.Weight / sum
		}
		out[i] = RoomShare{Size: r.Size, Weight: w}
	}
	return out
}

// MeanSize is the post-weighted mean room size: deliveries per post.
func (m RoomMix) MeanSize() float64 {
	var k float64
	for _, r := range m.shares() {
		k += r.Weight * float64(r.Size)
	}
	return k
}

func (m RoomMix) roomsPerUser() float64 {
	if m.RoomsPerUser <= 0 {
		return 1
	}
	return m.RoomsPerUser
}

// Latency holds measured latency percentiles in microseconds, from the
// intended time of the post.
type Latency struct {
	PostAckP50          float64 `json:"post_ack_p50_us"`
	PostAckP99          float64 `json:"post_ack_p99_us"`
	PostLastDeliveryP50 float64 `json:"post_to_last_delivery_p50_us"`
	PostLastDeliveryP99 float64 `json:"post_to_last_delivery_p99_us"`
}

// Measurement is one run (one load level) of a calibration sweep. Rates are
// over the measured (steady) window of WallSeconds. Fields that were not
// measured are 0 and the parts of the model that need them say so.
type Measurement struct {
	// Name labels the run in reports, e.g. "k150-c2-l4".
	Name string `json:"name"`
	// RoomSize is the members of every room posted to; RoomMix replaces it
	// when the run posted into rooms of several sizes.
	RoomSize int         `json:"room_size,omitempty"`
	RoomMix  []RoomShare `json:"room_mix,omitempty"`

	OfferedPostsPerSec  float64 `json:"offered_posts_per_s"`
	AchievedPostsPerSec float64 `json:"achieved_posts_per_s"`
	DeliveriesPerSec    float64 `json:"deliveries_per_s"`
	UsersOnline         int     `json:"users_online"`
	// Cores is the server's GOMAXPROCS (or cpuset size) during the run.
	Cores int `json:"cores"`

	ServerCPUSeconds    float64 `json:"server_cpu_seconds"`
	GeneratorCPUSeconds float64 `json:"generator_cpu_seconds"`
	WallSeconds         float64 `json:"wall_seconds"`

	DiskWriteBytes int64 `json:"disk_write_bytes"`
	Fsyncs         int64 `json:"fsyncs"`

	// Bytes on the wire, both directions, headers included: per post (the
	// post and its answer) and per delivery (the delivery and its answer).
	WireBytesPerPost     float64 `json:"wire_bytes_per_post"`
	WireBytesPerDelivery float64 `json:"wire_bytes_per_delivery"`

	// Server memory per connected user and per room membership.
	MemBytesPerUser       float64 `json:"mem_bytes_per_user"`
	MemBytesPerJoinedRoom float64 `json:"mem_bytes_per_joined_room"`

	Latency Latency `json:"latency_us"`

	// GeneratorValid is false when the load generator, not the server, was
	// the bottleneck; such runs are left out of every fit.
	GeneratorValid bool     `json:"generator_valid"`
	InvalidReasons []string `json:"invalid_reasons,omitempty"`
}

// MeanRoomSize is the post-weighted room size of the run.
func (m Measurement) MeanRoomSize() float64 {
	if len(m.RoomMix) > 0 {
		return RoomMix{Rooms: m.RoomMix}.MeanSize()
	}
	return float64(m.RoomSize)
}

// FanOut is the deliveries per post: measured (deliveries/s ÷ posts/s)
// when both rates are known, else the mean room size. It is the k of the
// fits.
func (m Measurement) FanOut() float64 {
	if m.DeliveriesPerSec > 0 && m.AchievedPostsPerSec > 0 {
		return m.DeliveriesPerSec / m.AchievedPostsPerSec
	}
	return m.MeanRoomSize()
}

// Posts is the posts achieved in the window.
func (m Measurement) Posts() float64 { return m.AchievedPostsPerSec * m.WallSeconds }

// CPUPerPostUs is the server CPU per post in microseconds (the service
// demand law D = B/C).
func (m Measurement) CPUPerPostUs() float64 {
	return ServiceDemand(m.ServerCPUSeconds, m.Posts()) * 1e6
}

// ServerUtilization is CPU seconds / (wall seconds × cores).
func (m Measurement) ServerUtilization() float64 {
	if m.WallSeconds <= 0 || m.Cores <= 0 {
		return math.NaN()
	}
	return m.ServerCPUSeconds / (m.WallSeconds * float64(m.Cores))
}

// WireBytesPerPostTotal is the bytes on the wire a post causes, its
// deliveries included.
func (m Measurement) WireBytesPerPostTotal() float64 {
	return m.WireBytesPerPost + m.FanOut()*m.WireBytesPerDelivery
}

// PostsPerFsync is the group-commit batch: posts per synchronous flush (0
// when no flush was counted).
func (m Measurement) PostsPerFsync() float64 {
	if m.Fsyncs <= 0 {
		return 0
	}
	return m.Posts() / float64(m.Fsyncs)
}

// Micro holds the micro-calibrations of this machine.
type Micro struct {
	// HotPathDeliveryUs is the server's CPU per delivery on its fan-out
	// hot path on this machine, in µs (a benchmark of the server alone).
	HotPathDeliveryUs float64 `json:"hot_path_cpu_per_delivery_us"`
	// FsyncMeanUs and FsyncP99Us are the latency of one synchronous write
	// (write + fsync of a small block, in a loop) on this machine's disk.
	FsyncMeanUs float64 `json:"fsync_mean_us"`
	FsyncP99Us  float64 `json:"fsync_p99_us"`
	// ServiceCV is the coefficient of variation (stddev/mean) of the
	// server's CPU time per post at one room size; nil: 1 is assumed.
	ServiceCV *float64 `json:"service_cv,omitempty"`
	// ArrivalCV is the coefficient of variation of the sweep's post
	// inter-arrival times (1 Poisson, 0 constant); nil: 1 is assumed.
	// Predictions for a deployment always assume Poisson arrivals.
	ArrivalCV *float64 `json:"arrival_cv,omitempty"`
}

// Machine describes the machine the calibration ran on (informative).
type Machine struct {
	Host        string    `json:"host,omitempty"`
	CPUModel    string    `json:"cpu_model,omitempty"`
	LogicalCPUs int       `json:"logical_cpus,omitempty"`
	GoVersion   string    `json:"go_version,omitempty"`
	Time        time.Time `json:"time,omitzero"`
}

// Calibration is what `gcload calibrate` saves as calibration.json: the
// sweep's measurements and the micro-calibrations of this machine.
type Calibration struct {
	Version      int           `json:"version"`
	Machine      Machine       `json:"machine"`
	Measurements []Measurement `json:"measurements"`
	Micro        Micro         `json:"micro"`
	// Saturation is the CPU-limited sweep: a breakpoint search per cgroup
	// CPU allotment and the USL fitted over them (absent when it was not
	// run).
	Saturation *Saturation `json:"saturation,omitempty"`
	// Pool are measured pool runs (gcload calibrate --pool), which gcload
	// capacity predicts from the sweep (ValidatePool); absent when none
	// was measured.
	Pool []PoolRun `json:"pool_runs,omitempty"`
}

// Saturation is gcload calibrate's CPU-limited sweep: the reference server
// limited by the cgroup cpu controller to each allotment in turn, driven
// to its knee by a breakpoint search, and the Universal Scalability Law
// fitted to the saturation throughputs (FitScalability).
type Saturation struct {
	// Workload is what drove the server to its knee: "search" (message
	// searches over rooms holding History posts each: costly for the
	// server, cheap for the generator) or "posts" (posts into rooms of
	// RoomSize); empty in calibrations from before it was recorded
	// (posts).
	Workload string `json:"workload,omitempty"`
	History  int    `json:"history,omitempty"`
	// RoomSize is the rooms posted to (searched, for "search").
	RoomSize int `json:"room_size"`
	// Runs are the searches, one per allotment, in the order run.
	Runs []SaturationRun `json:"runs"`
	// Fit is the USL over the allotments of the searches that found a
	// maximum, net of the server's idle CPU; absent when fewer than one
	// did.
	Fit *ScalabilityFit `json:"fit,omitempty"`
	// CrossCheck predicts the throughput of each allotment above one
	// core from the law fitted to the allotments up to one core, against
	// what was measured (absent when there was none to check).
	CrossCheck *CoreCrossCheck `json:"cross_check,omitempty"`
	// CPUFit is the USL fitted instead to each allotment's CPU-time
	// throughput (SaturationRun.CPUBound: the allotment net of idle over
	// the server's CPU per operation at the highest rate that held), with
	// its own cross-check. It is bent neither by the machine's other load
	// nor by where a latency threshold sits, but it assumes the server
	// could use its whole allotment (a lock that serialises it does not
	// show): a second view beside Fit, which the model does not use.
	CPUFit        *ScalabilityFit `json:"cpu_fit,omitempty"`
	CPUCrossCheck *CoreCrossCheck `json:"cpu_cross_check,omitempty"`
	// Note says what could not be done (no cgroup controller, searches
	// that found no maximum), or is empty.
	Note string `json:"note,omitempty"`
}

// Describe names the sweep's workload in a phrase.
func (s Saturation) Describe() string {
	if s.Workload == "search" {
		return fmt.Sprintf("message searches over rooms of %d posts", s.History)
	}
	return fmt.Sprintf("posts into rooms of %d", s.RoomSize)
}

// SaturationRun is one allotment's breakpoint search.
type SaturationRun struct {
	// Cores is the cgroup CPU limit; IdleCores the server's CPU use when
	// idle under it (measured before the search); the USL is fitted over
	// Cores − IdleCores, the CPU the load could use.
	Cores     float64 `json:"cores"`
	IdleCores float64 `json:"idle_cores"`
	// Outcome, MaxHeldRate, FirstFailedRate, KneeRate, Resource and
	// Sentence are the search's (Breakpoint); Steps its runs.
	Outcome         string  `json:"outcome"`
	MaxHeldRate     float64 `json:"max_held_rate"`
	FirstFailedRate float64 `json:"first_failed_rate"`
	KneeRate        float64 `json:"knee_rate"`
	// Throughput is the saturation throughput used in the fit (posts/s):
	// the geometric mean of the highest rate that held and the lowest
	// that did not.
	Throughput float64 `json:"throughput"`
	Resource   string  `json:"resource"`
	// UsedCores is the server's CPU use at the lowest rate that failed
	// (0: not measured); below MinAllotmentUse of Cores the allotment did
	// not bind and the run is left out (OutcomeNotCPUBound).
	UsedCores float64 `json:"used_cores,omitempty"`
	// RunQueueWait is the server's run-queue wait (cores) at that rate
	// (SearchStep.RunQueueWait).
	RunQueueWait float64 `json:"run_queue_wait_cores,omitempty"`
	// CPUPerOpUs is the server's CPU per operation (µs) at the highest
	// rate that held, a CPU-time figure the machine's other load does not
	// bend; CPUBound = (Cores − IdleCores) ÷ CPUPerOp is the throughput
	// the allotment would give were it all used (0: not measured).
	CPUPerOpUs float64 `json:"cpu_per_op_us,omitempty"`
	CPUBound   float64 `json:"cpu_bound,omitempty"`
	Steps      int     `json:"steps"`
	Sentence   string  `json:"sentence"`
	// Dir is the folder of its steps' results.
	Dir string `json:"dir"`
}

// CalibrationVersion is the Version written by SaveCalibration.
const CalibrationVersion = 1

// CalibrationFile is the calibration's file name in a results folder.
const CalibrationFile = "calibration.json"

// Validate reports impossible values, naming the measurement and field.
func (c Calibration) Validate() error {
	var errs []error
	bad := func(i int, field, format string, args ...any) {
		name := ""
		if c.Measurements[i].Name != "" {
			name = fmt.Sprintf(" (%q)", c.Measurements[i].Name)
		}
		errs = append(errs, fmt.Errorf("measurements[%d]%s.%s: %s", i, name, field, fmt.Sprintf(format, args...)))
	}
	if c.Version > CalibrationVersion {
		errs = append(errs, fmt.Errorf("version %d is newer than this gcload understands (%d)", c.Version, CalibrationVersion))
	}
	for i, m := range c.Measurements {
		if m.RoomSize < 0 {
			bad(i, "room_size", "%d is negative", m.RoomSize)
		}
		if m.RoomSize == 0 && len(m.RoomMix) == 0 {
			bad(i, "room_size", "missing (give room_size or room_mix)")
		}
		if len(m.RoomMix) > 0 {
			if err := (RoomMix{Rooms: m.RoomMix}).Validate(); err != nil {
				bad(i, "room_mix", "%v", err)
			}
		}
		if m.Cores < 1 {
			bad(i, "cores", "%d (want the server's GOMAXPROCS, at least 1)", m.Cores)
		}
		if !(m.WallSeconds > 0) {
			bad(i, "wall_seconds", "%g (want a positive duration)", m.WallSeconds)
		}
		for _, f := range []struct {
			name string
			v    float64
		}{
			{"offered_posts_per_s", m.OfferedPostsPerSec},
			{"achieved_posts_per_s", m.AchievedPostsPerSec},
			{"deliveries_per_s", m.DeliveriesPerSec},
			{"server_cpu_seconds", m.ServerCPUSeconds},
			{"generator_cpu_seconds", m.GeneratorCPUSeconds},
			{"wire_bytes_per_post", m.WireBytesPerPost},
			{"wire_bytes_per_delivery", m.WireBytesPerDelivery},
			{"mem_bytes_per_user", m.MemBytesPerUser},
			{"mem_bytes_per_joined_room", m.MemBytesPerJoinedRoom},
			{"latency_us.post_ack_p50_us", m.Latency.PostAckP50},
			{"latency_us.post_ack_p99_us", m.Latency.PostAckP99},
			{"latency_us.post_to_last_delivery_p50_us", m.Latency.PostLastDeliveryP50},
			{"latency_us.post_to_last_delivery_p99_us", m.Latency.PostLastDeliveryP99},
		} {
			if f.v < 0 || !finite(f.v) {
				bad(i, f.name, "%g (want a non-negative number)", f.v)
			}
		}
		if m.DiskWriteBytes < 0 || m.Fsyncs < 0 {
			bad(i, "disk_write_bytes", "disk counters must not be negative")
		}
		if m.UsersOnline < 0 {
			bad(i, "users_online", "%d is negative", m.UsersOnline)
		}
	}
	mi := c.Micro
	if mi.HotPathDeliveryUs < 0 || mi.FsyncMeanUs < 0 || mi.FsyncP99Us < 0 {
		errs = append(errs, errors.New("micro: values must not be negative"))
	}
	if mi.FsyncP99Us > 0 && mi.FsyncMeanUs > 0 && mi.FsyncP99Us < mi.FsyncMeanUs {
		errs = append(errs, fmt.Errorf("micro.fsync_p99_us: %g is below the mean %g", mi.FsyncP99Us, mi.FsyncMeanUs))
	}
	for _, cv := range []*float64{mi.ServiceCV, mi.ArrivalCV} {
		if cv != nil && (*cv < 0 || !finite(*cv)) {
			errs = append(errs, fmt.Errorf("micro: coefficient of variation %g (want a non-negative number)", *cv))
		}
	}
	for i, r := range c.Pool {
		if err := r.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("pool_runs[%d]: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// LoadCalibration reads and validates a calibration.json; path may be the
// file or the results folder holding it.
func LoadCalibration(path string) (Calibration, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, CalibrationFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Calibration{}, err
	}
	var c Calibration
	if err := json.Unmarshal(data, &c); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
			return Calibration{}, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		return Calibration{}, fmt.Errorf("%s: %v", path, err)
	}
	if err := c.Validate(); err != nil {
		return Calibration{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// SaveCalibration writes cal as indented JSON to path (a file, or a folder
// to hold calibration.json), through a temporary file and a rename.
func SaveCalibration(path string, cal Calibration) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, CalibrationFile)
	}
	if cal.Version == 0 {
		cal.Version = CalibrationVersion
	}
	data, err := json.MarshalIndent(cal, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(filepath.Dir(path), ".calibration-*.json")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
