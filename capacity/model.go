package capacity

import (
	"fmt"
	"math"
	"sort"
)

// Model is what the calibration says about the server on this machine:
// the fits and the measured constants Predict maps onto a profile.
type Model struct {
	// CPU is the server CPU per post in µs against the fan-out k
	// (deliveries per post) as a straight line a + b·k, b being the CPU
	// per delivery (compared with the hot-path micro-calibration).
	CPU LinearFit `json:"cpu_per_post_us"`
	// CPUModel is the form of CPU per post against k the predictions use:
	// the candidate (linear, batching, log, piecewise) chosen by
	// leave-one-room-size-out cross-validation.
	CPUModel RoomModel `json:"cpu_model"`
	// Wire is the bytes on the wire per post, its deliveries included,
	// against k. WireKnown is false when no run measured them.
	Wire      LinearFit `json:"wire_bytes_per_post"`
	WireKnown bool      `json:"wire_known"`
	// DiskBytesPerPost is the disk writes per post (lowest, median and
	// highest of the runs); zero when not measured.
	DiskBytesPerPost Band `json:"disk_bytes_per_post"`
	// PostsPerFsync is the largest group-commit batch observed (posts per
	// synchronous flush); 0 when no flush was counted.
	PostsPerFsync float64 `json:"posts_per_fsync"`
	// GroupCommit says whether the server batches commits: observed (the
	// runs' posts per flush rose with the post rate as a flush carrying
	// the posts that arrived during the previous one predicts, or a run
	// had 1.5 or more posts per flush), absent (posts arrived during
	// flushes, yet each had its own flush) or unknown (no flushes
	// counted, or too few posts arrived during a flush to tell). Only
	// when observed is a flush assumed to carry the posts that arrived
	// during the previous one; otherwise every post has its own flush.
	GroupCommit string `json:"group_commit"`
	// Batching is the measured group commit: posts per flush of each run
	// and the fitted commit window.
	Batching GroupCommitFit `json:"batching"`
	// USL is the scalability over core counts.
	USL USLFit `json:"usl"`
	// Sweep names the CPU-limited sweep's workload, and CoreCheck is its
	// cross-check across core counts (the law fitted up to one core
	// against the allotments above), when the calibration has them.
	Sweep     string          `json:"sweep,omitempty"`
	CoreCheck *CoreCrossCheck `json:"core_check,omitempty"`
	// CPUEfficiency is the throughput runs reached at saturation relative
	// to the CPU bound Speedup(N)/D(k) (lowest, median, highest of the
	// saturated runs; 1 when no run saturated).
	CPUEfficiency Band `json:"cpu_efficiency"`
	// MemPerUser and MemPerJoinedRoom are server memory in bytes (lowest,
	// median, highest of the runs); zero when not measured.
	MemPerUser       Band `json:"mem_bytes_per_user"`
	MemPerJoinedRoom Band `json:"mem_bytes_per_joined_room"`
	// BaseLatencyUs is the latency the queueing model does not explain
	// (network, client, scheduling): the median over the runs of measured
	// minus modelled p50 post ack, at least 0.
	BaseLatencyUs float64 `json:"base_latency_us"`
	// TailP50 and TailP99 are what the queueing model does not explain of
	// the p50 and p99 post → last delivery on this machine.
	TailP50 LatencyTail `json:"tail_p50"`
	TailP99 LatencyTail `json:"tail_p99"`
	// ServiceCV and ArrivalCV are the coefficients of variation used for
	// this machine's sweep (1 when not measured).
	ServiceCV float64 `json:"service_cv"`
	ArrivalCV float64 `json:"arrival_cv"`
	// Micro-calibrations of this machine.
	HotPathDeliveryUs float64 `json:"hot_path_cpu_per_delivery_us"`
	FsyncMeanUs       float64 `json:"fsync_mean_us"`
	FsyncP99Us        float64 `json:"fsync_p99_us"`
	// Used are the indexes of the measurements the fits used; Excluded
	// says why the others were left out.
	Used     []int    `json:"used"`
	Excluded []string `json:"excluded,omitempty"`
	// RoomSizes is the number of distinct room sizes measured.
	RoomSizes int `json:"room_sizes"`
	// Warnings are plain sentences about weak inputs.
	Warnings []string `json:"warnings,omitempty"`
}

