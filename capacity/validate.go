package capacity

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Metric is what a hold-out predicts.
type Metric string

// The metrics HoldOut can predict.
const (
	// MetricCPU is the held-out run's server CPU seconds.
	MetricCPU Metric = "server-cpu"
	// MetricThroughput is its achieved posts/s: min(offered, the model's
	// capacity at its cores and room size). Meaningful for saturated runs.
	MetricThroughput Metric = "throughput"
	// MetricLatency is its p99 post → last delivery.
	MetricLatency Metric = "latency-p99"
)

// Validation limits: a hold-out error above MaxHoldOutError, or a CPU fit
// with R² below MinR2, marks the prediction Poor.
const (
	MaxHoldOutError = 0.15
	MinR2           = 0.9
)

// Targets of the validation statuses: the mean hold-out error at every
// room size, for server CPU and for p99 post → last delivery. A check
// that misses its target is amber; beyond FarOff times the target, or
// not checked at all, it is red.
const (
	CPUTarget     = 0.10
	LatencyTarget = 0.20
	FarOff        = 2.0
)

// Status is a validation verdict.
type Status string

// The statuses, best first.
const (
	StatusGreen Status = "green" // within the target at every room size
	StatusAmber Status = "amber" // misses the target, within FarOff times it
	StatusRed   Status = "red"   // far off, or not validated
)

