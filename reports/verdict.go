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
	// ExitUnreachable: the target could not be reached or no work was
	// done (VerdictUnreachable); conform's too, against a target it
	// cannot reach.
	ExitUnreachable = 7
	// ExitInconclusive: gcload compare could not judge a metric its gate
	// names (too few samples or intervals on either side).
	ExitInconclusive = 8
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
	case VerdictUnreachable:
		return ExitUnreachable
	}
	return ExitInternal
}

// Decide returns the verdict of a run, its exit code and the reasons it is
// not a pass, as sentences. The verdict follows the first that applies:
//
//   - unreachable: s.Unreachable, or no user signed in and some failed:
//     the target could not be reached and no work was done;
//   - invalid: s.Generator.Valid is false (the generator, not the server,
//     was the bottleneck; note that the zero Generator is invalid), or
//     planned operations were dropped because the generator could not
//     start them on time;
//   - nonconformant: conformance_violations > 0;
//   - fail: a threshold in s.Thresholds failed, or a health check did:
//     users that should be online are not (failed sign-ins, sessions
//     lost), planned operations were skipped, the target went away, a
//     shard of a merged run died or is missing (s.Shards), or the
//     compliance archive lacks acknowledged events, holds more, or could
//     not be checked (s.Compliance);
//   - aborted: s.Aborted;
//   - pass.
//
// Reasons list every check that did not pass, in that order. Thresholds
// must already be evaluated.
func Decide(s *Summary) (verdict string, exitCode int, reasons []string) {
	verdict = VerdictPass
	set := func(v string) {
		if verdict == VerdictPass {
			verdict = v
		}
	}
	c := s.Counters
	// a generator out of file descriptors reached nothing because of its
	// own limit, not the target's: the run is invalid (its reasons say
	// so), not unreachable
	if s.Unreachable || (s.Users.SignedIn == 0 && s.Users.Failed > 0 && c[CounterOutOfFiles] == 0) {
		set(VerdictUnreachable)
		why := s.Stopped
		if why == "" {
			why = fmt.Sprintf("none of the %d users could sign in", s.Users.Planned)
		}
		if s.Unreachable {
			reasons = append(reasons, "target unreachable, no work done: "+why)
		} else { // it answered, and no user could sign in (refused credentials, say)
			reasons = append(reasons, "no work done: "+why)
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
	if n := c[CounterDropped]; n > 0 {
		set(VerdictInvalid)
		reasons = append(reasons, fmt.Sprintf("invalid run: %s planned operations were dropped: the generator could not start them within limits.max_lag", FormatCount(n)))
	}
	if r := violationsReason(c); r != "" {
		set(VerdictNonconf)
		reasons = append(reasons, r)
	}
	for _, t := range s.Thresholds {
		if !t.Pass && !s.Unreachable { // with no work done, "no samples" says nothing more
			set(VerdictFail)
			got, _, _ := strings.Cut(t.Detail, ", want ")
			reasons = append(reasons, fmt.Sprintf("threshold %s failed: %s", t.Expr, got))
		}
	}
	for _, r := range healthReasons(s) {
		set(VerdictFail)
		reasons = append(reasons, r)
	}
	if s.Aborted {
		set(VerdictAborted)
		r := "aborted before the scheduled end"
		if s.AbortReason != "" {
			r += ": " + s.AbortReason
		}
		reasons = append(reasons, r)
	}
	return verdict, ExitCode(verdict), reasons
}

// healthReasons are the built-in checks that the work planned was done,
// which no threshold needs to ask for: every user signed in and stayed
// online, no planned operation was skipped, the target stayed.
func healthReasons(s *Summary) []string {
	var out []string
	c := s.Counters
	if s.Unreachable {
		return nil // said once, as the verdict's reason
	}
	if s.Stopped != "" {
		out = append(out, "the run stopped early: "+s.Stopped)
	}
	if f := s.Users.Failed; f > 0 && (s.Users.SignedIn > 0 || c[CounterOutOfFiles] > 0) {
		r := fmt.Sprintf("%s of %s users could not sign in", FormatCount(int64(f)), FormatCount(int64(s.Users.Planned)))
		if n := c[CounterSignInFailed]; n > 0 {
			r += fmt.Sprintf(" (signin_failed %s)", FormatCount(n))
		}
		if n := c[CounterOutOfFiles]; n > 0 {
			r += fmt.Sprintf(": the generator could not open %s connections for lack of file descriptors (out_of_files %s), its own limit", FormatCount(n), FormatCount(n))
		}
		out = append(out, r)
	}
	// a lost session whose user signed in again and rejoined (scenario
	// reconnect:) is not a failure: it is counted, its reconnection timed
	// and what it missed meanwhile accounted (missed_offline, lost)
	if lost, back := c[CounterSessionsLost], c[CounterReconnected]; lost > back {
		r := fmt.Sprintf("%s sessions lost: the server ended them or their connection closed (sessions_lost %s)", FormatCount(lost-back), FormatCount(lost))
		if back > 0 {
			r = fmt.Sprintf("%s sessions lost and not reconnected: the server ended them or their connection closed (sessions_lost %s, reconnected %s)", FormatCount(lost-back), FormatCount(lost), FormatCount(back))
		}
		out = append(out, r)
	}
	if n := c[CounterSkipped]; n > 0 {
		out = append(out, fmt.Sprintf("%s planned operations skipped: their user was not online or not in the room (skipped %s)", FormatCount(n), FormatCount(n)))
	}
	if cc := s.Compliance; cc != nil {
		ex := ""
		if len(cc.Examples) > 0 {
			ex = "; e.g. " + cc.Examples[0]
		}
		switch {
		case cc.Error != "":
			out = append(out, "the compliance archive could not be checked: "+cc.Error)
		case cc.Missing > 0:
			out = append(out, fmt.Sprintf("%s acknowledged posts, joins, parts or history views are missing from the compliance archive (compliance_missing %s of %s checked%s)", FormatCount(cc.Missing), FormatCount(cc.Missing), FormatCount(cc.Checked), ex))
		}
		if cc.Extra > 0 && cc.Error == "" {
			out = append(out, fmt.Sprintf("%s compliance archive records more than the run's acknowledged events (compliance_extra %s: duplicates, or records of what the server refused)", FormatCount(cc.Extra), FormatCount(cc.Extra)))
		}
	}
	return append(out, shardReasons(s)...)
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