// Values of Model.GroupCommit.
const (
	GroupCommitObserved = "observed"
	GroupCommitAbsent   = "absent"
	GroupCommitUnknown  = "unknown"
)

// MinRoomSizes is the number of room sizes the method asks for; fewer
// still fit (two are enough for a line) but are warned about.
const MinRoomSizes = 4

// saturated reports whether a run was at its capacity: it fell short of
// its offered load, or its server CPU was nearly all busy.
func saturated(m Measurement) bool {
	return m.AchievedPostsPerSec < 0.97*m.OfferedPostsPerSec || m.ServerUtilization() >= 0.85
}

// sizeKey groups runs by room size (rounded mean size).
func sizeKey(m Measurement) string { return fmt.Sprintf("k=%g", math.Round(m.MeanRoomSize())) }

// Fit fits the model to the calibration's valid runs. It needs runs at two
// or more room sizes; everything else that is missing is a warning.
func Fit(cal Calibration) (Model, error) {
	if err := cal.Validate(); err != nil {
		return Model{}, err
	}
	var m Model
	used := m.selectRuns(cal)
	if err := m.fitCPU(used, len(cal.Measurements)); err != nil {
		return Model{}, err
	}
	m.fitWire(used)
	m.fitDiskAndMemory(used, cal.Micro)
	if err := m.fitScaling(used, cal.Saturation); err != nil {
		return Model{}, err
	}
	m.setMicro(cal.Micro)
	m.fitBaseLatency(used)
	m.fitLatencyTails(used)
	return m, nil
}

// selectRuns keeps the runs the fits can use and says why the others are
// left out.
func (m *Model) selectRuns(cal Calibration) []Measurement {
	var used []Measurement
	for i, r := range cal.Measurements {
		switch {
		case !r.GeneratorValid:
			m.Excluded = append(m.Excluded, fmt.Sprintf("%s: the load generator was the bottleneck", runName(r, i)))
		case !(r.AchievedPostsPerSec > 0):
			m.Excluded = append(m.Excluded, fmt.Sprintf("%s: no posts achieved", runName(r, i)))
		case !(r.ServerCPUSeconds > 0):
			m.Excluded = append(m.Excluded, fmt.Sprintf("%s: no server CPU measured", runName(r, i)))
		default:
			m.Used = append(m.Used, i)
			used = append(used, r)
		}
	}
	return used
}

// fitCPU fits CPU per post = a + b·k over the fan-out k.
func (m *Model) fitCPU(used []Measurement, runs int) error {
	sizes := map[string]bool{}
	var x, y []float64
	for _, r := range used {
		sizes[sizeKey(r)] = true
		x = append(x, r.FanOut())
		y = append(y, r.CPUPerPostUs())
	}
	m.RoomSizes = len(sizes)
	if len(sizes) < 2 {
		return fmt.Errorf("capacity model: need valid runs at 2 or more room sizes (at least %d recommended), have %d (%d valid of %d runs)", MinRoomSizes, len(sizes), len(used), runs)
	}
	var err error
	if m.CPU, err = FitLinear(x, y); err != nil {
		return fmt.Errorf("capacity model: CPU per post: %w", err)
	}
	size := make([]float64, len(used))
	for i, r := range used {
		size[i] = math.Round(r.MeanRoomSize())
	}
	if m.CPUModel, err = SelectRoomModel(x, y, size); err != nil {
		return fmt.Errorf("capacity model: CPU per post: %w", err)
	}
	if len(sizes) < MinRoomSizes {
		m.warn("only %d room sizes measured (the method asks for at least %d): the CPU fit is less certain and the bands are wider", len(sizes), MinRoomSizes)
	}
	if !m.CPU.SEKnown {
		m.warn("two runs only: the CPU fit has no error estimate; ±%.0f%% is assumed", 100*unknownRel)
	}
	if m.CPU.B < 0 {
		m.warn("CPU per post falls with room size (b = %.3g µs per delivery): the measurements are inconsistent", m.CPU.B)
	}
	return nil
}

