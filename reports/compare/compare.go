// Package compare compares the results of two runs, a base and a new one,
// operation by operation, and says whether each latency difference is
// beyond run-to-run noise.
//
// The noise test is a two-sided Mann-Whitney U test over per-interval
// percentiles: for an operation and a percentile, each interval of a run
// with at least Options.MinIntervalSamples samples contributes that
// interval's percentile, and the base run's values are tested against the
// new run's (exact p-value for small samples without ties, otherwise the
// normal approximation with tie and continuity corrections). A difference
// is beyond noise when p < Options.Alpha, the whole-run percentile changed
// by more than Options.MinEffect (relative) and the intervals moved in the
// same direction as the whole-run value; with fewer than
// Options.MinIntervals qualifying intervals on either side the report says
// there are not enough intervals to judge. Options.PoolIntervals merges
// consecutive sparse intervals until they hold enough samples, for runs of
// low rates. Counters and delivery figures
// are compared plainly (no test).
//
// The test treats intervals as independent samples of the same load, so it
// suits two runs of the same scenario: per-interval percentiles of
// intervals holding different numbers of samples are biased differently,
// and the report warns when the loads differ.
package compare

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/charts"
)

// Defaults of Options.
const (
	DefaultAlpha              = 0.01
	DefaultMinEffect          = 0.05
	DefaultMinIntervalSamples = 20
	DefaultMinIntervals       = 5
)

// Options tunes Compare. Zero numeric fields take their defaults; start
// from DefaultOptions, since RequireSignificance defaults to true.
type Options struct {
	// Alpha is the significance level of the noise test (default 0.01).
	Alpha float64
	// MinEffect is the smallest relative change of a whole-run percentile
	// the report calls beyond noise (default 0.05, 5%).
	MinEffect float64
	// MinIntervalSamples is the fewest samples an interval needs for its
	// percentiles to enter the noise test (default 20).
	MinIntervalSamples int64
	// PoolIntervals merges consecutive intervals of an operation that hold
	// fewer than MinIntervalSamples samples until together they hold that
	// many, and tests the pools' percentiles (a remainder at the end is
	// left out). It lets runs of low rates (a few posts per second) be
	// judged; off, such intervals are left out.
	PoolIntervals bool
	// MinIntervals is the fewest qualifying intervals each run needs
	// before the report judges noise at all (default 5).
	MinIntervals int
	// RequireSignificance makes a rule on a latency statistic fail only
	// when its change is also beyond noise (the Mann-Whitney p-value below
	// Alpha, intervals moving in the rule's direction); the rule's own
	// threshold replaces MinEffect. When the runs have too few intervals
	// to judge, such a rule is inconclusive, not failed. With
	// RequireSignificance false, rules compare whole-run values only.
	// Rules on counts, rates and counters never need significance.
	RequireSignificance bool
	// Rules are the --fail-on regression rules.
	Rules []Rule
	// BaseName and NewName label the runs in the output (default "base"
	// and "new"); a results folder path suits.
	BaseName, NewName string
}

// DefaultOptions returns the default options: alpha 0.01, minimum effect
// 5%, intervals of at least 20 samples, at least 5 of them per run,
// significance required for latency rules, no rules.
func DefaultOptions() Options {
	return Options{
		Alpha:               DefaultAlpha,
		MinEffect:           DefaultMinEffect,
		MinIntervalSamples:  DefaultMinIntervalSamples,
		MinIntervals:        DefaultMinIntervals,
		RequireSignificance: true,
		BaseName:            "base",
		NewName:             "new",
	}
}

// Method names the noise test in reports.
const Method = "two-sided Mann-Whitney U test over per-interval percentiles"

// Settings records the options a Report was made with.
type Settings struct {
	Method              string  `json:"method"`
	Alpha               float64 `json:"alpha"`
	MinEffect           float64 `json:"min_effect"`
	MinIntervalSamples  int64   `json:"min_interval_samples"`
	MinIntervals        int     `json:"min_intervals"`
	PoolIntervals       bool    `json:"pool_intervals"`
	RequireSignificance bool    `json:"require_significance"`
}

// RunInfo describes one of the runs compared.
type RunInfo struct {
	Name            string    `json:"name"`
	Scenario        string    `json:"scenario,omitempty"`
	Target          string    `json:"target,omitempty"`
	Start           time.Time `json:"start"`
	Seconds         float64   `json:"seconds"`
	Intervals       int       `json:"intervals"`
	IntervalSeconds float64   `json:"interval_seconds"`
	Verdict         string    `json:"verdict,omitempty"`
	Valid           bool      `json:"valid"` // the generator was not the bottleneck
	Aborted         bool      `json:"aborted,omitempty"`
}

