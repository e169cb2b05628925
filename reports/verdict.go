package reports

import (
	"fmt"
	"sort"
	"strings"
)

// Exit codes of a run, one per verdict (see docs/results.md).
const (
	ExitPass        = 0 // every check passed
	ExitInternal    = 1 // gcload itself failed
	ExitBadInput    = 2 // bad flags, scenario or results folder
	ExitThresholds  = 3 // a threshold failed (VerdictFail)
	ExitConformance = 4 // protocol violations (VerdictNonconf)
	ExitInvalidRun  = 5 // the generator was the bottleneck (VerdictInvalid)
	ExitAborted     = 6 // stopped before the end, every other check passed (VerdictAborted)
)

// ExitCode returns the exit code of a verdict; an unknown verdict is
// ExitInternal.
func ExitCode(verdict string) int {
	switch verdict {
	case VerdictPass:
		return ExitPass
	case VerdictFail:
		return ExitThresholds
	case VerdictNonconf:
		return ExitConformance
	case VerdictInvalid:
		return ExitInvalidRun
	case VerdictAborted:
		return ExitAborted
	}
	return ExitInternal
}

// Decide returns the verdict of a run, its exit code and the reasons it is
// not a pass, as sentences. The verdict follows the first that applies:
// invalid (s.Generator.Valid is false: the generator, not the server, was
// the bottleneck; note that the zero Generator is invalid), nonconformant
// (conformance_violations > 0), fail (a threshold in s.Thresholds failed),
// aborted (s.Aborted), pass. Reasons list every check that did not pass,
// in that order. Thresholds must already be evaluated.
func Decide(s *Summary) (verdict string, exitCode int, reasons []string) {
	verdict = VerdictPass
	set := func(v string) {
		if verdict == VerdictPass {
			verdict = v
		}
	}
	if !s.Generator.Valid {
		set(VerdictInvalid)
		if len(s.Generator.InvalidReasons) == 0 {
			reasons = append(reasons, "invalid run: the generator was saturated")
		}
		for _, r := range s.Generator.InvalidReasons {
			reasons = append(reasons, "invalid run: "+r)
		}
	}
	if r := violationsReason(s.Counters); r != "" {
		set(VerdictNonconf)
		reasons = append(reasons, r)
	}
	for _, t := range s.Thresholds {
		if !t.Pass {
			set(VerdictFail)
			got, _, _ := strings.Cut(t.Detail, ", want ")
			reasons = append(reasons, fmt.Sprintf("threshold %s failed: %s", t.Expr, got))
		}
	}
	if s.Aborted {
		set(VerdictAborted)
		reasons = append(reasons, "aborted before the scheduled end")
	}
	return verdict, ExitCode(verdict), reasons
}

// violationsReason describes the protocol violations in counters, by rule:
// "3 protocol violations (info/200-empty: 2, reply/commandid-envid: 1)".
func violationsReason(counters map[string]int64) string {
	type rule struct {
		name string
		n    int64
	}
	var rules []rule
	var sum int64
	for name, n := range counters {
		if r, ok := strings.CutPrefix(name, "violations."); ok && n > 0 {
			rules = append(rules, rule{r, n})
			sum += n
		}
	}
	total := max(counters[CounterViolations], sum)
	if total <= 0 {
		return ""
	}
	sort.Slice(rules, func(i, j int) bool {
		if rules[i].n != rules[j].n {
			return rules[i].n > rules[j].n
		}
		return rules[i].name < rules[j].name
	})
	noun := "protocol violations"
	if total == 1 {
		noun = "protocol violation"
	}
	if len(rules) == 0 {
		return fmt.Sprintf("%d %s", total, noun)
	}
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = fmt.Sprintf("%s: %d", r.name, r.n)
	}
	return fmt.Sprintf("%d %s (%s)", total, noun, strings.Join(parts, ", "))
}
