package capacity

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// The published targets of OCS 2007 R2 Group Chat (docs/capacity.md).
const (
	TargetPostsPerSec    = 40     // messages a second
	TargetUsersPerRoom   = 1000   // users per chat room
	TargetUsersPerServer = 20000  // concurrent users per server
	TargetUsersPerPool   = 60000  // concurrent users per pool
	TargetServersPerPool = 3      // servers in that pool
	objectiveMaxRoomSize = 1e8    // search limit for users per room
	defaultObjectiveUs   = 500000 // p99 post → last delivery < 500 ms
)

// DefaultTableSizes are the room sizes of the per-size table (the mix's
// sizes are added).
var DefaultTableSizes = []int{10, 30, 150, 1000, 16000}

// HotPathFactorRel is the relative band put around a CPU factor derived
// from hot-path micro-calibrations on both machines (micro-benchmarks move
// by about this much from one run to the next).
const HotPathFactorRel = 0.2

// LatencyObjective is the latency a deployment must meet and the loads to
// predict at.
type LatencyObjective struct {
	// Percentile of post → last delivery, e.g. 99.
	Percentile float64 `json:"percentile"`
	// PostToLastDeliveryUs is the bound, e.g. 500,000 (500 ms).
	PostToLastDeliveryUs float64 `json:"post_to_last_delivery_us"`
	// AtPostsPerSec is the load (posts/s, all into rooms of one size) at
	// which the users per room are judged, e.g. 40.
	AtPostsPerSec float64 `json:"at_posts_per_s"`
	// Loads are the posts/s of the mix to predict latency and utilisation
	// at; empty: AtPostsPerSec and 25, 50, 80 and 95% of the central
	// maximum.
	Loads []float64 `json:"loads_posts_per_s,omitempty"`
}

// DefaultObjective is p99 post → last delivery under 500 ms at 40 posts/s.
func DefaultObjective() LatencyObjective {
	return LatencyObjective{Percentile: 99, PostToLastDeliveryUs: defaultObjectiveUs, AtPostsPerSec: TargetPostsPerSec}
}

// Constraint is what one resource allows for the mix.
type Constraint struct {
	Resource Resource `json:"resource"`
	// DemandPerPost is the seconds of the whole resource one post takes
	// (zero for RAM).
	DemandPerPost Band `json:"demand_per_post_s"`
	// MaxPostsPerSec is 1/DemandPerPost (null for RAM).
	MaxPostsPerSec Band `json:"max_posts_per_s"`
	// MaxUsers is the concurrent users the resource allows: RAM directly,
	// the others through the mix's posts per user per hour (null when
	// it is not given).
	MaxUsers Band `json:"max_users"`
}

// SizeRow is the capacity for posts into rooms of one size.
type SizeRow struct {
	RoomSize            int      `json:"room_size"`
	MaxPostsPerSec      Band     `json:"max_posts_per_s"`
	MaxDeliveriesPerSec Band     `json:"max_deliveries_per_s"`
	Binding             Resource `json:"binding"`
	// LastDeliveryUs is the objective's percentile of post → last
	// delivery at the objective's load into rooms of this size (null when
	// that load saturates).
	LastDeliveryUs Band `json:"post_to_last_delivery_us"`
	// MeetsObjective: the central estimate is within the bound.
	MeetsObjective bool `json:"meets_objective"`
}

// Use is the utilisation of one resource.
type Use struct {
	Resource    Resource `json:"resource"`
	Utilization Band     `json:"utilization"`
}

// LoadPoint is the prediction at one load of the mix.
type LoadPoint struct {
	PostsPerSec      float64 `json:"posts_per_s"`
	DeliveriesPerSec float64 `json:"deliveries_per_s"`
	Utilization      []Use   `json:"utilization"`
	// Latency percentiles in µs (null when saturated).
	PostAckP50Us      Band `json:"post_ack_p50_us"`
	PostAckP99Us      Band `json:"post_ack_p99_us"`
	LastDeliveryP50Us Band `json:"post_to_last_delivery_p50_us"`
	LastDeliveryP99Us Band `json:"post_to_last_delivery_p99_us"`
}

// Headroom compares a prediction with a published target.
type Headroom struct {
	Target    string  `json:"target"`
	Published float64 `json:"published"`
	Predicted Band    `json:"predicted"`
	// Ratio is Predicted/Published: above 1 the target is met.
	Ratio Band   `json:"ratio"`
	Note  string `json:"note,omitempty"`
}