// Noise is the outcome of the noise test of one statistic of one
// operation.
type Noise struct {
	// BaseIntervals and NewIntervals count the qualifying intervals.
	BaseIntervals int `json:"base_intervals"`
	NewIntervals  int `json:"new_intervals"`
	// Judged is false when either run has fewer than MinIntervals
	// qualifying intervals; P is then 1 (no evidence) and U, Z, Shift 0.
	Judged bool `json:"judged"`
	// U is the Mann-Whitney statistic of the new run's interval values
	// against the base run's (above BaseIntervals*NewIntervals/2 when the
	// new values tend to be larger); Z its normal score (0 if exact).
	U     float64 `json:"u"`
	Z     float64 `json:"z"`
	P     float64 `json:"p"`
	Exact bool    `json:"exact"`
	// Shift is the sign of the intervals' move: +1 (new larger), -1 or 0.
	Shift int `json:"shift"`
	// Beyond says the difference is beyond noise: P < Alpha, the
	// whole-run value changed by more than MinEffect, and Shift agrees
	// with the whole-run change.
	Beyond bool `json:"beyond_noise"`
	// Verdict says it in words: NoiseSlower, NoiseFaster, NoiseWithin,
	// NoiseBelowEffect or NoiseTooFew.
	Verdict string `json:"verdict"`
}

// Verdicts of Noise.
const (
	NoiseSlower = "slower, beyond noise"
	NoiseFaster = "faster, beyond noise"
	NoiseWithin = "within noise"
	// NoiseBelowEffect: the intervals differ significantly, but the
	// whole-run value moved less than MinEffect.
	NoiseBelowEffect = "within noise (change below the minimum effect)"
	NoiseTooFew      = "not enough intervals to judge"
)

// StatComparison compares one statistic of an operation: latencies in
// µs, rates per second.
type StatComparison struct {
	Stat  string  `json:"stat"`
	Base  float64 `json:"base"`
	New   float64 `json:"new"`
	Delta float64 `json:"delta"` // New - Base
	// Rel is Delta / Base; nil when Base is 0 and New is not.
	Rel *float64 `json:"rel"`
	// Noise is the noise test, for NoiseStats.
	Noise *Noise `json:"noise,omitempty"`
}

// OpComparison compares one operation present in both runs.
type OpComparison struct {
	Op    reports.Op       `json:"op"`
	Stats []StatComparison `json:"stats"` // in the order of Stats
	// BaseIntervals and NewIntervals count the intervals with at least
	// MinIntervalSamples samples; BaseSamplesPerInterval and
	// NewSamplesPerInterval are their mean sample counts.
	BaseIntervals          int     `json:"base_intervals"`
	NewIntervals           int     `json:"new_intervals"`
	BaseSamplesPerInterval float64 `json:"base_samples_per_interval"`
	NewSamplesPerInterval  float64 `json:"new_samples_per_interval"`
}

// Stat returns the comparison of stat (one of Stats), or nil.
func (o *OpComparison) Stat(stat string) *StatComparison {
	for i := range o.Stats {
		if o.Stats[i].Stat == stat {
			return &o.Stats[i]
		}
	}
	return nil
}

// CounterComparison compares a delivery figure, a rate or a counter.
type CounterComparison struct {
	Name  string   `json:"name"`
	Base  float64  `json:"base"`
	New   float64  `json:"new"`
	Delta float64  `json:"delta"`
	Rel   *float64 `json:"rel"`
	// Worse says the figure is one that should stay at zero (lost,
	// errors, timeouts, violations, ...) and rose from zero.
	Worse bool `json:"worse,omitempty"`
}

// Rule outcomes.
const (
	RulePass         = "pass"
	RuleFail         = "fail"
	RuleInconclusive = "inconclusive"
)

// RuleResult is one rule's outcome.
type RuleResult struct {
	Rule   Rule     `json:"rule"`
	Status string   `json:"status"` // pass, fail or inconclusive
	Base   float64  `json:"base"`
	New    float64  `json:"new"`
	Change float64  `json:"change"` // New - Base
	Rel    *float64 `json:"rel"`
	// Crossed says the change exceeds the rule's threshold.
	Crossed bool `json:"crossed"`
	// Noise is the noise test of a latency rule's statistic.
	Noise  *Noise `json:"noise,omitempty"`
	Detail string `json:"detail"`
}

