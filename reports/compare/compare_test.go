package compare

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/charts"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// synth is a synthetic run: intervals of one second, perInterval samples
// each of post_ack and post_to_last_delivery, log-normal around 2 ms and
// 5 ms (σ 0.3) times scale, drawn from a fixed seed.
type synth struct {
	seed        uint64
	scale       float64
	intervals   int
	perInterval int
	lost        int64
	errors      int64
}

func (s synth) result() *reports.Result {
	rec := reports.NewRecorder(t0, time.Second)
	rng := rand.New(rand.NewPCG(s.seed, 42))
	us := func(median float64) time.Duration {
		return time.Duration(median * s.scale * math.Exp(0.3*rng.NormFloat64()) * float64(time.Microsecond))
	}
	for i := range s.intervals {
		for range s.perInterval {
			rec.Record(reports.OpPostAck, us(2000))
			rec.Record(reports.OpPostToLastDelivery, us(5000))
		}
		rec.Add(reports.CounterPosts, int64(s.perInterval))
		rec.Add(reports.CounterDeliveries, int64(10*s.perInterval))
		rec.Add("sip.200", int64(s.perInterval))
		rec.Tick(t0.Add(time.Duration(i+1) * time.Second))
	}
	rec.Add(reports.CounterErrors, s.errors)
	posts := int64(s.intervals * s.perInterval)
	sum := reports.Summary{
		Scenario: "synthetic", Shard: "1/1", Target: "embedded",
		Start: t0, End: t0.Add(time.Duration(s.intervals) * time.Second), Seconds: float64(s.intervals),
		Delivery:  reports.Delivery{Posts: posts, Expected: 10 * posts, Received: 10*posts - s.lost, Lost: s.lost},
		Generator: reports.Generator{Valid: true},
		Verdict:   reports.VerdictPass,
	}
	return rec.Result(sum)
}

