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

// PoolCPUPerDelivery is the server CPU a delivery costs in a pool whose
// rooms have members on every server, over what it costs on one server:
// each server renders and sends its own share of a post's fan-out and
// takes in the others' posts. BenchmarkPoolDelivery's three servers on one
// PostgreSQL against one, each server's idle cost taken out, in two
// sessions (docs/performance.md, "Pools"): 23.0 µs per delivery against
// 17.3, and 25.5 against 15.25. The pessimistic edge takes the larger
// ratio, the central one their mean, the optimistic none (a pool whose
// lookup keeps each room's members on one server pays none of it).
var PoolCPUPerDelivery = Band{Low: 25.5 / 15.25, Mid: (23.0/17.3 + 25.5/15.25) / 2, High: 1}

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

// Binding names the binding resource at each edge of a band ("" when
// nothing measured bounds it).
type Binding struct {
	Low  Resource `json:"low"`
	Mid  Resource `json:"mid"`
	High Resource `json:"high"`
}

// Same reports whether one resource binds the whole band.
func (b Binding) Same() bool { return b.Low == b.Mid && b.Mid == b.High }

// bindingOf is the resource with the smallest value at each edge.
func bindingOf(cs []Constraint, value func(Constraint) Band) Binding {
	var b Binding
	lo, mi, hi := math.Inf(1), math.Inf(1), math.Inf(1)
	for _, c := range cs {
		v := value(c)
		if v.Low < lo {
			lo, b.Low = v.Low, c.Resource
		}
		if v.Mid < mi {
			mi, b.Mid = v.Mid, c.Resource
		}
		if v.High < hi {
			hi, b.High = v.High, c.Resource
		}
	}
	return b
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
	// PoolValidation is the measured pool run of the calibration
	// predicted from its sweep (nil when there is none).
	PoolValidation *PoolValidation `json:"pool_validation,omitempty"`

	MaxPostsPerSec      Band     `json:"max_posts_per_s"`
	MaxDeliveriesPerSec Band     `json:"max_deliveries_per_s"`
	PostsBinding        Resource `json:"posts_binding"`
	MaxUsers            Band     `json:"max_users"`
	UsersBinding        Resource `json:"users_binding"`
	// PostsBindingBand and UsersBindingBand name the binding resource of
	// each edge of the band: the pessimistic edge may run out of a
	// different resource than the central estimate.
	PostsBindingBand Binding `json:"posts_binding_band"`
	UsersBindingBand Binding `json:"users_binding_band"`
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
	obj, err := obj.withDefaults()
	if err != nil {
		return Prediction{}, err
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
	h, err := pr.hardware()
	if err != nil {
		return Prediction{}, err
	}
	pr.warnExtrapolation()
	e := newEngine(m, h, 1) // deployments: Poisson arrivals
	b := pr.banding()
	pr.predictConstraints(e, b)
	pr.predictUsersPerRoom(e, b)
	pr.predictBySize(e, b)
	pr.predictLoads(e, b)
	pr.predictHeadroom()
	if len(cal.Pool) > 0 {
		if err := pr.ValidatePool(cal, 0); err != nil {
			return Prediction{}, err
		}
	}
	return pr, nil
}

// ValidatePool sets PoolValidation: the calibration's measured pool run
// runs predicted with factor times one server's CPU per delivery
// (ValidatePool; 0: the default). A calibration without a pool run leaves
// it nil.
func (pr *Prediction) ValidatePool(cal Calibration, factor float64) error {
	if len(cal.Pool) == 0 {
		pr.PoolValidation = nil
		return nil
	}
	v, err := ValidatePool(cal, cal.Pool, factor)
	if err != nil {
		return err
	}
	pr.PoolValidation = &v
	return nil
}

// withDefaults fills the objective's defaults and checks it.
func (obj LatencyObjective) withDefaults() (LatencyObjective, error) {
	if obj.Percentile == 0 {
		obj.Percentile = 99
	}
	if !(obj.Percentile > 0 && obj.Percentile < 100) {
		return obj, fmt.Errorf("objective: percentile %g (want between 0 and 100)", obj.Percentile)
	}
	if obj.PostToLastDeliveryUs <= 0 {
		obj.PostToLastDeliveryUs = defaultObjectiveUs
	}
	if obj.AtPostsPerSec <= 0 {
		obj.AtPostsPerSec = TargetPostsPerSec
	}
	for _, x := range obj.Loads {
		if !(x > 0) || !finite(x) {
			return obj, fmt.Errorf("objective: load %g posts/s (want a positive number)", x)
		}
	}
	return obj, nil
}

// hardware resolves the profile and its CPU factor: the profile's
// cpu_factor, or the ratio of the hot-path micro-calibrations when both
// sides have one.
func (pr *Prediction) hardware() (hw, error) {
	prof, m := pr.Profile, pr.Model
	h := prof.resolve()
	pr.CPUFactorSource = "profile cpu_factor"
	if prof.HotPathDeliveryUs > 0 {
		switch {
		case m.HotPathDeliveryUs > 0:
			f := m.HotPathDeliveryUs / prof.HotPathDeliveryUs
			h.factor = Band{f * (1 - HotPathFactorRel), f, f * (1 + HotPathFactorRel)}
			pr.CPUFactorSource = fmt.Sprintf("hot-path micro-calibrations: %.3g µs here / %.3g µs on the profile's hardware, ±%.0f%%", m.HotPathDeliveryUs, prof.HotPathDeliveryUs, 100*HotPathFactorRel)
		case h.factor == (Band{}):
			return hw{}, errors.New("profile gives hot_path_cpu_per_delivery_us but no cpu_factor, and the calibration has no hot-path figure to compare with")
		default:
			pr.Warnings = append(pr.Warnings, "the profile's hot-path figure is unused: the calibration has none; using its cpu_factor")
		}
	}
	pr.CPUFactor = h.factor
	return h, nil
}

// warnExtrapolation warns when the mix has rooms beyond twice the largest
// measured.
func (pr *Prediction) warnExtrapolation() {
	m := pr.Model
	if m.CPU.XMax <= 0 {
		return
	}
	for _, r := range pr.Mix.Rooms {
		if float64(r.Size) > 2*m.CPU.XMax {
			pr.Warnings = append(pr.Warnings, fmt.Sprintf("rooms of %d are beyond the largest measured (%.0f): the CPU fit is extrapolated", r.Size, m.CPU.XMax))
			return
		}
	}
}

// banding turns the three levels of a quantity into a band widened by the
// validation error: capacities (Low pessimistic), latencies and demands
// or utilisations (High pessimistic).
type banding struct {
	widen, latWiden float64
}

func (pr *Prediction) banding() banding {
	widen := pr.Validation.Error
	if !pr.Validation.Done {
		widen = 0
	}
	widen = math.Min(widen, 0.9)
	latWiden := widen
	if pr.Validation.LatencyChecked {
		latWiden = math.Min(math.Max(widen, pr.Validation.LatencyError), 0.9)
	}
	return banding{widen: widen, latWiden: latWiden}
}

// capacity is a band of a capacity: less is worse.
func (b banding) capacity(f func(level) float64) Band {
	v := Band{f(pess), f(mid), f(opt)}.sorted()
	return Band{v.Low * (1 - b.widen), v.Mid, v.High * (1 + b.widen)}
}

// latency is a band of a latency: more is worse.
func (b banding) latency(f func(level) float64) Band {
	v := Band{f(opt), f(mid), f(pess)}.sorted()
	return Band{v.Low * (1 - b.latWiden), v.Mid, v.High * (1 + b.latWiden)}
}

// usage is a band of a demand or a utilisation: more is worse.
func (b banding) usage(f func(level) float64) Band {
	v := Band{f(opt), f(mid), f(pess)}.sorted()
	return Band{v.Low * (1 - b.widen), v.Mid, v.High * (1 + b.widen)}
}

// usersFor is the concurrent users that post x posts/s in all (+Inf when
// the mix gives no posting rate).
func (pr *Prediction) usersFor(x float64) float64 {
	if pph := pr.Mix.PostsPerUserPerHour; pph > 0 {
		return x * 3600 / pph
	}
	return math.Inf(1)
}

// predictConstraints fills the constraint of each resource, the max
// posts/s and deliveries/s of the mix with the binding resource, and the
// max concurrent users with theirs.
func (pr *Prediction) predictConstraints(e engine, b banding) {
	mix := pr.Mix
	demand := map[level]map[Resource]float64{}
	for _, l := range []level{pess, mid, opt} {
		demand[l] = map[Resource]float64{}
		for _, d := range e.demands(mix, l) {
			demand[l][d.Resource] = d.Seconds
		}
	}
	for _, r := range []Resource{CPU, DiskSync, DiskIOPS, NIC} {
		if _, ok := demand[mid][r]; !ok {
			continue
		}
		c := Constraint{Resource: r}
		c.DemandPerPost = b.usage(func(l level) float64 { return demand[l][r] })
		c.MaxPostsPerSec = b.capacity(func(l level) float64 { return 1 / demand[l][r] })
		c.MaxUsers = b.capacity(func(l level) float64 { return pr.usersFor(1 / demand[l][r]) })
		pr.Constraints = append(pr.Constraints, c)
	}
	if e.m.MemPerUser.Mid > 0 && finite(e.h.ramUsable) {
		c := Constraint{Resource: RAM, MaxPostsPerSec: Point(math.Inf(1))}
		c.MaxUsers = b.capacity(func(l level) float64 { return e.h.ramUsable / e.memPerUser(mix, l) })
		pr.Constraints = append(pr.Constraints, c)
	}
	pr.MaxPostsPerSec = b.capacity(func(l level) float64 { return MaxThroughput(e.demands(mix, l)) })
	pr.MaxDeliveriesPerSec = pr.MaxPostsPerSec.Scale(mix.MeanSize())
	if d, ok := Bottleneck(e.demands(mix, mid)); ok {
		pr.PostsBinding = d.Resource
	}
	pr.MaxUsers = Point(math.Inf(1))
	for _, c := range pr.Constraints {
		if pr.UsersBinding == "" || c.MaxUsers.Mid < pr.MaxUsers.Mid {
			pr.UsersBinding = c.Resource
		}
		pr.MaxUsers = Band{math.Min(pr.MaxUsers.Low, c.MaxUsers.Low), math.Min(pr.MaxUsers.Mid, c.MaxUsers.Mid), math.Min(pr.MaxUsers.High, c.MaxUsers.High)}
	}
	pr.PostsBindingBand = bindingOf(pr.Constraints, func(c Constraint) Band { return c.MaxPostsPerSec })
	pr.UsersBindingBand = bindingOf(pr.Constraints, func(c Constraint) Band { return c.MaxUsers })
	if !pr.MaxUsers.Finite() {
		pr.UsersBinding = ""
		pr.UsersBindingBand = Binding{}
		pr.Warnings = append(pr.Warnings, "concurrent users are not bounded by what was measured: give the mix's posts_per_user_per_hour and measure memory per user")
	}
}

// predictUsersPerRoom finds the largest room whose posts meet the
// objective at the objective's load, by doubling and bisection.
func (pr *Prediction) predictUsersPerRoom(e engine, b banding) {
	obj := pr.Objective
	pctl := obj.Percentile / 100
	meets := func(k float64, l level) bool {
		_, last := e.latency(SingleSize(int(k)), obj.AtPostsPerSec, l, pctl)
		return last*1e6 <= obj.PostToLastDeliveryUs
	}
	pr.MaxUsersPerRoom = b.capacity(func(l level) float64 {
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
}

// predictBySize fills the per-room-size table: DefaultTableSizes and the
// mix's sizes.
func (pr *Prediction) predictBySize(e engine, b banding) {
	obj := pr.Objective
	sizes := map[int]bool{}
	for _, k := range DefaultTableSizes {
		sizes[k] = true
	}
	for _, r := range pr.Mix.Rooms {
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
		row.MaxPostsPerSec = b.capacity(func(l level) float64 { return MaxThroughput(e.demands(one, l)) })
		row.MaxDeliveriesPerSec = row.MaxPostsPerSec.Scale(float64(k))
		if d, ok := Bottleneck(e.demands(one, mid)); ok {
			row.Binding = d.Resource
		}
		row.LastDeliveryUs = b.latency(func(l level) float64 {
			_, last := e.latency(one, obj.AtPostsPerSec, l, obj.Percentile/100)
			return last * 1e6
		})
		row.MeetsObjective = row.LastDeliveryUs.Mid <= obj.PostToLastDeliveryUs
		pr.BySize = append(pr.BySize, row)
	}
}

// predictLoads fills utilisation and latency at the objective's loads
// (by default its rate and 25, 50, 80 and 95% of the central maximum).
func (pr *Prediction) predictLoads(e engine, b banding) {
	obj, mix := pr.Objective, pr.Mix
	loads := obj.Loads
	if len(loads) == 0 {
		loads = []float64{obj.AtPostsPerSec}
		if mx := pr.MaxPostsPerSec.Mid; finite(mx) {
			for _, f := range []float64{0.25, 0.5, 0.8, 0.95} {
				loads = append(loads, roundSig(f*mx, 3))
			}
		}
	}
	for _, x := range uniqueSorted(loads) {
		lp := LoadPoint{PostsPerSec: x, DeliveriesPerSec: x * mix.MeanSize()}
		for _, c := range pr.Constraints {
			r := c.Resource
			var u Band
			if r == RAM {
				if mix.PostsPerUserPerHour <= 0 {
					continue
				}
				u = b.usage(func(l level) float64 { return pr.usersFor(x) * e.memPerUser(mix, l) / e.h.ramUsable })
			} else {
				u = b.usage(func(l level) float64 { return e.use(r, mix, x, l) })
			}
			lp.Utilization = append(lp.Utilization, Use{Resource: r, Utilization: u})
		}
		lat := func(last bool, p float64) Band {
			return b.latency(func(l level) float64 {
				ack, to := e.latency(mix, x, l, p)
				if last {
					return to * 1e6
				}
				return ack * 1e6
			})
		}
		lp.PostAckP50Us, lp.PostAckP99Us = lat(false, 0.5), lat(false, 0.99)
		lp.LastDeliveryP50Us, lp.LastDeliveryP99Us = lat(true, 0.5), lat(true, 0.99)
		pr.Loads = append(pr.Loads, lp)
	}
}

// predictHeadroom compares the prediction with the published targets.
func (pr *Prediction) predictHeadroom() {
	obj, mix := pr.Objective, pr.Mix
	ratio := func(b Band, t float64) Band { return b.Scale(1 / t) }
	pool, _ := pr.PoolUsers(TargetServersPerPool)
	pr.Headroom = []Headroom{
		{Target: "40 messages/s", Published: TargetPostsPerSec, Predicted: pr.MaxPostsPerSec, Ratio: ratio(pr.MaxPostsPerSec, TargetPostsPerSec),
			Note: "max posts/s for the mix " + mixName(mix)},
		{Target: "1,000 users per room", Published: TargetUsersPerRoom, Predicted: pr.MaxUsersPerRoom, Ratio: ratio(pr.MaxUsersPerRoom, TargetUsersPerRoom),
			Note: fmt.Sprintf("largest room with p%g post→last delivery < %s at %g posts/s", obj.Percentile, fmtDur(obj.PostToLastDeliveryUs), obj.AtPostsPerSec)},
		{Target: "20,000 users per server", Published: TargetUsersPerServer, Predicted: pr.MaxUsers, Ratio: ratio(pr.MaxUsers, TargetUsersPerServer),
			Note: "max concurrent users for the mix"},
		{Target: "60,000 users per pool", Published: TargetUsersPerPool, Predicted: pool, Ratio: ratio(pool, TargetUsersPerPool),
			Note: PoolNote(TargetServersPerPool)},
	}
}

// PoolUsers is the concurrent users of a pool of n servers on one
// database on a machine of the profile, and the resource that runs out at
// each edge. Per resource: the servers' CPU and network scale with n, the
// CPU divided by PoolCPUPerDelivery at each edge (rooms spread over the
// servers, as a round-robin lookup spreads them, at the pessimistic and
// central edges; each room's members on one server at the optimistic);
// memory scales with n (each server holds its own users); the disks do
// not, since every server commits on the one database. The database's own
// CPU is not modelled.
func (pr Prediction) PoolUsers(n int) (Band, Binding) {
	spread := Point(1) // one server spreads nothing
	if n > 1 {
		spread = PoolCPUPerDelivery
	}
	cs := make([]Constraint, 0, len(pr.Constraints))
	for _, c := range pr.Constraints {
		switch c.Resource {
		case CPU:
			c.MaxUsers = Band{c.MaxUsers.Low * float64(n) / spread.Low, c.MaxUsers.Mid * float64(n) / spread.Mid, c.MaxUsers.High * float64(n) / spread.High}
		case NIC, RAM:
			c.MaxUsers = c.MaxUsers.Scale(float64(n))
		}
		cs = append(cs, c)
	}
	users := Point(math.Inf(1))
	for _, c := range cs {
		users = Band{math.Min(users.Low, c.MaxUsers.Low), math.Min(users.Mid, c.MaxUsers.Mid), math.Min(users.High, c.MaxUsers.High)}
	}
	if !users.Finite() {
		return users, Binding{}
	}
	return users, bindingOf(cs, func(c Constraint) Band { return c.MaxUsers })
}

// PoolNote says what the pool figure of n servers assumes.
func PoolNote(n int) string {
	return fmt.Sprintf("%d servers on one database: CPU and network %d times a server's, the CPU at %.2g (pessimistic) to %.2g (central) times the cost per delivery (rooms spread over the servers, measured on a pool of three; none at the optimistic edge, each room on one server), memory %d times, the disks the database's alone (one machine of the profile), the database's CPU not modelled", n, n, PoolCPUPerDelivery.Low, PoolCPUPerDelivery.Mid, n)
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