// Report is the comparison of two runs. It marshals to JSON as is.
type Report struct {
	Base       RunInfo             `json:"base"`
	New        RunInfo             `json:"new"`
	Settings   Settings            `json:"settings"`
	Ops        []OpComparison      `json:"ops"`
	OnlyInBase []reports.Op        `json:"only_in_base,omitempty"`
	OnlyInNew  []reports.Op        `json:"only_in_new,omitempty"`
	Counters   []CounterComparison `json:"counters"`
	Rules      []RuleResult        `json:"rules,omitempty"`
	// Warnings say why the comparison may mislead (different scenarios,
	// loads or interval lengths, an invalid or aborted run).
	Warnings []string `json:"warnings,omitempty"`
	// Regressions lists the failing rules when there are rules; without
	// rules, the latency percentiles (p50, p90, p99) that got slower
	// beyond noise and the zero-only figures (lost, errors, ...) that rose
	// from zero.
	Regressions []string `json:"regressions"`
	// Inconclusive lists the rules that crossed their threshold on runs
	// too short to tell the change from noise.
	Inconclusive []string `json:"inconclusive,omitempty"`
	// Regressed is len(Regressions) > 0.
	Regressed bool `json:"regressed"`
	// Verdict is the verdict line: "no regression beyond noise", or
	// "regression: " and the regressions.
	Verdict string `json:"verdict"`

	// charts are the comparison's charts, for WriteHTML (not in JSON).
	charts []charts.Chart
}

// FailedRules returns the rules that failed.
func (r *Report) FailedRules() []RuleResult {
	var out []RuleResult
	for _, rr := range r.Rules {
		if rr.Status == RuleFail {
			out = append(out, rr)
		}
	}
	return out
}

// Op returns the comparison of op, or nil if op is not in both runs.
func (r *Report) Op(op reports.Op) *OpComparison {
	for i := range r.Ops {
		if r.Ops[i].Op == op {
			return &r.Ops[i]
		}
	}
	return nil
}

// zeroFigures should stay at zero in a healthy run: rising from zero is
// a regression when no rules are given.
var zeroFigures = []string{
	"lost", "duplicated", "out_of_order", "spoofed",
	reports.CounterErrors, reports.CounterTimeouts, reports.CounterDropped,
	reports.CounterViolations, reports.CounterSignInFailed, reports.CounterRejectedPosts,
}

// ErrNoResult is returned when a Result to compare is nil.
var ErrNoResult = errors.New("compare: nil result")

// opData is what Compare knows of one operation in one run.
type opData struct {
	sum       reports.OpSummary
	intervals map[string][]float64 // per latency stat, one value per qualifying interval
	n         int
	samples   int64
	// anyInterval says some interval has samples of the operation.
	anyInterval bool
}

// Compare compares the new run with the base run. It fails only on nil
// results or options out of range (Alpha outside (0, 1), a negative
// MinEffect).
func Compare(base, new *reports.Result, opts Options) (*Report, error) {
	if base == nil || new == nil {
		return nil, ErrNoResult
	}
	opts, err := opts.settle()
	if err != nil {
		return nil, err
	}
	c := &comparison{opts: opts, base: base, new: new, bd: collect(base, opts), nd: collect(new, opts), tests: map[testKey]*Noise{}, sizes: map[string][]string{}}
	rep := c.newReport()
	c.compareOps(rep)
	zeroRegressions := c.compareCounters(rep)
	if len(opts.Rules) > 0 {
		c.evalRules(rep)
	} else {
		rep.Regressions = append(rep.Regressions, zeroRegressions...)
	}
	rep.Warnings = append(runWarnings(rep, base, new), rep.Warnings...)
	rep.charts = buildCharts(rep, base, new, c.bd, c.nd)
	rep.Regressed = len(rep.Regressions) > 0
	if len(opts.Rules) == 0 && !rep.Regressed {
		noneJudged(rep)
	}
	rep.Verdict = verdict(rep, opts)
	return rep, nil
}