// fitWire fits the bytes on the wire per post, its deliveries included,
// over the fan-out (per post and per delivery as measured with one room
// size).
func (m *Model) fitWire(used []Measurement) {
	var x, y []float64
	wsizes := map[string]bool{}
	for _, r := range used {
		if r.WireBytesPerPost > 0 || r.WireBytesPerDelivery > 0 {
			x = append(x, r.FanOut())
			y = append(y, r.WireBytesPerPostTotal())
			wsizes[sizeKey(r)] = true
		}
	}
	switch {
	case len(wsizes) >= 2:
		var err error
		if m.Wire, err = FitLinear(x, y); err == nil {
			m.WireKnown = true
		}
	case len(x) > 0:
		// One room size: per post and per delivery taken as measured.
		var a, b float64
		var n float64
		for _, r := range used {
			if r.WireBytesPerPost > 0 || r.WireBytesPerDelivery > 0 {
				a += r.WireBytesPerPost
				b += r.WireBytesPerDelivery
				n++
			}
		}
		m.Wire = LinearFit{A: a / n, B: b / n, R2: 1, N: int(n), XMin: x[0], XMax: x[0]}
		m.WireKnown = true
	}
	if !m.WireKnown {
		m.warn("bytes on the wire were not measured: the NIC is left out of the constraints")
	}
}

// fitDiskAndMemory takes disk writes per post, memory per user and per
// joined room (lowest, median, highest of the runs) and the group-commit
// behaviour.
func (m *Model) fitDiskAndMemory(used []Measurement, mi Micro) {
	var disk, memU, memR []float64
	for _, r := range used {
		if r.DiskWriteBytes > 0 {
			disk = append(disk, float64(r.DiskWriteBytes)/r.Posts())
		}
		if r.MemBytesPerUser > 0 {
			memU = append(memU, r.MemBytesPerUser)
		}
		if r.MemBytesPerJoinedRoom > 0 {
			memR = append(memR, r.MemBytesPerJoinedRoom)
		}
		m.PostsPerFsync = math.Max(m.PostsPerFsync, r.PostsPerFsync())
	}
	m.DiskBytesPerPost = spread(disk)
	m.MemPerUser = spread(memU)
	m.MemPerJoinedRoom = spread(memR)
	if len(disk) == 0 {
		m.warn("disk writes were not measured: disk IOPS counts the commits only")
	}
	m.Batching = FitGroupCommit(used, mi.FsyncMeanUs)
	m.GroupCommit = m.Batching.Verdict
	switch {
	case m.PostsPerFsync == 0:
		m.warn("synchronous flushes were not counted: one flush per post is assumed (no group commit), which is pessimistic")
	case m.GroupCommit == GroupCommitUnknown:
		m.warn("%s: one flush per post is assumed, which is pessimistic", m.Batching.Sentence)
	}
	if len(memU) == 0 {
		m.warn("memory per user was not measured: RAM is left out of the constraints")
	}
}