// Prediction is the capacity of a profile for a mix. Capacities are bands
// whose Low is the pessimistic end; latencies and utilisations bands
// whose High is.
type Prediction struct {
	Profile Profile `json:"profile"`
	// CPUFactor is the core speed factor used, and where it came from.
	CPUFactor       Band             `json:"cpu_factor"`
	CPUFactorSource string           `json:"cpu_factor_source"`
	Mix             RoomMix          `json:"mix"`
	Objective       LatencyObjective `json:"objective"`
	Model           Model            `json:"model"`
	Validation      Validation       `json:"validation"`

	MaxPostsPerSec      Band     `json:"max_posts_per_s"`
	MaxDeliveriesPerSec Band     `json:"max_deliveries_per_s"`
	PostsBinding        Resource `json:"posts_binding"`
	MaxUsers            Band     `json:"max_users"`
	UsersBinding        Resource `json:"users_binding"`
	// MaxUsersPerRoom is the largest room whose posts meet the objective
	// at the objective's load.
	MaxUsersPerRoom Band `json:"max_users_per_room"`

	Constraints []Constraint `json:"constraints"`
	BySize      []SizeRow    `json:"by_room_size"`
	Loads       []LoadPoint  `json:"loads"`
	Headroom    []Headroom   `json:"headroom"`
	// Warnings are plain sentences about weak inputs or results.
	Warnings []string `json:"warnings,omitempty"`
}