// settle fills the options' defaults and checks their ranges.
func (opts Options) settle() (Options, error) {
	if opts.Alpha == 0 {
		opts.Alpha = DefaultAlpha
	}
	if opts.MinEffect == 0 {
		opts.MinEffect = DefaultMinEffect
	}
	if opts.MinIntervalSamples == 0 {
		opts.MinIntervalSamples = DefaultMinIntervalSamples
	}
	if opts.MinIntervals == 0 {
		opts.MinIntervals = DefaultMinIntervals
	}
	if opts.BaseName == "" {
		opts.BaseName = "base"
	}
	if opts.NewName == "" {
		opts.NewName = "new"
	}
	if !(opts.Alpha > 0 && opts.Alpha < 1) {
		return opts, fmt.Errorf("compare: alpha %v is not between 0 and 1", opts.Alpha)
	}
	if opts.MinEffect < 0 || math.IsNaN(opts.MinEffect) {
		return opts, fmt.Errorf("compare: negative minimum effect %v", opts.MinEffect)
	}
	if opts.MinIntervals < 2 {
		opts.MinIntervals = 2
	}
	return opts, nil
}

// comparison is one Compare's state: the settled options, both runs,
// what collect made of each, and the noise tests computed so far.
type comparison struct {
	opts      Options
	base, new *reports.Result
	bd, nd    map[reports.Op]*opData
	tests     map[testKey]*Noise
	// sizes: the operations whose intervals differ in size between the
	// runs, by their sizes ("321 in base and 521 in new"), in sizeOrder.
	sizes     map[string][]string
	sizeOrder []string
}

// testKey names a noise test: one per operation and statistic.
type testKey struct {
	op   reports.Op
	stat string
}

// newReport is the report before anything was compared: both runs and
// the settings.
func (c *comparison) newReport() *Report {
	opts := c.opts
	return &Report{
		Base: runInfo(opts.BaseName, c.base),
		New:  runInfo(opts.NewName, c.new),
		Settings: Settings{
			Method: Method, Alpha: opts.Alpha, MinEffect: opts.MinEffect,
			MinIntervalSamples: opts.MinIntervalSamples, MinIntervals: opts.MinIntervals,
			PoolIntervals:       opts.PoolIntervals,
			RequireSignificance: opts.RequireSignificance,
		},
		Ops:         []OpComparison{},
		Counters:    []CounterComparison{},
		Regressions: []string{},
	}
}

// noise is the noise test of op's stat (computed once): the Mann-Whitney
// test of the two runs' interval values, judged against the change's
// direction (delta) and size (rel, when relOK).
func (c *comparison) noise(op reports.Op, stat string, delta, rel float64, relOK bool) *Noise {
	k := testKey{op, stat}
	if n, ok := c.tests[k]; ok {
		return n
	}
	b, n := c.bd[op], c.nd[op]
	ns := &Noise{BaseIntervals: len(b.intervals[stat]), NewIntervals: len(n.intervals[stat]), P: 1}
	c.tests[k] = ns
	if ns.BaseIntervals < c.opts.MinIntervals || ns.NewIntervals < c.opts.MinIntervals {
		ns.Verdict = NoiseTooFew
		return ns
	}
	ns.Judged = true
	mw := MannWhitney(n.intervals[stat], b.intervals[stat])
	ns.U, ns.Z, ns.P, ns.Exact = mw.U, mw.Z, mw.P, mw.Exact
	switch mid := float64(mw.NX*mw.NY) / 2; {
	case mw.U > mid:
		ns.Shift = 1
	case mw.U < mid:
		ns.Shift = -1
	}
	big := !relOK || math.Abs(rel) > c.opts.MinEffect
	agree := ns.Shift != 0 && float64(ns.Shift)*delta > 0
	switch {
	case mw.P < c.opts.Alpha && big && agree:
		ns.Beyond = true
		ns.Verdict = NoiseSlower
		if delta < 0 {
			ns.Verdict = NoiseFaster
		}
	case mw.P < c.opts.Alpha && agree:
		ns.Verdict = NoiseBelowEffect
	default:
		ns.Verdict = NoiseWithin
	}
	return ns
}

// compareOps compares every operation of both runs (those of one run only
// are listed as such): each statistic, the noise test of the latency
// percentiles (a slower one beyond noise is a regression), and warnings
// where the intervals cannot be compared.
func (c *comparison) compareOps(rep *Report) {
	for _, op := range unionOps(c.bd, c.nd) {
		b, inB := c.bd[op]
		n, inN := c.nd[op]
		switch {
		case !inB:
			rep.OnlyInNew = append(rep.OnlyInNew, op)
			continue
		case !inN:
			rep.OnlyInBase = append(rep.OnlyInBase, op)
			continue
		}
		rep.Ops = append(rep.Ops, c.compareOp(rep, op, b, n))
	}
	// One warning per pair of interval sizes, naming its operations (a
	// load that differs usually differs for every operation alike).
	for _, key := range c.sizeOrder {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf(
			"%s: the intervals hold on average %s; percentiles of intervals of different sizes differ even under the same latency distribution, so the noise test assumes the same load",
			strings.Join(c.sizes[key], ", "), key))
	}
}