// fitScaling fits the USL over core counts from the highest throughput of
// a saturated run per room size and core count, and the saturation
// efficiency of those runs.
// A USL that the GOMAXPROCS runs cannot fit is taken from the
// CPU-limited sweep (sat) when that fitted one.
func (m *Model) fitScaling(used []Measurement, sat *Saturation) error {
	type gk struct {
		g string
		n int
	}
	best := map[gk]Measurement{}
	for _, r := range used {
		if !saturated(r) {
			continue
		}
		k := gk{sizeKey(r), r.Cores}
		if b, ok := best[k]; !ok || r.AchievedPostsPerSec > b.AchievedPostsPerSec {
			best[k] = r
		}
	}
	keys := make([]gk, 0, len(best))
	for k := range best {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].g != keys[j].g {
			return keys[i].g < keys[j].g
		}
		return keys[i].n < keys[j].n
	})
	var pts []USLPoint
	for _, k := range keys {
		pts = append(pts, USLPoint{Cores: k.n, Throughput: best[k].AchievedPostsPerSec, Group: k.g})
	}
	if len(pts) > 0 {
		var err error
		if m.USL, err = FitUSL(pts); err != nil {
			return fmt.Errorf("capacity model: %w", err)
		}
	} else {
		m.USL = USLFit{Lambda: map[string]float64{}, Note: "USL not fitted: no run reached saturation; σ = κ = 0 assumed"}
	}
	if sat != nil && len(sat.Runs) > 0 {
		m.Sweep = sat.Describe()
		if sat.Fit != nil {
			m.CoreCheck = sat.CrossCheck
			if m.CoreCheck == nil {
				m.CoreCheck = &CoreCrossCheck{Reason: "no allotment above one core was saturated", Checks: []CoreCheck{}, FitAllotments: []float64{}}
			}
		}
	}
	if !m.USL.SigmaFitted && sat != nil {
		if u, err := USLFromSaturation(*sat); err == nil {
			m.USL = u
		} else {
			m.USL.Note += "; the CPU-limited sweep's USL is not used: " + err.Error()
		}
	}
	if !m.USL.SigmaFitted {
		m.warn("%s; scaling to more cores assumes σ up to %g", m.USL.Note, assumedSigmaMax)
	} else if !m.USL.KappaFitted {
		m.warn("%s", m.USL.Note)
	}
	var eff []float64
	for _, k := range keys {
		r := best[k]
		bound := m.USL.Speedup(float64(r.Cores)) / (m.CPUModel.Fit.At(r.FanOut()) * 1e-6)
		if bound > 0 {
			eff = append(eff, r.AchievedPostsPerSec/bound)
		}
	}
	if len(eff) == 0 {
		m.CPUEfficiency = Point(1)
		if len(m.USL.Allotments) > 0 {
			m.warn("the saturation efficiency is not measured (the CPU-limited sweep's knees fit the USL, not the CPU per post): capacity assumes the server can keep every core busy")
		} else {
			m.warn("no run reached saturation: capacity assumes the server can keep every core busy")
		}
	} else {
		m.CPUEfficiency = spread(eff)
	}
	return nil
}

// setMicro takes the micro-calibrations and the coefficients of
// variation, and checks the CPU per delivery against the hot path.
func (m *Model) setMicro(mi Micro) {
	m.HotPathDeliveryUs = mi.HotPathDeliveryUs
	m.FsyncMeanUs, m.FsyncP99Us = mi.FsyncMeanUs, mi.FsyncP99Us
	if m.FsyncP99Us == 0 {
		m.FsyncP99Us = m.FsyncMeanUs * P99OverMean
	}
	m.ServiceCV, m.ArrivalCV = 1, 1
	if mi.ServiceCV != nil {
		m.ServiceCV = *mi.ServiceCV
	}
	if mi.ArrivalCV != nil {
		m.ArrivalCV = *mi.ArrivalCV
	}
	if m.HotPathDeliveryUs > 0 && m.CPU.B > 0 {
		if d := m.CPU.B/m.HotPathDeliveryUs - 1; math.Abs(d) > 0.5 {
			m.warn("the fitted CPU per delivery (%.3g µs) differs from the hot-path micro-calibration (%.3g µs) by %+.0f%%", m.CPU.B, m.HotPathDeliveryUs, 100*d)
		}
	}
}

// fitBaseLatency is the latency the queueing model does not explain: the
// median of measured minus modelled p50 post ack, at least 0.
func (m *Model) fitBaseLatency(used []Measurement) {
	var diffs []float64
	for _, r := range used {
		if r.Latency.PostAckP50 <= 0 {
			continue
		}
		e := m.localEngine(r.Cores)
		ack, _ := e.latency(runMix(r), r.AchievedPostsPerSec, mid, 0.5)
		if finite(ack) {
			diffs = append(diffs, r.Latency.PostAckP50-ack*1e6)
		}
	}
	if len(diffs) > 0 {
		m.BaseLatencyUs = math.Max(0, median(diffs))
	}
}

