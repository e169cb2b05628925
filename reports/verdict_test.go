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
	for verdict, code := range map[string]int{VerdictPass: 0, VerdictFail: 3, VerdictNonconf: 4, VerdictInvalid: 5, VerdictAborted: 6, "bogus": 1} {
		if got := ExitCode(verdict); got != code {
			t.Errorf("ExitCode(%q) = %d, want %d", verdict, got, code)
		}
	}
}