func (c *comparison) compareOp(rep *Report, op reports.Op, b, n *opData) OpComparison {
	opts := c.opts
	oc := OpComparison{Op: op, BaseIntervals: b.n, NewIntervals: n.n}
	if b.n > 0 {
		oc.BaseSamplesPerInterval = float64(b.samples) / float64(b.n)
	}
	if n.n > 0 {
		oc.NewSamplesPerInterval = float64(n.samples) / float64(n.n)
	}
	for _, st := range Stats {
		sc := StatComparison{Stat: st, Base: statValue(b.sum, st), New: statValue(n.sum, st)}
		sc.Delta = sc.New - sc.Base
		sc.Rel = relChange(sc.Base, sc.New)
		if slices.Contains(NoiseStats, st) {
			rel, ok := deref(sc.Rel)
			sc.Noise = c.noise(op, st, sc.Delta, rel, ok)
			if sc.Noise.Beyond && sc.Delta > 0 {
				rep.Regressions = append(rep.Regressions, fmt.Sprintf("%s %s %s (%s → %s), %s",
					op, statLabel(st), formatChange(sc.Delta, sc.Rel, true), reports.FormatMicros(sc.Base), reports.FormatMicros(sc.New), pEquals(sc.Noise.P)))
			}
		}
		oc.Stats = append(oc.Stats, sc)
	}
	for _, side := range []struct {
		name string
		d    *opData
	}{{opts.BaseName, b}, {opts.NewName, n}} {
		if !side.d.anyInterval {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s: %s has no interval histograms of it, so its differences cannot be judged against noise", op, side.name))
		}
	}
	if lo, hi := minmax(oc.BaseSamplesPerInterval, oc.NewSamplesPerInterval); b.n > 0 && n.n > 0 && hi > 1.25*lo {
		key := fmtNum(oc.BaseSamplesPerInterval) + " samples in " + opts.BaseName + " and " + fmtNum(oc.NewSamplesPerInterval) + " in " + opts.NewName
		if _, ok := c.sizes[key]; !ok {
			c.sizeOrder = append(c.sizeOrder, key)
		}
		c.sizes[key] = append(c.sizes[key], string(op))
	}
	return oc
}

// compareCounters adds the delivery figures, rates and counters to the
// report and returns the zero-only figures that rose from zero.
func (c *comparison) compareCounters(rep *Report) []string {
	var zeroRegressions []string
	for _, cc := range compareCounters(c.base, c.new) {
		if cc.Worse {
			zeroRegressions = append(zeroRegressions, fmt.Sprintf("%s %s → %s", cc.Name, fmtNum(cc.Base), fmtNum(cc.New)))
		}
		rep.Counters = append(rep.Counters, cc)
	}
	return zeroRegressions
}

// evalRules judges the --fail-on rules: with rules, the regressions are
// the rules that failed (the latency percentiles' are replaced), and the
// rules too close to noise to tell are inconclusive.
func (c *comparison) evalRules(rep *Report) {
	rep.Regressions = []string{}
	for _, rule := range c.opts.Rules {
		rr := evalRule(rule, c.base, c.new, c.bd, c.nd, c.opts, c.noise)
		rep.Rules = append(rep.Rules, rr)
		switch rr.Status {
		case RuleFail:
			rep.Regressions = append(rep.Regressions, rule.Raw+": "+rr.Detail)
		case RuleInconclusive:
			rep.Inconclusive = append(rep.Inconclusive, rule.Raw+": "+rr.Detail)
		}
	}
}

// noneJudged makes a comparison without a gate inconclusive when not one
// latency statistic could be judged against noise.
func noneJudged(rep *Report) {
	judged, tested := 0, 0
	for i := range rep.Ops {
		for j := range rep.Ops[i].Stats {
			if ns := rep.Ops[i].Stats[j].Noise; ns != nil {
				tested++
				if ns.Judged {
					judged++
				}
			}
		}
	}
	if judged == 0 {
		rep.Inconclusive = append(rep.Inconclusive, fmt.Sprintf("none of the %d latency statistics could be judged against noise (%s)", tested, NoiseTooFew))
	}
}

