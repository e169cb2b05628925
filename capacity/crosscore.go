package capacity

import (
	"fmt"
	"math"
)

// MinAllotmentUse is the share of its CPU allotment a server must have
// used at the first rate that failed for the CPU-limited sweep to count
// its maximum as the allotment's: below it the quota did not bind.
const MinAllotmentUse = 0.75

// CrossCoreBand is the stated band of the cross-check across core
// counts: the throughput at an allotment above one core predicted by the
// law fitted up to one core must be within ±15% of the measured one.
const CrossCoreBand = 0.15

// CoreCrossCheck is the cross-validation of the USL across core counts:
// the law fitted to the saturation throughput at allotments up to FitUpTo
// cores predicts the throughput at each larger allotment measured.
type CoreCrossCheck struct {
	FitUpTo       float64   `json:"fit_up_to_cores"`
	FitAllotments []float64 `json:"fit_allotments"`
	Sigma         float64   `json:"sigma"`
	Kappa         float64   `json:"kappa"`
	// Band is the stated relative band (CrossCoreBand).
	Band   float64     `json:"band"`
	Checks []CoreCheck `json:"checks"`
	// Within is true when every check is inside the band.
	Within bool `json:"within"`
	// Reason says why no prediction could be made (too few allotments up
	// to FitUpTo, a law they do not determine); Checks is then empty.
	Reason string `json:"reason,omitempty"`
}

// CoreCheck is one predicted allotment.
type CoreCheck struct {
	Cores     float64 `json:"cores"`
	Predicted float64 `json:"predicted"`
	Measured  float64 `json:"measured"`
	// Error is predicted ÷ measured − 1.
	Error  float64 `json:"error"`
	Within bool    `json:"within"`
}

// CrossCheckCores fits the USL to the points at allotments up to upTo
// cores and predicts each point above, against the band CrossCoreBand.
// It returns nil when no point lies above upTo (nothing to check).
func CrossCheckCores(points []ScalePoint, upTo float64) *CoreCrossCheck {
	var train, test []ScalePoint
	for _, p := range points {
		if p.Cores <= upTo+1e-9 {
			train = append(train, p)
		} else {
			test = append(test, p)
		}
	}
	if len(test) == 0 {
		return nil
	}
	cc := &CoreCrossCheck{FitUpTo: upTo, Band: CrossCoreBand, Checks: []CoreCheck{}, FitAllotments: []float64{}}
	if len(train) < 2 {
		cc.Reason = fmt.Sprintf("%d allotment(s) up to %s core: the law needs at least 2 to predict from", len(train), num(upTo))
		return cc
	}
	f, err := FitScalability(train)
	if err != nil {
		cc.Reason = err.Error()
		return cc
	}
	cc.FitAllotments = f.Allotments
	if !f.SigmaFitted {
		cc.Reason = "the allotments up to " + num(upTo) + " core do not determine the law: " + f.Reason
		return cc
	}
	cc.Sigma, cc.Kappa = f.Sigma, f.Kappa
	cc.Within = true
	for _, p := range test {
		lam, ok := f.Lambda[p.Group]
		if !ok {
			continue
		}
		pred := lam * Speedup(p.Cores, f.Sigma, f.Kappa)
		c := CoreCheck{Cores: p.Cores, Predicted: pred, Measured: p.Throughput, Error: pred/p.Throughput - 1}
		c.Within = math.Abs(c.Error) <= cc.Band
		cc.Within = cc.Within && c.Within
		cc.Checks = append(cc.Checks, c)
	}
	if len(cc.Checks) == 0 {
		cc.Within = false
		cc.Reason = "no allotment above " + num(upTo) + " core belongs to a group fitted below it"
	}
	return cc
}

// Sentence says the cross-check in one line.
func (cc *CoreCrossCheck) Sentence() string {
	if cc == nil {
		return "cross-check across core counts: not made (no allotment above one core was saturated)"
	}
	if cc.Reason != "" {
		return "cross-check across core counts: not made: " + cc.Reason
	}
	s := fmt.Sprintf("cross-check across core counts: the law fitted up to %s core (%s cores; σ = %s, κ = %s) predicts", num(cc.FitUpTo), fmtCores(cc.FitAllotments), num(cc.Sigma), num(cc.Kappa))
	for i, c := range cc.Checks {
		if i > 0 {
			s += ";"
		}
		s += fmt.Sprintf(" %s/s at %s cores, measured %s/s (%+.1f%%)", num(c.Predicted), num(c.Cores), num(c.Measured), 100*c.Error)
	}
	if cc.Within {
		return s + fmt.Sprintf(": within the ±%.0f%% band", 100*cc.Band)
	}
	return s + fmt.Sprintf(": OUTSIDE the ±%.0f%% band", 100*cc.Band)
}

// Status is green when every prediction is within the band, amber when
// one misses it by up to FarOff times the band, red when one is further
// off or no prediction could be made.
func (cc *CoreCrossCheck) Status() Status {
	if cc == nil || cc.Reason != "" || len(cc.Checks) == 0 {
		return StatusRed
	}
	st := StatusGreen
	for _, c := range cc.Checks {
		switch e := math.Abs(c.Error); {
		case e <= cc.Band:
		case e <= FarOff*cc.Band:
			st = worse(st, StatusAmber)
		default:
			st = StatusRed
		}
	}
	return st
}