// LatencyTail is the part of a percentile of post → last delivery that
// the queueing model does not explain on this machine: C0 + C1·k µs for
// posts into rooms of k, fitted to the runs below saturation (measured
// minus modelled, least squares on relative errors, both terms ≥ 0). C1
// is per recipient and on this machine mostly the load generator's own
// handling of a post's deliveries (its users share a few connections and
// one process), so it is used for predictions on this machine only
// (validation, charts); C0 is carried to a profile like the base latency.
type LatencyTail struct {
	C0   float64 `json:"c0_us"`
	C1   float64 `json:"c1_us_per_recipient"`
	Runs int     `json:"runs"`
}

// At is the tail for rooms of k, with or without the per-recipient term.
func (t LatencyTail) At(k float64, perRecipient bool) float64 {
	if perRecipient {
		return t.C0 + t.C1*k
	}
	return t.C0
}

// fitLatencyTails fits TailP50 and TailP99 to the runs below saturation
// with post → last delivery measured.
func (m *Model) fitLatencyTails(used []Measurement) {
	fit := func(p float64, measured func(Measurement) float64) LatencyTail {
		var k, d, w []float64
		for _, r := range used {
			y := measured(r)
			if saturated(r) || y <= 0 {
				continue
			}
			e := m.localEngine(r.Cores)
			_, last := e.latency(runMix(r), r.AchievedPostsPerSec, mid, p)
			if !finite(last) {
				continue
			}
			k, d, w = append(k, r.FanOut()), append(d, y-last*1e6), append(w, 1/(y*y))
		}
		return fitTail(k, d, w)
	}
	m.TailP50 = fit(0.5, func(r Measurement) float64 { return r.Latency.PostLastDeliveryP50 })
	m.TailP99 = fit(0.99, func(r Measurement) float64 { return r.Latency.PostLastDeliveryP99 })
}

// fitTail fits d = C0 + C1·k by weighted least squares with C0, C1 ≥ 0.
func fitTail(k, d, w []float64) LatencyTail {
	t := LatencyTail{Runs: len(k)}
	if len(k) == 0 {
		return t
	}
	var sw, swk, swkk, swd, swkd float64
	for i := range k {
		sw += w[i]
		swk += w[i] * k[i]
		swkk += w[i] * k[i] * k[i]
		swd += w[i] * d[i]
		swkd += w[i] * k[i] * d[i]
	}
	if det := sw*swkk - swk*swk; det > 1e-12*sw*swkk {
		t.C0 = (swkk*swd - swk*swkd) / det
		t.C1 = (sw*swkd - swk*swd) / det
	}
	switch {
	case t.C0 >= 0 && t.C1 >= 0 && (t.C0 != 0 || t.C1 != 0):
	case t.C1 < 0 || t.C0 == 0 && t.C1 == 0:
		t.C0, t.C1 = math.Max(swd/sw, 0), 0
	default: // C0 < 0: through the origin
		t.C0, t.C1 = 0, math.Max(swkd/swkk, 0)
	}
	return t
}

func (m *Model) warn(format string, args ...any) {
	m.Warnings = append(m.Warnings, fmt.Sprintf(format, args...))
}

func runName(r Measurement, i int) string {
	if r.Name != "" {
		return fmt.Sprintf("run %d (%s)", i, r.Name)
	}
	return fmt.Sprintf("run %d", i)
}

// runMix is the room mix a run posted into.
func runMix(r Measurement) RoomMix {
	if len(r.RoomMix) > 0 {
		return RoomMix{Rooms: r.RoomMix}
	}
	return RoomMix{Rooms: []RoomShare{{Size: max(1, int(math.Round(r.FanOut()))), Weight: 1}}}
}