// verdict is the report's verdict line.
func verdict(rep *Report, opts Options) string {
	hint := ""
	if !opts.PoolIntervals {
		hint = "; runs of a few operations per second: try --pool (pool sparse intervals), or longer runs"
	}
	switch {
	case rep.Regressed:
		return "regression: " + strings.Join(rep.Regressions, "; ")
	case len(rep.Inconclusive) > 0:
		return "inconclusive: " + strings.Join(rep.Inconclusive, "; ") + hint
	default:
		return "no regression beyond noise"
	}
}

func runInfo(name string, r *reports.Result) RunInfo {
	s := r.Summary
	ri := RunInfo{
		Name: name, Scenario: s.Scenario, Target: s.Target, Start: s.Start, Seconds: s.Seconds,
		Intervals: len(r.Intervals), Verdict: s.Verdict, Valid: s.Generator.Valid, Aborted: s.Aborted,
	}
	if l := r.IntervalLength; l > 0 {
		ri.IntervalSeconds = l.Seconds()
	} else if len(r.Intervals) > 0 {
		ri.IntervalSeconds = r.Intervals[0].End.Sub(r.Intervals[0].Start).Round(time.Millisecond).Seconds()
	}
	return ri
}

func runWarnings(rep *Report, base, new *reports.Result) []string {
	var w []string
	b, n := base.Summary, new.Summary
	if b.Scenario != n.Scenario {
		w = append(w, fmt.Sprintf("the runs are of different scenarios (%q and %q)", b.Scenario, n.Scenario))
	}
	if bi, ni := rep.Base.IntervalSeconds, rep.New.IntervalSeconds; bi != ni && bi > 0 && ni > 0 {
		w = append(w, fmt.Sprintf("the interval lengths differ (%ss and %ss)", fmtNum(bi), fmtNum(ni)))
	}
	if lo, hi := minmax(b.Seconds, n.Seconds); lo > 0 && hi > 1.1*lo {
		w = append(w, fmt.Sprintf("the run lengths differ (%ss and %ss): compare counts as rates", fmtNum(b.Seconds), fmtNum(n.Seconds)))
	}
	for _, ri := range []RunInfo{rep.Base, rep.New} {
		if !ri.Valid && ri.Verdict == reports.VerdictInvalid {
			w = append(w, fmt.Sprintf("the %s run is invalid (the generator was the bottleneck): its latencies are not the server's", ri.Name))
		}
		if ri.Aborted {
			w = append(w, fmt.Sprintf("the %s run was aborted before its end", ri.Name))
		}
	}
	return w
}

// collect gathers each operation's whole-run summary and per-interval
// latency statistics.
func collect(r *reports.Result, opts Options) map[reports.Op]*opData {
	out := map[reports.Op]*opData{}
	for op, h := range r.Hists {
		if h != nil && h.TotalCount() > 0 {
			out[op] = &opData{sum: reports.Summarize(h, r.Summary.Seconds), intervals: map[string][]float64{}}
		}
	}
	for op, s := range r.Summary.Ops {
		if _, ok := out[op]; !ok && s.Count > 0 {
			out[op] = &opData{sum: s, intervals: map[string][]float64{}}
		}
	}
	qs := []float64{50, 90, 99, 99.9}
	pools := map[reports.Op]*hdrhistogram.PackedHistogram{}
	for _, iv := range r.Intervals {
		for op, h := range iv.Hists {
			d := out[op]
			if d == nil || h == nil || h.TotalCount() == 0 {
				continue
			}
			d.anyInterval = true
			if h.TotalCount() < opts.MinIntervalSamples || pools[op] != nil {
				if !opts.PoolIntervals {
					continue
				}
				if pools[op] == nil {
					pools[op] = h.Clone()
				} else {
					pools[op].Merge(h)
				}
				if pools[op].TotalCount() < opts.MinIntervalSamples {
					continue
				}
				h = pools[op]
				delete(pools, op)
			}
			v := h.ValueAtPercentilesSlice(qs)
			d.intervals[StatP50] = append(d.intervals[StatP50], float64(v[0]))
			d.intervals[StatP90] = append(d.intervals[StatP90], float64(v[1]))
			d.intervals[StatP99] = append(d.intervals[StatP99], float64(v[2]))
			d.intervals[StatP999] = append(d.intervals[StatP999], float64(v[3]))
			d.intervals[StatMax] = append(d.intervals[StatMax], float64(h.Max()))
			d.intervals[StatMean] = append(d.intervals[StatMean], h.Mean())
			d.n++
			d.samples += h.TotalCount()
		}
	}
	return out
}