// Predict maps the calibration onto the profile for the mix. Every figure
// is a band: each uncertain input (CPU factor, fit standard errors, USL
// parameters, disk latency, measured memory) is taken at its pessimistic,
// central and optimistic edge together, and the validation error widens
// the result further.
func Predict(cal Calibration, prof Profile, mix RoomMix, obj LatencyObjective) (Prediction, error) {
	if err := prof.Validate(); err != nil {
		return Prediction{}, fmt.Errorf("profile %s: %w", prof.Name, err)
	}
	if err := mix.Validate(); err != nil {
		return Prediction{}, err
	}
	if obj.Percentile == 0 {
		obj.Percentile = 99
	}
	if !(obj.Percentile > 0 && obj.Percentile < 100) {
		return Prediction{}, fmt.Errorf("objective: percentile %g (want between 0 and 100)", obj.Percentile)
	}
	if obj.PostToLastDeliveryUs <= 0 {
		obj.PostToLastDeliveryUs = defaultObjectiveUs
	}
	if obj.AtPostsPerSec <= 0 {
		obj.AtPostsPerSec = TargetPostsPerSec
	}
	for _, x := range obj.Loads {
		if !(x > 0) || !finite(x) {
			return Prediction{}, fmt.Errorf("objective: load %g posts/s (want a positive number)", x)
		}
	}
	m, err := Fit(cal)
	if err != nil {
		return Prediction{}, err
	}
	pr := Prediction{Profile: prof, Mix: mix, Objective: obj, Model: m}
	pr.Warnings = append(pr.Warnings, m.Warnings...)
	pr.Validation = Validate(cal)
	if pr.Validation.Poor {
		pr.Warnings = append(pr.Warnings, pr.Validation.Sentence)
	}

	h := prof.resolve()
	pr.CPUFactorSource = "profile cpu_factor"
	if prof.HotPathDeliveryUs > 0 {
		if m.HotPathDeliveryUs > 0 {
			f := m.HotPathDeliveryUs / prof.HotPathDeliveryUs
			h.factor = Band{f * (1 - HotPathFactorRel), f, f * (1 + HotPathFactorRel)}
			pr.CPUFactorSource = fmt.Sprintf("hot-path micro-calibrations: %.3g µs here / %.3g µs on the profile's hardware, ±%.0f%%", m.HotPathDeliveryUs, prof.HotPathDeliveryUs, 100*HotPathFactorRel)
		} else if h.factor == (Band{}) {
			return Prediction{}, errors.New("profile gives hot_path_cpu_per_delivery_us but no cpu_factor, and the calibration has no hot-path figure to compare with")
		} else {
			pr.Warnings = append(pr.Warnings, "the profile's hot-path figure is unused: the calibration has none; using its cpu_factor")
		}
	}
	pr.CPUFactor = h.factor
	if m.CPU.XMax > 0 {
		for _, r := range mix.Rooms {
			if float64(r.Size) > 2*m.CPU.XMax {
				pr.Warnings = append(pr.Warnings, fmt.Sprintf("rooms of %d are beyond the largest measured (%.0f): the CPU fit is extrapolated", r.Size, m.CPU.XMax))
				break
			}
		}
	}
	e := newEngine(m, h, 1) // deployments: Poisson arrivals

	widen := pr.Validation.Error
	if !pr.Validation.Done {
		widen = 0
	}
	widen = math.Min(widen, 0.9)
	latWiden := widen
	if pr.Validation.LatencyChecked {
		latWiden = math.Min(math.Max(widen, pr.Validation.LatencyError), 0.9)
	}
	capBand := func(f func(level) float64) Band {
		b := Band{f(pess), f(mid), f(opt)}.sorted()
		return Band{b.Low * (1 - widen), b.Mid, b.High * (1 + widen)}
	}
	latBand := func(f func(level) float64) Band {
		b := Band{f(opt), f(mid), f(pess)}.sorted()
		return Band{b.Low * (1 - latWiden), b.Mid, b.High * (1 + latWiden)}
	}
	pctl := obj.Percentile / 100
	kbar := mix.MeanSize()
	pph := mix.PostsPerUserPerHour

	// Capacity of each resource for the mix.
	demand := map[level]map[Resource]float64{}
	for _, l := range []level{pess, mid, opt} {
		demand[l] = map[Resource]float64{}
		for _, d := range e.demands(mix, l) {
			demand[l][d.Resource] = d.Seconds
		}
	}
	upBand := func(f func(level) float64) Band { // higher is worse
		b := Band{f(opt), f(mid), f(pess)}.sorted()
		return Band{b.Low * (1 - widen), b.Mid, b.High * (1 + widen)}
	}
	usersFor := func(x float64) float64 {
		if pph <= 0 {
			return math.Inf(1)
		}
		return x * 3600 / pph
	}
	for _, r := range []Resource{CPU, DiskSync, DiskIOPS, NIC} {
		if _, ok := demand[mid][r]; !ok {
			continue
		}
		c := Constraint{Resource: r}
		c.DemandPerPost = upBand(func(l level) float64 { return demand[l][r] })
		c.MaxPostsPerSec = capBand(func(l level) float64 { return 1 / demand[l][r] })
		c.MaxUsers = capBand(func(l level) float64 { return usersFor(1 / demand[l][r]) })
		pr.Constraints = append(pr.Constraints, c)
	}
	if e.m.MemPerUser.Mid > 0 && finite(h.ramUsable) {
		c := Constraint{Resource: RAM, MaxPostsPerSec: Point(math.Inf(1))}
		c.MaxUsers = capBand(func(l level) float64 { return h.ramUsable / e.memPerUser(mix, l) })
		pr.Constraints = append(pr.Constraints, c)
	}
	maxPosts := func(l level) float64 { return MaxThroughput(e.demands(mix, l)) }
	pr.MaxPostsPerSec = capBand(maxPosts)
	pr.MaxDeliveriesPerSec = pr.MaxPostsPerSec.Scale(kbar)
	if b, ok := Bottleneck(e.demands(mix, mid)); ok {
		pr.PostsBinding = b.Resource
	}
	pr.MaxUsers = Point(math.Inf(1))
	for _, c := range pr.Constraints {
		if pr.UsersBinding == "" || c.MaxUsers.Mid < pr.MaxUsers.Mid {
			pr.UsersBinding = c.Resource
		}
		pr.MaxUsers = Band{math.Min(pr.MaxUsers.Low, c.MaxUsers.Low), math.Min(pr.MaxUsers.Mid, c.MaxUsers.Mid), math.Min(pr.MaxUsers.High, c.MaxUsers.High)}
	}
	if !pr.MaxUsers.Finite() {
		pr.UsersBinding = ""
		pr.Warnings = append(pr.Warnings, "concurrent users are not bounded by what was measured: give the mix's posts_per_user_per_hour and measure memory per user")
	}

	// Users per room at the objective.
	meets := func(k float64, l level) bool {
		_, last := e.latency(SingleSize(int(k)), obj.AtPostsPerSec, l, pctl)
		return last*1e6 <= obj.PostToLastDeliveryUs
	}
	pr.MaxUsersPerRoom = capBand(func(l level) float64 {
		if !meets(1, l) {
			return 0
		}
		hi := 2.0
		for meets(hi, l) {
			if hi >= objectiveMaxRoomSize {
				return math.Inf(1)
			}
			hi *= 2
		}
		lo := hi / 2
		for hi-lo > 1 {
			m := math.Floor((lo + hi) / 2)
			if meets(m, l) {
				lo = m
			} else {
				hi = m
			}
		}
		return lo
	})
	pr.MaxUsersPerRoom = Band{math.Floor(pr.MaxUsersPerRoom.Low), math.Floor(pr.MaxUsersPerRoom.Mid), math.Floor(pr.MaxUsersPerRoom.High)}

	// Per room size.
	sizes := map[int]bool{}
	for _, k := range DefaultTableSizes {
		sizes[k] = true
	}
	for _, r := range mix.Rooms {
		sizes[r.Size] = true
	}
	var ks []int
	for k := range sizes {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	for _, k := range ks {
		one := SingleSize(k)
		row := SizeRow{RoomSize: k}
		row.MaxPostsPerSec = capBand(func(l level) float64 { return MaxThroughput(e.demands(one, l)) })
		row.MaxDeliveriesPerSec = row.MaxPostsPerSec.Scale(float64(k))
		if b, ok := Bottleneck(e.demands(one, mid)); ok {
			row.Binding = b.Resource
		}
		row.LastDeliveryUs = latBand(func(l level) float64 {
			_, last := e.latency(one, obj.AtPostsPerSec, l, pctl)
			return last * 1e6
		})
		row.MeetsObjective = row.LastDeliveryUs.Mid <= obj.PostToLastDeliveryUs
		pr.BySize = append(pr.BySize, row)
	}

	// Loads.
	loads := obj.Loads
	if len(loads) == 0 {
		loads = []float64{obj.AtPostsPerSec}
		if mx := pr.MaxPostsPerSec.Mid; finite(mx) {
			for _, f := range []float64{0.25, 0.5, 0.8, 0.95} {
				loads = append(loads, roundSig(f*mx, 3))
			}
		}
	}
	loads = uniqueSorted(loads)
	for _, x := range loads {
		lp := LoadPoint{PostsPerSec: x, DeliveriesPerSec: x * kbar}
		for _, c := range pr.Constraints {
			r := c.Resource
			var u Band
			if r == RAM {
				if pph <= 0 {
					continue
				}
				u = upBand(func(l level) float64 { return usersFor(x) * e.memPerUser(mix, l) / h.ramUsable })
			} else {
				u = upBand(func(l level) float64 { return e.use(r, mix, x, l) })
			}
			lp.Utilization = append(lp.Utilization, Use{Resource: r, Utilization: u})
		}
		lat := func(which int, p float64) Band {
			return latBand(func(l level) float64 {
				ack, last := e.latency(mix, x, l, p)
				if which == 0 {
					return ack * 1e6
				}
				return last * 1e6
			})
		}
		lp.PostAckP50Us, lp.PostAckP99Us = lat(0, 0.5), lat(0, 0.99)
		lp.LastDeliveryP50Us, lp.LastDeliveryP99Us = lat(1, 0.5), lat(1, 0.99)
		pr.Loads = append(pr.Loads, lp)
	}

	// Headroom against the published targets.
	ratio := func(b Band, t float64) Band { return b.Scale(1 / t) }
	pr.Headroom = []Headroom{
		{Target: "40 messages/s", Published: TargetPostsPerSec, Predicted: pr.MaxPostsPerSec, Ratio: ratio(pr.MaxPostsPerSec, TargetPostsPerSec),
			Note: "max posts/s for the mix " + mixName(mix)},
		{Target: "1,000 users per room", Published: TargetUsersPerRoom, Predicted: pr.MaxUsersPerRoom, Ratio: ratio(pr.MaxUsersPerRoom, TargetUsersPerRoom),
			Note: fmt.Sprintf("largest room with p%g post→last delivery < %s at %g posts/s", obj.Percentile, fmtDur(obj.PostToLastDeliveryUs), obj.AtPostsPerSec)},
		{Target: "20,000 users per server", Published: TargetUsersPerServer, Predicted: pr.MaxUsers, Ratio: ratio(pr.MaxUsers, TargetUsersPerServer),
			Note: "max concurrent users for the mix"},
		{Target: "60,000 users per pool", Published: TargetUsersPerPool, Predicted: pr.MaxUsers.Scale(TargetServersPerPool), Ratio: ratio(pr.MaxUsers.Scale(TargetServersPerPool), TargetUsersPerPool),
			Note: fmt.Sprintf("%d servers, each as predicted; assumes the database is on its own machine and the pool scales linearly", TargetServersPerPool)},
	}
	return pr, nil
}

func mixName(m RoomMix) string {
	if m.Name != "" {
		return m.Name
	}
	s := ""
	for i, r := range m.shares() {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%.3g%% to rooms of %d", 100*r.Weight, r.Size)
	}
	return s
}

func roundSig(x float64, digits int) float64 {
	if x == 0 || !finite(x) {
		return x
	}
	p := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(x))))
	return math.Round(x*p) / p
}

func uniqueSorted(xs []float64) []float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
