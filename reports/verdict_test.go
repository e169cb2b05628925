package reports

import (
	"slices"
	"testing"
)

func TestDecide(t *testing.T) {
	valid := Generator{Valid: true}
	failed := []ThresholdResult{
		{Expr: "post_ack.p99 < 500ms", Pass: true, Detail: "p99 412.3ms < 500ms"},
		{Expr: "post_to_last_delivery.p99 < 500ms", Pass: false, Detail: "p99 612ms, want < 500ms"},
	}
	violations := map[string]int64{CounterViolations: 3, "violations.info/200-empty": 2, "violations.reply/commandid-envid": 1}
	invalid := Generator{Valid: false, InvalidReasons: []string{"generator CPU 97% of 2 cores"}}
	tests := []struct {
		name    string
		s       Summary
		verdict string
		code    int
		reasons []string
	}{
		{"pass", Summary{Generator: valid, Thresholds: failed[:1]}, VerdictPass, ExitPass, nil},
		{"aborted", Summary{Generator: valid, Aborted: true}, VerdictAborted, ExitAborted,
			[]string{"aborted before the scheduled end"}},
		{"threshold failed", Summary{Generator: valid, Thresholds: failed}, VerdictFail, ExitThresholds,
			[]string{"threshold post_to_last_delivery.p99 < 500ms failed: p99 612ms"}},
		{"failed beats aborted", Summary{Generator: valid, Thresholds: failed, Aborted: true}, VerdictFail, ExitThresholds,
			[]string{"threshold post_to_last_delivery.p99 < 500ms failed: p99 612ms", "aborted before the scheduled end"}},
		{"violations beat thresholds", Summary{Generator: valid, Thresholds: failed, Counters: violations}, VerdictNonconf, ExitConformance,
			[]string{"3 protocol violations (info/200-empty: 2, reply/commandid-envid: 1)", "threshold post_to_last_delivery.p99 < 500ms failed: p99 612ms"}},
		{"one violation without rules", Summary{Generator: valid, Counters: map[string]int64{CounterViolations: 1}}, VerdictNonconf, ExitConformance,
			[]string{"1 protocol violation"}},
		{"invalid beats everything", Summary{Generator: invalid, Thresholds: failed, Counters: violations, Aborted: true}, VerdictInvalid, ExitInvalidRun,
			[]string{"invalid run: generator CPU 97% of 2 cores", "3 protocol violations (info/200-empty: 2, reply/commandid-envid: 1)",
				"threshold post_to_last_delivery.p99 < 500ms failed: p99 612ms", "aborted before the scheduled end"}},
		{"zero generator is invalid", Summary{}, VerdictInvalid, ExitInvalidRun, []string{"invalid run: the generator was saturated"}},
		// the built-in health checks: no threshold needed
		{"sessions lost", Summary{Generator: valid, Users: Users{Planned: 50, SignedIn: 50}, Counters: map[string]int64{CounterSessionsLost: 50}}, VerdictFail, ExitThresholds,
			[]string{"50 sessions lost: the server ended them or their connection closed (sessions_lost 50)"}},
		{"failed sign-ins", Summary{Generator: valid, Users: Users{Planned: 50, SignedIn: 45, Failed: 5}, Counters: map[string]int64{CounterSignInFailed: 5}}, VerdictFail, ExitThresholds,
			[]string{"5 of 50 users could not sign in (signin_failed 5)"}},
		{"skipped operations", Summary{Generator: valid, Users: Users{Planned: 2, SignedIn: 2}, Counters: map[string]int64{CounterSkipped: 7}}, VerdictFail, ExitThresholds,
			[]string{"7 planned operations skipped: their user was not online or not in the room (skipped 7)"}},
		{"target went away", Summary{Generator: valid, Users: Users{Planned: 3, SignedIn: 3}, Stopped: "the target went away", Counters: map[string]int64{CounterSessionsLost: 3}}, VerdictFail, ExitThresholds,
			[]string{"the run stopped early: the target went away", "3 sessions lost: the server ended them or their connection closed (sessions_lost 3)"}},
		{"compliance archive clean", Summary{Generator: valid, Compliance: &Compliance{Checked: 9}}, VerdictPass, ExitPass, nil},
		{"compliance archive missing and extra", Summary{Generator: valid, Compliance: &Compliance{Checked: 90, Missing: 9, Extra: 2, Examples: []string{"missing: acknowledged post 9 of room r0 by sip:u1@d"}}}, VerdictFail, ExitThresholds,
			[]string{"9 acknowledged posts, joins, parts or history views are missing from the compliance archive (compliance_missing 9 of 90 checked; e.g. missing: acknowledged post 9 of room r0 by sip:u1@d)",
				"2 compliance archive records more than the run's acknowledged events (compliance_extra 2: duplicates, or records of what the server refused)"}},
		{"compliance archive unreadable", Summary{Generator: valid, Compliance: &Compliance{Error: "no admin API"}}, VerdictFail, ExitThresholds,
			[]string{"the compliance archive could not be checked: no admin API"}},
		{"dropped sends are the generator's", Summary{Generator: valid, Counters: map[string]int64{CounterDropped: 4}}, VerdictInvalid, ExitInvalidRun,
			[]string{"invalid run: 4 planned operations were dropped: the generator could not start them within limits.max_lag"}},
		{"nobody signed in", Summary{Generator: valid, Users: Users{Planned: 50, Failed: 50}, Counters: map[string]int64{CounterSignInFailed: 50}}, VerdictUnreachable, ExitUnreachable,
			[]string{"no work done: none of the 50 users could sign in"}},
		{"nobody signed in: the generator out of descriptors", Summary{Generator: Generator{InvalidReasons: []string{"out of file descriptors: 50 connections could not be opened, limit 40 per process"}},
			Users: Users{Planned: 50, Failed: 50}, Counters: map[string]int64{CounterSignInFailed: 50, CounterOutOfFiles: 50}}, VerdictInvalid, ExitInvalidRun,
			[]string{"invalid run: out of file descriptors: 50 connections could not be opened, limit 40 per process",
				"50 of 50 users could not sign in (signin_failed 50): the generator could not open 50 connections for lack of file descriptors (out_of_files 50), its own limit"}},
		{"unreachable beats everything", Summary{Generator: invalid, Unreachable: true, Stopped: "dial tcp 127.0.0.1:9: connection refused", Users: Users{Planned: 50}}, VerdictUnreachable, ExitUnreachable,
			[]string{"target unreachable, no work done: dial tcp 127.0.0.1:9: connection refused", "invalid run: generator CPU 97% of 2 cores"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, code, reasons := Decide(&tc.s)
			if v != tc.verdict || code != tc.code || !slices.Equal(reasons, tc.reasons) {
				t.Errorf("Decide = %q, %d, %q\nwant %q, %d, %q", v, code, reasons, tc.verdict, tc.code, tc.reasons)
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	for verdict, code := range map[string]int{VerdictPass: 0, VerdictFail: 3, VerdictNonconf: 4, VerdictInvalid: 5, VerdictAborted: 6, VerdictUnreachable: 7, "bogus": 1} {
		if got := ExitCode(verdict); got != code {
			t.Errorf("ExitCode(%q) = %d, want %d", verdict, got, code)
		}
	}
}