func mustCompare(t *testing.T, base, new *reports.Result, opts Options) *Report {
	t.Helper()
	rep, err := Compare(base, new, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func rules(t *testing.T, ss ...string) []Rule {
	t.Helper()
	var out []Rule
	for _, s := range ss {
		r, err := ParseRule(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func TestIdenticalRunsNotFlagged(t *testing.T) {
	r := synth{seed: 1, scale: 1, intervals: 30, perInterval: 100}.result()
	opts := DefaultOptions()
	opts.Rules = rules(t, "post_to_last_delivery.p99 > +10%", "post_ack.p50 > +0us")
	rep := mustCompare(t, r, r, opts)
	if rep.Regressed || rep.Verdict != "no regression beyond noise" {
		t.Errorf("verdict %q, regressions %v", rep.Verdict, rep.Regressions)
	}
	for _, oc := range rep.Ops {
		for _, st := range NoiseStats {
			n := oc.Stat(st).Noise
			if !n.Judged || n.Beyond || n.P < 0.999 || n.Verdict != NoiseWithin {
				t.Errorf("%s %s: noise %+v, want p≈1 within noise", oc.Op, st, n)
			}
		}
	}
	for _, rr := range rep.Rules {
		if rr.Status != RulePass || rr.Crossed {
			t.Errorf("rule %s: %s %s", rr.Rule.Raw, rr.Status, rr.Detail)
		}
	}
}

// Two runs of the same build: same distribution, different random draws.
func TestSameDistributionNotFlagged(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		base := synth{seed: seed, scale: 1, intervals: 30, perInterval: 100}.result()
		new := synth{seed: seed + 100, scale: 1, intervals: 30, perInterval: 100}.result()
		opts := DefaultOptions()
		opts.Rules = rules(t, "post_to_last_delivery.p99 > +10%", "post_ack.p90 > +1%")
		rep := mustCompare(t, base, new, opts)
		if rep.Regressed {
			t.Errorf("seed %d: flagged: %v", seed, rep.Regressions)
		}
		noRules := mustCompare(t, base, new, DefaultOptions())
		if noRules.Regressed {
			t.Errorf("seed %d: flagged without rules: %v", seed, noRules.Regressions)
		}
	}
}

func TestShiftFlagged(t *testing.T) {
	base := synth{seed: 1, scale: 1, intervals: 30, perInterval: 100}.result()
	new := synth{seed: 2, scale: 1.3, intervals: 30, perInterval: 100}.result()
	opts := DefaultOptions()
	opts.Rules = rules(t,
		"post_to_last_delivery.p99 > +10%", // fails: +30% and beyond noise
		"post_to_last_delivery.p99 > +50%", // passes: not that much
		"post_ack.p50 > +200us",            // fails: +600µs
		"post_ack.p50 < -10%",              // passes: it rose
		"post_ack.rate < -5%",              // passes: same rate
		"lost > +0",                        // passes: none lost
	)
	rep := mustCompare(t, base, new, opts)
	for _, op := range []reports.Op{reports.OpPostAck, reports.OpPostToLastDelivery} {
		oc := rep.Op(op)
		for _, st := range NoiseStats {
			sc := oc.Stat(st)
			if !sc.Noise.Beyond || sc.Noise.Verdict != NoiseSlower || sc.Noise.P > 1e-6 || sc.Noise.Shift != 1 {
				t.Errorf("%s %s: %+v, want slower beyond noise", op, st, sc.Noise)
			}
			if rel := *sc.Rel; rel < 0.2 || rel > 0.4 {
				t.Errorf("%s %s: relative change %.3f, want ≈0.3", op, st, rel)
			}
		}
	}
	want := map[string]string{
		"post_to_last_delivery.p99 > +10%": RuleFail,
		"post_to_last_delivery.p99 > +50%": RulePass,
		"post_ack.p50 > +200us":            RuleFail,
		"post_ack.p50 < -10%":              RulePass,
		"post_ack.rate < -5%":              RulePass,
		"lost > +0":                        RulePass,
	}
	for _, rr := range rep.Rules {
		if rr.Status != want[rr.Rule.Raw] {
			t.Errorf("rule %s: %s (%s), want %s", rr.Rule.Raw, rr.Status, rr.Detail, want[rr.Rule.Raw])
		}
	}
	if !rep.Regressed || len(rep.Regressions) != 2 || len(rep.FailedRules()) != 2 {
		t.Errorf("regressions %v", rep.Regressions)
	}
	if !strings.HasPrefix(rep.Verdict, "regression: post_to_last_delivery.p99 > +10%") {
		t.Errorf("verdict %q", rep.Verdict)
	}

	// Without rules the slower percentiles are the regressions.
	rep = mustCompare(t, base, new, DefaultOptions())
	if len(rep.Regressions) != 6 {
		t.Errorf("regressions without rules: %v", rep.Regressions)
	}
	// The other way round it is faster: no regression.
	rep = mustCompare(t, new, base, DefaultOptions())
	if rep.Regressed || rep.Op(reports.OpPostAck).Stat(StatP50).Noise.Verdict != NoiseFaster {
		t.Errorf("reverse: %v", rep.Regressions)
	}
}

// A shift smaller than the minimum effect is not called beyond noise even
// when significant, but a rule asking for less still fails on it.
func TestMinEffect(t *testing.T) {
	base := synth{seed: 1, scale: 1, intervals: 60, perInterval: 400}.result()
	new := synth{seed: 2, scale: 1.03, intervals: 60, perInterval: 400}.result()
	opts := DefaultOptions()
	opts.Rules = rules(t, "post_ack.p50 > +1%")
	rep := mustCompare(t, base, new, opts)
	n := rep.Op(reports.OpPostAck).Stat(StatP50).Noise
	if n.Beyond || n.P >= 0.01 || n.Verdict != NoiseBelowEffect {
		t.Errorf("3%% shift: %+v, want significant but below the minimum effect", n)
	}
	if rep.Rules[0].Status != RuleFail {
		t.Errorf("rule: %s %s", rep.Rules[0].Status, rep.Rules[0].Detail)
	}
}

func TestTooFewIntervals(t *testing.T) {
	base := synth{seed: 1, scale: 1, intervals: 4, perInterval: 100}.result()
	new := synth{seed: 2, scale: 1.5, intervals: 4, perInterval: 100}.result()
	opts := DefaultOptions()
	opts.Rules = rules(t, "post_ack.p99 > +10%", "post_ack.count > +1000")
	rep := mustCompare(t, base, new, opts)
	n := rep.Op(reports.OpPostAck).Stat(StatP99).Noise
	if n.Judged || n.Verdict != NoiseTooFew || n.BaseIntervals != 4 {
		t.Errorf("noise %+v", n)
	}
	if rep.Rules[0].Status != RuleInconclusive || rep.Rules[1].Status != RulePass {
		t.Errorf("rules %+v", rep.Rules)
	}
	if rep.Regressed || len(rep.Inconclusive) != 1 {
		t.Errorf("regressions %v, inconclusive %v", rep.Regressions, rep.Inconclusive)
	}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "not enough intervals to judge (4 and 4 intervals)") {
		t.Errorf("text:\n%s", b.String())
	}
	// Without the significance requirement the rule fails on the change.
	opts.RequireSignificance = false
	rep = mustCompare(t, base, new, opts)
	if rep.Rules[0].Status != RuleFail || !rep.Regressed {
		t.Errorf("without significance: %+v", rep.Rules[0])
	}
	// Intervals with too few samples do not count: two smoke-like runs
	// of a few posts a second are inconclusive, not "no regression",
	// with a gate or without, and the verdict suggests --pool.
	sparse := synth{seed: 1, scale: 1, intervals: 60, perInterval: 3}.result()
	rep = mustCompare(t, sparse, sparse, DefaultOptions())
	if n := rep.Op(reports.OpPostAck).Stat(StatP50).Noise; n.Judged || n.BaseIntervals != 0 {
		t.Errorf("sparse: %+v", n)
	}
	if len(rep.Inconclusive) != 1 || !strings.HasPrefix(rep.Verdict, "inconclusive: none of the") || !strings.Contains(rep.Verdict, "--pool") {
		t.Errorf("sparse without rules: verdict %q", rep.Verdict)
	}
	opts = DefaultOptions()
	opts.Rules = rules(t, "post_to_last_delivery.p99 > +10%")
	rep = mustCompare(t, sparse, sparse, opts)
	if rep.Rules[0].Status != RuleInconclusive || rep.Regressed || !strings.HasPrefix(rep.Verdict, "inconclusive: ") {
		t.Errorf("sparse with a rule that did not cross: %+v, verdict %q", rep.Rules[0], rep.Verdict)
	}
	opts.PoolIntervals = true
	if rep = mustCompare(t, sparse, sparse, opts); rep.Rules[0].Status != RulePass || len(rep.Inconclusive) != 0 {
		t.Errorf("pooled: %+v, inconclusive %v", rep.Rules[0], rep.Inconclusive)
	}
}

func TestCounters(t *testing.T) {
	base := synth{seed: 1, scale: 1, intervals: 10, perInterval: 50}.result()
	new := synth{seed: 1, scale: 1, intervals: 10, perInterval: 50, lost: 5, errors: 2}.result()
	rep := mustCompare(t, base, new, DefaultOptions())
	got := map[string]CounterComparison{}
	for _, c := range rep.Counters {
		got[c.Name] = c
	}
	if c := got["lost"]; c.Base != 0 || c.New != 5 || !c.Worse || c.Rel != nil {
		t.Errorf("lost %+v", c)
	}
	if c := got["errors"]; c.New != 2 || !c.Worse {
		t.Errorf("errors %+v", c)
	}
	if c := got["posts/s"]; c.Base != 50 || c.New != 50 || *c.Rel != 0 {
		t.Errorf("posts/s %+v", c)
	}
	if c := got["sip.200"]; c.Base != 500 {
		t.Errorf("sip.200 %+v", c)
	}
	if !rep.Regressed || len(rep.Regressions) != 2 || rep.Regressions[0] != "lost 0 → 5" {
		t.Errorf("regressions %v", rep.Regressions)
	}
	opts := DefaultOptions()
	opts.Rules = rules(t, "lost > +3", "errors.rate > +50%", "sip.200 < -1%", "nosuch > 0")
	rep = mustCompare(t, base, new, opts)
	want := []string{RuleFail, RuleFail, RulePass, RuleInconclusive}
	for i, rr := range rep.Rules {
		if rr.Status != want[i] {
			t.Errorf("rule %s: %s (%s), want %s", rr.Rule.Raw, rr.Status, rr.Detail, want[i])
		}
	}
	if rep.Rules[1].New != 0.2 {
		t.Errorf("errors.rate new = %v, want 0.2/s", rep.Rules[1].New)
	}
}

func TestOptionsAndWarnings(t *testing.T) {
	r := synth{seed: 1, scale: 1, intervals: 10, perInterval: 50}.result()
	if _, err := Compare(nil, r, DefaultOptions()); err == nil {
		t.Error("nil base accepted")
	}
	if _, err := Compare(r, r, Options{Alpha: 2}); err == nil {
		t.Error("alpha 2 accepted")
	}
	other := synth{seed: 1, scale: 1, intervals: 20, perInterval: 20}.result()
	other.Summary.Scenario = "other"
	other.Summary.Generator.Valid = false
	other.Summary.Verdict = reports.VerdictInvalid
	rep := mustCompare(t, r, other, Options{}) // zero options: defaults
	if rep.Settings.Alpha != DefaultAlpha || rep.Settings.MinIntervals != DefaultMinIntervals || rep.New.Name != "new" {
		t.Errorf("settings %+v", rep.Settings)
	}
	w := strings.Join(rep.Warnings, "\n")
	for _, s := range []string{"different scenarios", "run lengths differ", "new run is invalid", "post_ack, post_to_last_delivery: the intervals hold on average 50 samples in base and 20 in new"} {
		if !strings.Contains(w, s) {
			t.Errorf("warnings lack %q:\n%s", s, w)
		}
	}
}

var externalRef = regexp.MustCompile(`(?i)(https?:|//[a-z]|src=|<script|<link|@import|url\()`)

// End to end: two results folders written and read back, compared, and
// the report written as text, HTML and JSON.
func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	bdir, ndir := filepath.Join(dir, "base"), filepath.Join(dir, "new")
	if err := reports.WriteResults(bdir, synth{seed: 7, scale: 1, intervals: 30, perInterval: 100}.result()); err != nil {
		t.Fatal(err)
	}
	if err := reports.WriteResults(ndir, synth{seed: 8, scale: 1.3, intervals: 30, perInterval: 100}.result()); err != nil {
		t.Fatal(err)
	}
	base, err := reports.ReadResults(bdir)
	if err != nil {
		t.Fatal(err)
	}
	new, err := reports.ReadResults(ndir)
	if err != nil {
		t.Fatal(err)
	}
	if len(base.Intervals) != 30 {
		t.Fatalf("%d intervals read back", len(base.Intervals))
	}
	opts := DefaultOptions()
	opts.BaseName, opts.NewName = bdir, ndir
	opts.Rules = rules(t, "post_to_last_delivery.p99 > +10%", "lost > +0")
	rep := mustCompare(t, base, new, opts)
	if !rep.Regressed || len(rep.FailedRules()) != 1 {
		t.Fatalf("regressions %v", rep.Regressions)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, s := range []string{
		"base: " + bdir, "Mann-Whitney",
		"post_to_last_delivery  count", "slower, beyond noise",
		"FAIL  post_to_last_delivery.p99 > +10%",
		"verdict: REGRESSION\n  - post_to_last_delivery.p99 > +10%: +",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("text lacks %q:\n%s", s, out)
		}
	}
	if testing.Verbose() {
		t.Log("\n" + out)
	}

	var page bytes.Buffer
	if err := rep.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	h := page.String()
	if !strings.HasPrefix(h, "<!DOCTYPE html>") || !strings.HasSuffix(strings.TrimSpace(h), "</html>") {
		t.Errorf("not a page:\n%s", h)
	}
	if m := externalRef.FindString(h); m != "" {
		t.Errorf("HTML refers to something outside: %q", m)
	}
	checkTagsBalanced(t, h)
	for _, s := range []string{"slower, beyond noise", "post_to_last_delivery.p99 &gt; &#43;10%", `class="verdict bad"`,
		`<figure id="chart-compare_spectrum"`, `<figure id="chart-compare_p99_intervals"`, "<svg ", ">post_to_last_delivery<", ">p99 +"} {
		if !strings.Contains(h, s) {
			t.Errorf("HTML lacks %q", s)
		}
	}
	// The charts: per operation in both runs, the two spectra and the
	// per-interval p99 values the noise test compared.
	byID := map[string]charts.Chart{}
	for _, c := range rep.Charts() {
		byID[c.ID] = c
	}
	sp, iv := byID["compare_spectrum"], byID["compare_p99_intervals"]
	if len(sp.Panels) != len(rep.Ops) || len(iv.Panels) == 0 {
		t.Fatalf("%d spectrum panels for %d operations, %d interval panels", len(sp.Panels), len(rep.Ops), len(iv.Panels))
	}
	for _, p := range iv.Panels {
		op, _, _ := strings.Cut(p.Title, "\n")
		oc := rep.Op(reports.Op(op))
		if oc == nil {
			t.Errorf("interval panel %q names no operation of the report", p.Title)
			continue
		}
		if len(p.Series) != 2 || p.Series[0].Name != "base" || p.Series[1].Name != "new" ||
			len(p.Series[0].Points) != oc.BaseIntervals || len(p.Series[1].Points) != oc.NewIntervals {
			t.Errorf("interval panel %q: %d and %d points, want %d and %d", p.Title, len(p.Series[0].Points), len(p.Series[1].Points), oc.BaseIntervals, oc.NewIntervals)
		}
	}
	var frag bytes.Buffer
	if err := rep.WriteHTMLFragment(&frag); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(frag.String(), `<section class="gcload-compare">`) {
		t.Errorf("fragment starts %q", frag.String()[:40])
	}

	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js, &back); err != nil {
		t.Fatal(err)
	}
	if back.Verdict != rep.Verdict || len(back.Ops) != len(rep.Ops) || back.Rules[0].Rule != rep.Rules[0].Rule {
		t.Errorf("JSON round trip lost data")
	}
	if !bytes.Contains(js, []byte(`"beyond_noise":true`)) {
		t.Errorf("JSON lacks beyond_noise: %s", js)
	}
}

// checkTagsBalanced checks every element the report opens is closed in
// order (void elements aside).
func checkTagsBalanced(t *testing.T, h string) {
	t.Helper()
	tag := regexp.MustCompile(`<(/?)([a-zA-Z0-9]+)[^>]*?(/?)>`)
	void := map[string]bool{"meta": true, "br": true}
	var stack []string
	for _, m := range tag.FindAllStringSubmatch(h, -1) {
		name := strings.ToLower(m[2])
		switch {
		case void[name] || m[3] == "/":
		case m[1] == "":
			stack = append(stack, name)
		case len(stack) == 0 || stack[len(stack)-1] != name:
			t.Fatalf("unbalanced </%s>, open %v", name, stack)
		default:
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed %v", stack)
	}
}

// The saved smoke run compared with itself.
func TestRealResults(t *testing.T) {
	dir := "../../results/smoke-20261122-005228"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("no saved smoke run")
	}
	r, err := reports.ReadResults(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultOptions()
	opts.PoolIntervals = true
	opts.MinIntervalSamples = 10
	rep := mustCompare(t, r, r, opts)
	if n := rep.Op(reports.OpPostAck).Stat(StatP99).Noise; !n.Judged || n.P != 1 {
		t.Errorf("post_ack p99, pooled: %+v", n)
	}
	if rep.Regressed || len(rep.Ops) == 0 {
		t.Errorf("smoke vs itself: %v", rep.Regressions)
	}
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		t.Log("\n" + b.String())
	}
}

// Low-rate runs: intervals of 5 samples are left out unless pooled.
func TestPoolIntervals(t *testing.T) {
	base := synth{seed: 1, scale: 1, intervals: 120, perInterval: 5}.result()
	new := synth{seed: 2, scale: 1.3, intervals: 120, perInterval: 5}.result()
	rep := mustCompare(t, base, new, DefaultOptions())
	if n := rep.Op(reports.OpPostAck).Stat(StatP50).Noise; n.Judged {
		t.Errorf("unpooled: %+v", n)
	}
	opts := DefaultOptions()
	opts.PoolIntervals = true
	rep = mustCompare(t, base, new, opts)
	oc := rep.Op(reports.OpPostAck)
	if n := oc.Stat(StatP50).Noise; !n.Beyond || n.BaseIntervals != 30 || n.NewIntervals != 30 {
		t.Errorf("pooled: %+v", n)
	}
	if oc.BaseSamplesPerInterval != 20 {
		t.Errorf("samples per pooled interval %v", oc.BaseSamplesPerInterval)
	}
	same := synth{seed: 3, scale: 1, intervals: 120, perInterval: 5}.result()
	if rep = mustCompare(t, base, same, opts); rep.Regressed {
		t.Errorf("pooled, same build: %v", rep.Regressions)
	}
}