func worse(a, b Status) Status {
	rank := map[Status]int{StatusGreen: 0, StatusAmber: 1, StatusRed: 2, "": 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Check is one quantity's validation: each run held out in turn and
// predicted by the model fitted without it, the errors averaged per room
// size.
type Check struct {
	Metric Metric      `json:"metric"`
	Status Status      `json:"status"`
	Target float64     `json:"target"`
	BySize []SizeError `json:"by_size"`
	// Worst is the largest per-size mean error.
	Worst    float64 `json:"worst"`
	Runs     int     `json:"runs"`
	Sentence string  `json:"sentence"`
}

// judge gives the check's status from the per-run errors.
func judge(metric Metric, target float64, sizes []float64, errs []float64, none string) Check {
	c := Check{Metric: metric, Target: target, Runs: len(errs)}
	what := map[Metric]string{MetricCPU: "Server CPU", MetricLatency: "Latency (p99 post→last delivery)"}[metric]
	if len(errs) == 0 {
		c.Status = StatusRed
		c.Sentence = fmt.Sprintf("%s not validated: %s.", what, none)
		return c
	}
	idx := map[float64]int{}
	for i, s := range sizes {
		j, ok := idx[s]
		if !ok {
			j = len(c.BySize)
			idx[s] = j
			c.BySize = append(c.BySize, SizeError{RoomSize: s})
		}
		e := math.Abs(errs[i])
		if !finite(e) {
			e = math.Inf(1)
		}
		c.BySize[j].Runs++
		c.BySize[j].MeanAbs += e
		c.BySize[j].Worst = math.Max(c.BySize[j].Worst, e)
	}
	sort.Slice(c.BySize, func(a, b int) bool { return c.BySize[a].RoomSize < c.BySize[b].RoomSize })
	var parts []string
	worst := 0
	for i := range c.BySize {
		c.BySize[i].MeanAbs /= float64(c.BySize[i].Runs)
		if c.BySize[i].MeanAbs > c.BySize[worst].MeanAbs {
			worst = i
		}
		parts = append(parts, fmt.Sprintf("rooms of %s %s", num(c.BySize[i].RoomSize), pctErr(c.BySize[i].MeanAbs)))
	}
	c.Worst = c.BySize[worst].MeanAbs
	detail := strings.Join(parts, ", ")
	w := c.BySize[worst]
	switch {
	case c.Worst <= target:
		c.Status = StatusGreen
		c.Sentence = fmt.Sprintf("%s: within its %.0f%% target at every room size (held out run by run, %d runs; mean error %s).", what, 100*target, c.Runs, detail)
	case c.Worst <= FarOff*target:
		c.Status = StatusAmber
		c.Sentence = fmt.Sprintf("%s misses its %.0f%% target: rooms of %s are off by %s on average (held out run by run, %d runs; %s).", what, 100*target, num(w.RoomSize), pctErr(w.MeanAbs), c.Runs, detail)
	default:
		c.Status = StatusRed
		c.Sentence = fmt.Sprintf("%s is far off its %.0f%% target: rooms of %s are off by %s on average (held out run by run, %d runs; %s).", what, 100*target, num(w.RoomSize), pctErr(w.MeanAbs), c.Runs, detail)
	}
	return c
}

func pctErr(e float64) string {
	if !finite(e) {
		return "no finite prediction"
	}
	return fmt.Sprintf("%.1f%%", 100*e)
}

// HoldOutResult is one held-out prediction.
type HoldOutResult struct {
	Index     int     `json:"index"`
	Name      string  `json:"name"`
	Metric    Metric  `json:"metric"`
	Measured  float64 `json:"measured"`
	Predicted float64 `json:"predicted"`
	// RelError is (predicted − measured) / measured.
	RelError float64 `json:"rel_error"`
	// R2 is the CPU fit's R² without the held-out run.
	R2 float64 `json:"r2"`
	// Poor: |RelError| > MaxHoldOutError or R2 < MinR2.
	Poor     bool   `json:"poor"`
	Sentence string `json:"sentence"`
}

// HoldOut fits the model on every run but cal.Measurements[index] and
// predicts that run's metric on this machine (speed factor 1, its own
// cores, its own load).
func HoldOut(cal Calibration, index int, metric Metric) (HoldOutResult, error) {
	if index < 0 || index >= len(cal.Measurements) {
		return HoldOutResult{}, fmt.Errorf("hold-out: no run %d (have %d)", index, len(cal.Measurements))
	}
	r := cal.Measurements[index]
	res := HoldOutResult{Index: index, Name: r.Name, Metric: metric}
	if res.Name == "" {
		res.Name = fmt.Sprintf("run %d", index)
	}
	rest := cal
	rest.Measurements = make([]Measurement, 0, len(cal.Measurements)-1)
	rest.Measurements = append(rest.Measurements, cal.Measurements[:index]...)
	rest.Measurements = append(rest.Measurements, cal.Measurements[index+1:]...)
	m, err := Fit(rest)
	if err != nil {
		return HoldOutResult{}, fmt.Errorf("hold-out of %s: %w", res.Name, err)
	}
	res.R2 = m.CPU.R2
	e := m.localEngine(r.Cores)
	switch metric {
	case MetricCPU:
		res.Measured = r.ServerCPUSeconds
		res.Predicted = e.cpuUs(r.FanOut(), mid) * 1e-6 * r.Posts()
	case MetricThroughput:
		res.Measured = r.AchievedPostsPerSec
		res.Predicted = math.Min(r.OfferedPostsPerSec, MaxThroughput(e.demands(runMix(r), mid)))
	case MetricLatency:
		res.Measured = r.Latency.PostLastDeliveryP99
		_, last := e.latency(runMix(r), r.AchievedPostsPerSec, mid, 0.99)
		res.Predicted = last * 1e6
	default:
		return HoldOutResult{}, fmt.Errorf("hold-out: unknown metric %q", metric)
	}
	if !(res.Measured > 0) {
		return HoldOutResult{}, fmt.Errorf("hold-out of %s: %s was not measured", res.Name, metric)
	}
	res.RelError = (res.Predicted - res.Measured) / res.Measured
	if !finite(res.RelError) {
		res.RelError = math.Inf(1)
	}
	res.Poor = !(math.Abs(res.RelError) <= MaxHoldOutError) || res.R2 < MinR2
	res.Sentence = fmt.Sprintf("%s of %s predicted %s, measured %s: %s", metricName(metric), res.Name,
		fmtMetric(metric, res.Predicted), fmtMetric(metric, res.Measured), fmtErr(res.RelError))
	return res, nil
}

func metricName(m Metric) string {
	switch m {
	case MetricCPU:
		return "server CPU"
	case MetricThroughput:
		return "throughput"
	case MetricLatency:
		return "p99 post→last delivery"
	}
	return string(m)
}

func fmtMetric(m Metric, v float64) string {
	if !finite(v) {
		return "saturated"
	}
	switch m {
	case MetricCPU:
		return fmt.Sprintf("%.3g s", v)
	case MetricThroughput:
		return fmt.Sprintf("%.4g posts/s", v)
	case MetricLatency:
		return fmtDur(v)
	}
	return fmt.Sprintf("%.4g", v)
}

func fmtErr(e float64) string {
	if !finite(e) {
		return "no finite prediction"
	}
	return fmt.Sprintf("error %+.1f%%", 100*e)
}

// Validation is the hold-out check every capacity report carries.
type Validation struct {
	// Done is false when there were too few runs to hold one out.
	Done bool `json:"done"`
	// HeldOut are the checks made: server CPU of the most loaded run that
	// can be left out, throughput of the most loaded saturated one, and
	// the latency of the first when it was measured.
	HeldOut []HoldOutResult `json:"held_out"`
	// Error is the largest |relative error| of the capacity checks (CPU,
	// throughput); it widens every capacity band.
	Error float64 `json:"error"`
	// LatencyError is the latency check's |relative error| (when
	// LatencyChecked); it widens the latency bands.
	LatencyError   float64 `json:"latency_error"`
	LatencyChecked bool    `json:"latency_checked"`
	// LeaveOneOut summarises the CPU hold-out over every run that can be
	// left out in turn.
	LeaveOneOutMean float64 `json:"leave_one_out_mean_error"`
	LeaveOneOutMax  float64 `json:"leave_one_out_max_error"`
	LeaveOneOutRuns int     `json:"leave_one_out_runs"`
	// R2 is the CPU fit's R² on all runs.
	R2 float64 `json:"r2"`
	// Poor: Error above MaxHoldOutError, R2 below MinR2, or not Done.
	Poor        bool `json:"poor"`
	LatencyPoor bool `json:"latency_poor"`
	// CPUCheck and LatencyCheck are the statuses against CPUTarget and
	// LatencyTarget at every room size; Status is the worse of the two.
	CPUCheck     Check  `json:"cpu_check"`
	LatencyCheck Check  `json:"latency_check"`
	Status       Status `json:"status"`
	// Sentence says it plainly, for the report.
	Sentence string `json:"sentence"`
}

// Validate runs the hold-out checks on the calibration.
func Validate(cal Calibration) Validation {
	var v Validation
	all, err := Fit(cal)
	if err != nil {
		v.Poor = true
		v.Sentence = fmt.Sprintf("Not validated: %v.", err)
		v.CPUCheck = judge(MetricCPU, CPUTarget, nil, nil, err.Error())
		v.LatencyCheck = judge(MetricLatency, LatencyTarget, nil, nil, err.Error())
		v.Status = StatusRed
		return v
	}
	v.R2 = all.CPU.R2
	// Runs that can be left out: the fit without them still works.
	var ok []int
	var sum float64
	var cpuSizes, cpuErrs, latSizes, latErrs []float64
	for _, i := range all.Used {
		res, err := HoldOut(cal, i, MetricCPU)
		if err != nil {
			continue
		}
		ok = append(ok, i)
		a := math.Abs(res.RelError)
		sum += a
		v.LeaveOneOutMax = math.Max(v.LeaveOneOutMax, a)
		size := math.Round(cal.Measurements[i].MeanRoomSize())
		cpuSizes, cpuErrs = append(cpuSizes, size), append(cpuErrs, res.RelError)
		if r := cal.Measurements[i]; !saturated(r) && r.Latency.PostLastDeliveryP99 > 0 {
			if res, err := HoldOut(cal, i, MetricLatency); err == nil {
				latSizes, latErrs = append(latSizes, size), append(latErrs, res.RelError)
			}
		}
	}
	v.CPUCheck = judge(MetricCPU, CPUTarget, cpuSizes, cpuErrs, "no run can be held out (the fit needs 2 room sizes without it)")
	v.LatencyCheck = judge(MetricLatency, LatencyTarget, latSizes, latErrs, "no run below saturation measured p99 post → last delivery and can be held out")
	v.Status = worse(v.CPUCheck.Status, v.LatencyCheck.Status)
	if len(ok) == 0 {
		v.Poor = true
		v.Sentence = fmt.Sprintf("Not validated: no run can be held out (the fit needs 2 room sizes; %d valid runs at %d room sizes).", len(all.Used), all.RoomSizes)
		return v
	}
	v.Done = true
	v.LeaveOneOutRuns = len(ok)
	v.LeaveOneOutMean = sum / float64(len(ok))
	byLoad := func(pred func(Measurement) bool) int {
		best := -1
		for _, i := range ok {
			r := cal.Measurements[i]
			if pred(r) && (best < 0 || r.ServerUtilization() > cal.Measurements[best].ServerUtilization()) {
				best = i
			}
		}
		return best
	}
	primary := byLoad(func(Measurement) bool { return true })
	if res, err := HoldOut(cal, primary, MetricCPU); err == nil {
		v.HeldOut = append(v.HeldOut, res)
		v.Error = math.Abs(res.RelError)
	}
	if i := byLoad(saturated); i >= 0 {
		if res, err := HoldOut(cal, i, MetricThroughput); err == nil {
			v.HeldOut = append(v.HeldOut, res)
			v.Error = math.Max(v.Error, math.Abs(res.RelError))
		}
	}
	// Latency: the most loaded run below saturation (at saturation an
	// open-model queue grows for as long as the run lasts).
	if i := byLoad(func(r Measurement) bool { return !saturated(r) && r.Latency.PostLastDeliveryP99 > 0 }); i >= 0 {
		if res, err := HoldOut(cal, i, MetricLatency); err == nil {
			v.HeldOut = append(v.HeldOut, res)
			v.LatencyChecked = true
			v.LatencyError = math.Abs(res.RelError)
			v.LatencyPoor = !(v.LatencyError <= MaxHoldOutError)
		}
	}
	v.Poor = !(v.Error <= MaxHoldOutError) || v.R2 < MinR2
	var checks string
	for i, h := range v.HeldOut {
		if h.Metric == MetricLatency {
			continue
		}
		if i > 0 {
			checks += "; "
		}
		checks += h.Sentence
	}
	switch {
	case v.Poor && v.R2 < MinR2:
		v.Sentence = fmt.Sprintf("POOR FIT: CPU per post against room size has R² %.3f (below %.2f); %s. Treat every figure as rough.", v.R2, MinR2, checks)
	case v.Poor:
		v.Sentence = fmt.Sprintf("POOR PREDICTION: held out and predicted, the model is off by %.1f%%, above the %.0f%% limit (%s). Treat every figure as rough.", 100*v.Error, 100*MaxHoldOutError, checks)
	default:
		v.Sentence = fmt.Sprintf("Most loaded runs held out and predicted: within %.1f%% (limit %.0f%%; %s; CPU fit R² %.3f).", 100*v.Error, 100*MaxHoldOutError, checks, v.R2)
	}
	v.Sentence += fmt.Sprintf(" Leaving out each of %d runs in turn: server CPU error mean %.1f%%, worst %.1f%%.", v.LeaveOneOutRuns, 100*v.LeaveOneOutMean, 100*v.LeaveOneOutMax)
	if v.LatencyChecked {
		for _, h := range v.HeldOut {
			if h.Metric == MetricLatency {
				verdict := "within the limit"
				if v.LatencyPoor {
					verdict = fmt.Sprintf("above the %.0f%% limit: the latency figures are rough", 100*MaxHoldOutError)
				}
				v.Sentence += fmt.Sprintf(" Latency: %s (%s).", h.Sentence, verdict)
			}
		}
	}
	return v
}