func unionOps(a, b map[reports.Op]*opData) []reports.Op {
	seen := map[reports.Op]bool{}
	var out []reports.Op
	for _, op := range reports.Ops {
		if a[op] != nil || b[op] != nil {
			out = append(out, op)
			seen[op] = true
		}
	}
	var extra []reports.Op
	for _, m := range []map[reports.Op]*opData{a, b} {
		for op := range m {
			if !seen[op] {
				seen[op] = true
				extra = append(extra, op)
			}
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}

func statValue(s reports.OpSummary, stat string) float64 {
	switch stat {
	case StatCount:
		return float64(s.Count)
	case StatRate:
		return s.Rate
	case StatMean:
		return s.Mean
	case StatP50:
		return float64(s.P50)
	case StatP90:
		return float64(s.P90)
	case StatP99:
		return float64(s.P99)
	case StatP999:
		return float64(s.P999)
	case StatMax:
		return float64(s.Max)
	}
	return 0
}

// relChange returns (n-b)/b, 0 when both are 0, nil when only b is 0.
func relChange(b, n float64) *float64 {
	var r float64
	switch {
	case b == n:
	case b == 0:
		return nil
	default:
		r = (n - b) / b
	}
	return &r
}

func deref(p *float64) (float64, bool) {
	if p == nil {
		return 0, false
	}
	return *p, true
}

func minmax(a, b float64) (float64, float64) {
	return min(a, b), max(a, b)
}

// counterValue returns the named figure of a run: a delivery field, a
// ratio, "posts/s" or "deliveries/s", or a counter (0 if never
// incremented). ok is false for a name the run does not know.
func counterValue(r *reports.Result, name string) (v float64, ok bool) {
	s := &r.Summary
	d := s.Delivery
	switch name {
	case "posts":
		return float64(d.Posts), true
	case "expected":
		return float64(d.Expected), true
	case "received":
		return float64(d.Received), true
	case "lost":
		return float64(d.Lost), true
	case "duplicated":
		return float64(d.Duplicated), true
	case "out_of_order":
		return float64(d.OutOfOrder), true
	case "spoofed":
		return float64(d.Spoofed), true
	case "extra":
		return float64(d.Extra), true
	case "lost_ratio":
		if d.Expected == 0 {
			return 0, true
		}
		return float64(d.Lost) / float64(d.Expected), true
	case "signed_in_ratio":
		if s.Users.Planned == 0 {
			return 0, true
		}
		return float64(s.Users.SignedIn) / float64(s.Users.Planned), true
	case "posts/s":
		return perSecond(float64(d.Posts), s.Seconds), true
	case "deliveries/s":
		return perSecond(float64(d.Received), s.Seconds), true
	}
	c, ok := s.Counters[name]
	if !ok {
		ok = slices.Contains(reports.CounterMetrics, name)
	}
	return float64(c), ok
}

func perSecond(n, secs float64) float64 {
	if secs <= 0 {
		return 0
	}
	return n / secs
}

// compareCounters compares the delivery figures, the post and delivery
// rates and every counter used in either run (those zero in both
// skipped, except the zero-only ones).
func compareCounters(base, new *reports.Result) []CounterComparison {
	names := append([]string{}, reports.DeliveryMetrics...)
	names = append(names, "lost_ratio", "posts/s", "deliveries/s")
	known := slices.Clone(names)
	var rest []string
	for _, m := range []map[string]int64{base.Summary.Counters, new.Summary.Counters} {
		for name := range m {
			if !slices.Contains(known, name) && !slices.Contains(rest, name) {
				rest = append(rest, name)
			}
		}
	}
	for _, name := range zeroFigures {
		if !slices.Contains(known, name) && !slices.Contains(rest, name) {
			rest = append(rest, name)
		}
	}
	// known counters first, then the sip.<code> and violations.<rule>
	// families and anything else, by name
	rank := func(n string) int {
		if i := slices.Index(reports.CounterMetrics, n); i >= 0 {
			return i
		}
		return len(reports.CounterMetrics)
	}
	sort.Slice(rest, func(i, j int) bool {
		ri, rj := rank(rest[i]), rank(rest[j])
		if ri != rj {
			return ri < rj
		}
		return rest[i] < rest[j]
	})
	names = append(names, rest...)
	var out []CounterComparison
	for _, name := range names {
		b, _ := counterValue(base, name)
		n, _ := counterValue(new, name)
		zeroOnly := slices.Contains(zeroFigures, name)
		if b == 0 && n == 0 && !zeroOnly && !slices.Contains(known, name) {
			continue
		}
		c := CounterComparison{Name: name, Base: b, New: n, Delta: n - b, Rel: relChange(b, n)}
		c.Worse = zeroOnly && b == 0 && n > 0
		out = append(out, c)
	}
	return out
}

// evalRule evaluates one rule.
func evalRule(rule Rule, base, new *reports.Result, bd, nd map[reports.Op]*opData, opts Options,
	noise func(op reports.Op, stat string, delta, rel float64, relOK bool) *Noise) RuleResult {
	rr := RuleResult{Rule: rule, Status: RulePass}
	unit := ""
	if rule.Op != "" {
		b, n := bd[rule.Op], nd[rule.Op]
		if b == nil || n == nil {
			rr.Status = RuleInconclusive
			switch {
			case b == nil && n == nil:
				rr.Detail = fmt.Sprintf("no %s samples in either run", rule.Op)
			case b == nil:
				rr.Detail = fmt.Sprintf("no %s samples in %s", rule.Op, opts.BaseName)
			default:
				rr.Detail = fmt.Sprintf("no %s samples in %s", rule.Op, opts.NewName)
			}
			return rr
		}
		rr.Base, rr.New = statValue(b.sum, rule.Stat), statValue(n.sum, rule.Stat)
		if rule.latency() {
			unit = "µs"
		}
	} else {
		b, okB := counterValue(base, rule.Counter)
		n, okN := counterValue(new, rule.Counter)
		if !okB && !okN {
			rr.Status = RuleInconclusive
			rr.Detail = fmt.Sprintf("neither run has a counter %q", rule.Counter)
			return rr
		}
		if rule.Stat == StatRate {
			b, n = perSecond(b, base.Summary.Seconds), perSecond(n, new.Summary.Seconds)
		}
		rr.Base, rr.New = b, n
	}
	rr.Change = rr.New - rr.Base
	rr.Rel = relChange(rr.Base, rr.New)
	change := rr.Change
	if rule.Relative {
		if rr.Rel == nil {
			change = math.Inf(1) // up from zero: above any relative rise
		} else {
			change = *rr.Rel
		}
	}
	if rule.Above {
		rr.Crossed = change > rule.Value
	} else {
		rr.Crossed = change < rule.Value
	}
	what := fmt.Sprintf("%s (%s → %s)", formatChange(rr.Change, rr.Rel, unit == "µs"), fmtValue(rr.Base, unit), fmtValue(rr.New, unit))
	if rule.latency() {
		rel, ok := deref(rr.Rel)
		rr.Noise = noise(rule.Op, rule.Stat, rr.Change, rel, ok)
	}
	if rule.latency() && opts.RequireSignificance && !rr.Noise.Judged {
		// whether the change crossed the rule or not, a latency that
		// cannot be told from noise is not judged: the gate says so
		ns := rr.Noise
		rr.Status = RuleInconclusive
		rr.Detail = fmt.Sprintf("%s, but %s (%d and %d intervals of at least %d samples; need %d)",
			what, NoiseTooFew, ns.BaseIntervals, ns.NewIntervals, opts.MinIntervalSamples, opts.MinIntervals)
		return rr
	}
	if !rr.Crossed {
		rr.Detail = what + ", within the rule"
		return rr
	}
	if rule.latency() && opts.RequireSignificance {
		ns := rr.Noise
		if !(ns.P < opts.Alpha && float64(ns.Shift)*rr.Change > 0) {
			rr.Detail = fmt.Sprintf("%s, but within noise (%s)", what, pEquals(ns.P))
			return rr
		}
		rr.Status = RuleFail
		rr.Detail = fmt.Sprintf("%s, beyond noise (%s)", what, pEquals(ns.P))
		return rr
	}
	rr.Status = RuleFail
	rr.Detail = what
	if rr.Noise != nil && rr.Noise.Judged {
		rr.Detail += fmt.Sprintf(" (noise test %s)", pEquals(rr.Noise.P))
	}
	return rr
}
