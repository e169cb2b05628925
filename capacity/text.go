package capacity

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/gcload/gcload/internal/jsonshape"
)

// JSON returns the prediction as indented JSON (non-finite values null,
// empty lists [], never null).
func (p Prediction) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(jsonshape.Filled(p), "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Text returns the prediction as the plain-text report `gcload capacity`
// prints.
func (p Prediction) Text() string {
	var b strings.Builder
	_ = p.WriteText(&b)
	return b.String()
}

// WriteText writes the plain-text report.
func (p Prediction) WriteText(w io.Writer) error {
	var b strings.Builder
	pf := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	row := func(label string, v Band, unit, extra string) {
		pf("  %-44s %10s %10s %10s%s%s\n", label, num(v.Low), num(v.Mid), num(v.High), unit, extra)
	}

	pf("Capacity on %s", p.Profile.Name)
	if p.Profile.Description != "" {
		pf(": %s", p.Profile.Description)
	}
	pf("\n")
	pf("CPU factor (one core against this machine's) %s / %s / %s, from %s\n", num(p.CPUFactor.Low), num(p.CPUFactor.Mid), num(p.CPUFactor.High), p.CPUFactorSource)
	pf("Mix: %s (%s deliveries per post)\n", mixName(p.Mix), num(p.Mix.MeanSize()))
	pf("Bands are low / mid / high: every uncertain input at its pessimistic, central and optimistic edge,\n")
	pf("widened by the validation error. For capacities low is the pessimistic end; for latencies high is.\n\n")

	v := p.Validation
	pf("Validation: %s. %s %s\n", strings.ToUpper(string(orRed(v.Status))), v.CPUCheck.Sentence, v.LatencyCheck.Sentence)
	pf("%s\n", v.Sentence)
	if pv := p.PoolValidation; pv != nil {
		pf("Pool validation: %s. %s\n", strings.ToUpper(string(orRed(pv.Status))), pv.Sentence)
	}
	pf("\n")

	pf("  %-44s %10s %10s %10s\n", "", "low", "mid", "high")
	row("max posts/s", p.MaxPostsPerSec, "", bindNote(p.PostsBindingBand))
	row("max deliveries/s", p.MaxDeliveriesPerSec, "", "")
	row("max concurrent users", p.MaxUsers, "", bindNote(p.UsersBindingBand))
	row(fmt.Sprintf("max users per room (p%g ≤ %s at %g posts/s)", p.Objective.Percentile, fmtDur(p.Objective.PostToLastDeliveryUs), p.Objective.AtPostsPerSec), p.MaxUsersPerRoom, "", "")
	pf("\n")

	pf("Headroom against the published targets (predicted / target; above 1 meets it)\n")
	for _, h := range p.Headroom {
		pf("  %-44s %10s %10s %10s   %s\n", h.Target, ratio(h.Ratio.Low), ratio(h.Ratio.Mid), ratio(h.Ratio.High), h.Note)
	}
	pf("\n")

	pf("Constraints for the mix\n")
	pf("  %-10s %32s   %32s\n", "resource", "max posts/s (low / mid / high)", "max users (low / mid / high)")
	for _, c := range p.Constraints {
		pf("  %-10s %32s   %32s\n", c.Resource, band3(c.MaxPostsPerSec), band3(c.MaxUsers))
	}
	pf("\n")

	pf("By room size (p%g post→last delivery at %g posts/s into rooms of that size)\n", p.Objective.Percentile, p.Objective.AtPostsPerSec)
	pf("  %8s %32s %14s %-10s %26s  %s\n", "room", "max posts/s (low / mid / high)", "deliveries/s", "binds", "latency (low / mid / high)", "objective")
	for _, r := range p.BySize {
		meets := "met"
		if !r.MeetsObjective {
			meets = "MISSED"
		}
		pf("  %8s %32s %14s %-10s %26s  %s\n", num(float64(r.RoomSize)), band3(r.MaxPostsPerSec), num(r.MaxDeliveriesPerSec.Mid), r.Binding,
			fmtDur(r.LastDeliveryUs.Low)+" / "+fmtDur(r.LastDeliveryUs.Mid)+" / "+fmtDur(r.LastDeliveryUs.High), meets)
	}
	pf("\n")

	pf("At load (the mix; utilisation mid [high], latency mid [high])\n")
	pf("  %9s %12s", "posts/s", "deliveries/s")
	for _, c := range p.Constraints {
		pf(" %16s", string(c.Resource))
	}
	pf(" %19s %19s %19s\n", "ack p99", "last p50", "last p99")
	for _, l := range p.Loads {
		pf("  %9s %12s", num(l.PostsPerSec), num(l.DeliveriesPerSec))
		for _, c := range p.Constraints {
			found := false
			for _, u := range l.Utilization {
				if u.Resource == c.Resource {
					pf(" %16s", pct(u.Utilization.Mid)+" ["+pct(u.Utilization.High)+"]")
					found = true
				}
			}
			if !found {
				pf(" %16s", "-")
			}
		}
		for _, v := range []Band{l.PostAckP99Us, l.LastDeliveryP50Us, l.LastDeliveryP99Us} {
			pf(" %19s", fmtDur(v.Mid)+" ["+fmtDur(v.High)+"]")
		}
		pf("\n")
	}
	pf("\n")

	m := p.Model
	pf("Model (fitted on this machine)\n")
	alo, ahi := m.CPU.CIA(Confidence)
	blo, bhi := m.CPU.CIB(Confidence)
	pf("  %s\n", m.CPUModel.Sentence)
	pf("  as a straight line a + b·k: a = %s µs [%s..%s], b = %s µs per delivery [%s..%s] (%.0f%% CI), R² %.4f, %d runs, k %s..%s\n",
		num(m.CPU.A), num(alo), num(ahi), num(m.CPU.B), num(blo), num(bhi), 100*Confidence, m.CPU.R2, m.CPU.N, num(m.CPU.XMin), num(m.CPU.XMax))
	if m.WireKnown {
		pf("  wire bytes per post = %s + %s·k (R² %.4f)\n", num(m.Wire.A), num(m.Wire.B), m.Wire.R2)
	}
	u := m.USL
	if u.SigmaFitted {
		if len(u.Allotments) > 0 {
			pf("  USL over CPU allotments %s cores: σ = %s", fmtCores(u.Allotments), num(u.Sigma))
		} else {
			pf("  USL over cores %v: σ = %s", u.CoreCounts, num(u.Sigma))
		}
		if u.SEKnown {
			pf(" ± %s", num(u.SESigma))
		}
		if u.KappaFitted {
			pf(", κ = %s", num(u.Kappa))
			if u.SEKnown {
				pf(" ± %s", num(u.SEKappa))
			}
			pf(", N* = %s", num(u.PeakCores()))
		} else {
			pf(", κ = 0 (not identifiable)")
		}
		pf(", speedup at %d cores %s\n", p.Profile.Cores, num(u.Speedup(float64(p.Profile.Cores))))
	}
	pf("  %s\n", u.Note)
	if m.Sweep != "" {
		pf("  CPU-limited sweep: %s\n", m.Sweep)
	}
	if m.CoreCheck != nil {
		pf("  %s\n", m.CoreCheck.Sentence())
	}
	pf("  throughput at saturation / CPU bound: %s [%s..%s]\n", num(m.CPUEfficiency.Mid), num(m.CPUEfficiency.Low), num(m.CPUEfficiency.High))
	switch m.GroupCommit {
	case GroupCommitObserved:
		pf("  %s: commits add one to two flush times to a post but do not bound throughput\n", m.Batching.Sentence)
	case GroupCommitAbsent:
		pf("  %s: the commit log bounds throughput at 1/flush time\n", m.Batching.Sentence)
	default:
		pf("  %s: one flush per post assumed (pessimistic)\n", m.Batching.Sentence)
	}
	pf("  latency tail on this machine (p99 post→last delivery the queueing model does not explain): %s + %s per recipient (%d runs; the per-recipient part, mostly the load generator's, is not carried to the profile)\n",
		fmtDur(m.TailP99.C0), fmtDur(m.TailP99.C1), m.TailP99.Runs)
	if m.DiskBytesPerPost.Mid > 0 {
		pf("  disk writes: %s bytes per post\n", num(m.DiskBytesPerPost.Mid))
	}
	if m.MemPerUser.Mid > 0 {
		pf("  memory: %s bytes per user, %s per joined room (rooms per user in the mix: %s)\n", num(m.MemPerUser.Mid), num(m.MemPerJoinedRoom.Mid), num(p.Mix.roomsPerUser()))
	}
	pf("  base latency %s; service CV %s, sweep arrival CV %s (deployments: Poisson)\n", fmtDur(m.BaseLatencyUs), num(m.ServiceCV), num(m.ArrivalCV))
	pf("  micro-calibrations: hot path %s µs per delivery; fsync %s mean, %s p99\n", num(m.HotPathDeliveryUs), fmtDur(m.FsyncMeanUs), fmtDur(m.FsyncP99Us))
	for _, x := range m.Excluded {
		pf("  excluded: %s\n", x)
	}
	if len(p.Warnings) > 0 {
		pf("\nWarnings\n")
		for _, w := range p.Warnings {
			pf("  - %s\n", w)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func bindNote(b Binding) string {
	if b.Mid == "" {
		return ""
	}
	if b.Same() {
		return "   binds: " + string(b.Mid)
	}
	return "   binds: " + bindName(b.Low) + " / " + bindName(b.Mid) + " / " + bindName(b.High)
}

func bindName(r Resource) string {
	if r == "" {
		return "-"
	}
	return string(r)
}

// orRed is the status, red when there is none.
func orRed(s Status) Status {
	if s == "" {
		return StatusRed
	}
	return s
}

func band3(b Band) string { return num(b.Low) + " / " + num(b.Mid) + " / " + num(b.High) }

// num formats a figure: thousands separated from 1,000, three significant
// digits below, "∞" for unbounded.
func num(x float64) string {
	switch {
	case math.IsNaN(x):
		return "-"
	case math.IsInf(x, 1):
		return "∞"
	case math.IsInf(x, -1):
		return "-∞"
	case math.Abs(x) >= 1000:
		s := strconv.FormatFloat(math.Round(x), 'f', 0, 64)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var out []byte
		for i := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		if neg {
			return "-" + string(out)
		}
		return string(out)
	case x == 0:
		return "0"
	default:
		return strconv.FormatFloat(roundSig(x, 3), 'g', -1, 64)
	}
}

func ratio(x float64) string {
	if !finite(x) {
		return num(x)
	}
	return fmt.Sprintf("%.2fx", x)
}

func pct(x float64) string {
	if !finite(x) {
		return num(x)
	}
	return fmt.Sprintf("%.0f%%", 100*x)
}

// fmtDur formats microseconds as µs, ms or s; non-finite is "saturated".
func fmtDur(us float64) string {
	switch {
	case !finite(us):
		return "saturated"
	case us < 1000:
		return num(us) + " µs"
	case us < 1e6:
		return num(us/1000) + " ms"
	default:
		return num(us/1e6) + " s"
	}
}