// spread is the lowest, median and highest of xs (zero for none).
func spread(xs []float64) Band {
	if len(xs) == 0 {
		return Band{}
	}
	lo, hi := xs[0], xs[0]
	for _, x := range xs {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return Band{lo, median(xs), hi}
}

// localHW is this machine with the given cores: the speed factor is 1,
// commits take what the sync-write loop measured, and the disk set, NIC
// and RAM are not limits (the sweep's own measurements include them).
func (m Model) localHW(cores int) hw {
	inf := math.Inf(1)
	return hw{
		cores:     cores,
		factor:    Point(1),
		fsync:     Point(m.FsyncMeanUs * 1e-6),
		fsyncP99:  Point(m.FsyncP99Us * 1e-6),
		iops:      inf,
		seqBps:    inf,
		ramUsable: inf,
		nicBps:    inf,
	}
}

// Uncertainty assumptions where the data cannot give one.
const (
	// unknownRel is the relative uncertainty assumed for a quantity fitted
	// exactly (no degrees of freedom left).
	unknownRel = 0.5
	// assumedSigmaMax is the pessimistic σ when no core scaling was
	// measured.
	assumedSigmaMax = 0.1
)

// level picks an edge of every band: pessimistic (less capacity, more
// latency), central or optimistic.
type level int

const (
	pess level = iota
	mid
	opt
)

// engine evaluates the model on hardware at a level.
type engine struct {
	m  Model
	h  hw
	ca float64 // arrival coefficient of variation
	// local: the hardware is this machine, so the latency tail's
	// per-recipient part (the load generator's) applies.
	local bool
	// cpuScale, when positive, multiplies the CPU per post (one server
	// of a pool: its share of every post, ValidatePool).
	cpuScale float64
	// hop is added to post → last delivery, seconds (a pool's
	// notification to the other servers beyond the commit).
	hop float64
}

func newEngine(m Model, h hw, ca float64) engine { return engine{m: m, h: h, ca: ca} }

// localEngine evaluates the model on this machine with the given cores,
// for the sweep's own runs.
func (m Model) localEngine(cores int) engine {
	return engine{m: m, h: m.localHW(cores), ca: m.ArrivalCV, local: true}
}

// tail is the latency tail at percentile p for rooms of k, in seconds:
// TailP50 up to the median, TailP99 from the 99th percentile, linear in
// between.
func (e engine) tail(k, p float64) float64 {
	t50, t99 := e.m.TailP50.At(k, e.local), e.m.TailP99.At(k, e.local)
	f := math.Min(math.Max((p-0.5)/0.49, 0), 1)
	return (t50 + f*(t99-t50)) * 1e-6
}

func pick(b Band, l level, higherIsWorse bool) float64 {
	switch {
	case l == mid:
		return b.Mid
	case (l == pess) == higherIsWorse:
		return b.High
	default:
		return b.Low
	}
}

func (e engine) factor(l level) float64 { return pick(e.h.factor, l, false) }

// speedup is the USL relative capacity of the hardware's cores.
func (e engine) speedup(l level) float64 {
	u := e.m.USL
	n := float64(e.h.cores)
	s, k := u.Sigma, u.Kappa
	if l == mid {
		return Speedup(n, s, k)
	}
	var ds, dk float64
	switch {
	case !u.SigmaFitted:
		if l == pess {
			return Speedup(n, assumedSigmaMax, 0)
		}
		return Speedup(n, 0, 0)
	case u.SEKnown:
		t := tTwoSided(Confidence, u.DoF)
		ds, dk = t*u.SESigma, t*u.SEKappa
	default:
		ds, dk = unknownRel*s, unknownRel*k
	}
	if l == pess {
		return Speedup(n, s+ds, k+dk)
	}
	return Speedup(n, math.Max(0, s-ds), math.Max(0, k-dk))
}

// fitAt is a linear fit's value at x at a level (higher is worse).
func fitAt(f LinearFit, x float64, l level) float64 {
	y := f.At(x)
	if l == mid {
		return y
	}
	var lo, hi float64
	if f.SEKnown {
		lo, hi = f.Interval(x, Confidence)
	} else {
		lo, hi = y*(1-unknownRel), y*(1+unknownRel)
	}
	if l == pess {
		return hi
	}
	return math.Max(lo, 0.05*y)
}

// roomAt is the CPU model's value at k at a level (higher is worse).
func roomAt(f RoomFit, k float64, l level) float64 {
	y := f.At(k)
	if l == mid {
		return y
	}
	var lo, hi float64
	if f.SEKnown {
		lo, hi = f.Interval(k, Confidence)
	} else {
		lo, hi = y*(1-unknownRel), y*(1+unknownRel)
	}
	if l == pess {
		return hi
	}
	return math.Max(lo, 0.05*y)
}

// cpuUs is the CPU per post in rooms of k on this machine, in µs.
func (e engine) cpuUs(k float64, l level) float64 {
	us := math.Max(roomAt(e.m.CPUModel.Fit, k, l), 1e-3)
	if e.cpuScale > 0 {
		us *= e.cpuScale
	}
	return us
}

// coreSeconds converts µs of this machine's CPU into seconds of one of
// the hardware's cores under contention at saturation efficiency.
func (e engine) coreSeconds(us float64, l level) float64 {
	n := float64(e.h.cores)
	return us * 1e-6 * n / (e.factor(l) * e.speedup(l) * pick(e.m.CPUEfficiency, l, false))
}

// batch is the posts per synchronous flush at X posts/s for flushes of t
// seconds: with group commit the posts that arrived during the previous
// flush, 1 + X·t; without, 1.
func (e engine) batch(X, t float64) float64 {
	if e.m.GroupCommit == GroupCommitObserved {
		return 1 + X*t
	}
	return 1
}

// cpuDemand is the seconds of the whole CPU one post of the mix takes.
func (e engine) cpuDemand(mix RoomMix, l level) float64 {
	var us float64
	for _, r := range mix.shares() {
		us += r.Weight * e.cpuUs(float64(r.Size), l)
	}
	return e.coreSeconds(us, l) / float64(e.h.cores)
}

// use is the utilisation of resource r at X posts/s of the mix (the
// utilisation law U = X·D; for the disk, flushes/s × flush time); NaN when
// the resource is not modelled (not a limit, or not measured).
func (e engine) use(r Resource, mix RoomMix, X float64, l level) float64 {
	t := pick(e.h.fsync, l, true)
	switch r {
	case CPU:
		return X * e.cpuDemand(mix, l)
	case DiskSync:
		if !(t > 0) {
			return math.NaN()
		}
		return X / e.batch(X, t) * t
	case DiskIOPS:
		if !finite(e.h.iops) || !(e.h.iops > 0) {
			return math.NaN()
		}
		u := X / e.batch(X, t) / e.h.iops
		if db := pick(e.m.DiskBytesPerPost, l, true); db > 0 && e.h.seqBps > 0 {
			u += X * db / e.h.seqBps
		}
		return u
	case NIC:
		if !e.m.WireKnown || !finite(e.h.nicBps) || !(e.h.nicBps > 0) {
			return math.NaN()
		}
		var wire float64
		for _, s := range mix.shares() {
			wire += s.Weight * math.Max(fitAt(e.m.Wire, float64(s.Size), l), 0)
		}
		return X * wire * 8 / e.h.nicBps
	}
	return math.NaN()
}

// capacity is the posts/s of the mix at which resource r is fully used
// (+Inf when it never is, NaN when it is not modelled).
func (e engine) capacity(r Resource, mix RoomMix, l level) float64 {
	u1 := e.use(r, mix, 1, l)
	switch {
	case math.IsNaN(u1):
		return u1
	case u1 <= 0:
		return math.Inf(1)
	}
	hi := 1 / u1 // exact for the linear resources
	if u := e.use(r, mix, hi, l); math.Abs(u-1) < 1e-12 {
		return hi
	}
	lo := 0.0
	for e.use(r, mix, hi, l) < 1 {
		lo = hi
		if hi *= 2; hi > 1e12 {
			return math.Inf(1)
		}
	}
	for range 100 {
		m := (lo + hi) / 2
		if e.use(r, mix, m, l) < 1 {
			lo = m
		} else {
			hi = m
		}
	}
	return (lo + hi) / 2
}

// demands are the effective service demands of one post of the mix at
// saturation, 1/capacity in seconds of each whole resource (0 for one
// that never saturates); resources not modelled are left out.
func (e engine) demands(mix RoomMix, l level) []Demand {
	var ds []Demand
	for _, r := range []Resource{CPU, DiskSync, DiskIOPS, NIC} {
		c := e.capacity(r, mix, l)
		if math.IsNaN(c) {
			continue
		}
		ds = append(ds, Demand{Resource: r, Seconds: 1 / c})
	}
	return ds
}

// memPerUser is the memory one online user needs with the mix's rooms.
func (e engine) memPerUser(mix RoomMix, l level) float64 {
	return pick(e.m.MemPerUser, l, true) + mix.roomsPerUser()*pick(e.m.MemPerJoinedRoom, l, true)
}

// latency returns the p-quantile (p in (0,1)) of post ack and of post to
// last delivery, in seconds, for posts of the mix at X posts/s; +Inf when
// the CPU or the commit log is saturated.
func (e engine) latency(mix RoomMix, X float64, l level, p float64) (ack, last float64) {
	inf := math.Inf(1)
	shares := mix.shares()
	n := e.h.cores
	type part struct{ w, post, fan, tau float64 }
	parts := make([]part, len(shares))
	var mean, m2 float64
	cs2 := e.m.ServiceCV * e.m.ServiceCV
	for i, r := range shares {
		k := float64(r.Size)
		total := e.coreSeconds(e.cpuUs(k, l), l)
		// Split the post's CPU into its own handling and the fan-out in
		// the proportions of the central fit.
		a, fan := e.m.CPUModel.Fit.Split(k)
		frac := 0.5
		if a+fan > 0 {
			frac = a / (a + fan)
		}
		parts[i] = part{w: r.Weight, post: total * frac, fan: total * (1 - frac), tau: total}
		mean += r.Weight * total
		m2 += r.Weight * (1 + cs2) * total * total
	}
	rho := X * mean / float64(n)
	if rho >= 1 {
		return inf, inf
	}
	scv := m2/(mean*mean) - 1
	pw := ErlangC(n, X*mean)
	wq := AllenCunneenWait(n, X, mean, e.ca, math.Sqrt(math.Max(scv, 0)))
	theta := 0.0
	if pw > 0 {
		theta = wq / pw
	}
	// Commit: the post's own flush, plus the one in progress when the log
	// is busy.
	var commit float64
	if fs := pick(e.h.fsync, l, true); fs > 0 {
		u := e.use(DiskSync, mix, X, l)
		if u >= 1 {
			return inf, inf
		}
		c50 := fs * (1 + u/2)
		c99 := pick(e.h.fsyncP99, l, true) * (1 + u)
		commit = c50
		if p > 0.5 {
			commit = c50 + (c99-c50)*math.Min(1, (p-0.5)/0.49)
		}
	}
	stretch := 1 + pw/(float64(n)*(1-rho))
	base := e.m.BaseLatencyUs * 1e-6
	dAck := make([]float64, len(parts))
	dLast := make([]float64, len(parts))
	for i, pt := range parts {
		dAck[i] = base + pt.post + commit
		dLast[i] = dAck[i] + e.hop + pt.fan*stretch + e.tail(float64(shares[i].Size), p)
	}
	ws := make([]float64, len(parts))
	for i, pt := range parts {
		ws[i] = pt.w
	}
	return mixQuantile(ws, dAck, pw, theta, p), mixQuantile(ws, dLast, pw, theta, p)
}

// mixQuantile is the p-quantile of T = d_i + W over a mixture with weights
// w, where W waits with probability pw and then exponentially with mean
// theta.
func mixQuantile(w, d []float64, pw, theta, p float64) float64 {
	tail := func(t float64) float64 {
		var g float64
		for i := range w {
			x := t - d[i]
			switch {
			case x < 0:
				g += w[i]
			case theta > 0:
				g += w[i] * pw * math.Exp(-x/theta)
			}
		}
		return g
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range d {
		lo, hi = math.Min(lo, d[i]), math.Max(hi, d[i])
	}
	if tail(lo) <= 1-p {
		return lo
	}
	hi += WaitPercentile(pw, pw*theta, p) + theta + 1e-12
	for tail(hi) > 1-p {
		hi = 2*hi + 1e-9
	}
	for range 100 {
		m := (lo + hi) / 2
		if tail(m) > 1-p {
			lo = m
		} else {
			hi = m
		}
	}
	return hi
}
