package reports

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestDocsListEveryMetricAndExitCode keeps docs/results.md true to the
// code: every threshold metric and every exit code has a row there.
func TestDocsListEveryMetricAndExitCode(t *testing.T) {
	b, err := os.ReadFile("../docs/results.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var metrics []string
	for _, op := range Ops {
		metrics = append(metrics, string(op))
	}
	metrics = append(metrics, DeliveryMetrics...)
	metrics = append(metrics, UserMetrics...)
	metrics = append(metrics, RatioMetrics...)
	metrics = append(metrics, CounterMetrics...)
	for _, m := range metrics {
		if !strings.Contains(doc, "`"+m+"`") {
			t.Errorf("docs/results.md does not name metric %s", m)
		}
		if err := CheckMetric(m + map[bool]string{true: ".p99"}[kindOf(m) == kindLatency]); err != nil {
			t.Errorf("%s is in the lists but not a metric: %v", m, err)
		}
	}
	for _, p := range CounterPrefixes {
		if !strings.Contains(doc, "`"+p) {
			t.Errorf("docs/results.md does not name the counter family %s<...>", p)
		}
	}
	for _, code := range []int{ExitPass, ExitInternal, ExitBadInput, ExitThresholds, ExitConformance, ExitInvalidRun, ExitAborted, ExitUnreachable, ExitInconclusive} {
		if !strings.Contains(doc, fmt.Sprintf("\n| %d | ", code)) {
			t.Errorf("docs/results.md has no row for exit code %d", code)
		}
	}
	for _, v := range []string{VerdictPass, VerdictFail, VerdictNonconf, VerdictInvalid, VerdictAborted, VerdictUnreachable} {
		if !strings.Contains(doc, fmt.Sprintf("| %d | `%s` |", ExitCode(v), v)) {
			t.Errorf("docs/results.md does not give verdict %s its exit code %d", v, ExitCode(v))
		}
	}
}

// TestDocsCSVHeader: docs/results.md gives the CSV stream's header as
// CSVHeader makes it.
func TestDocsCSVHeader(t *testing.T) {
	b, err := os.ReadFile("../docs/results.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "<!-- csv header: reports.CSVHeader -->\n```\n")
	if i < 0 {
		t.Fatal("docs/results.md has no CSV header block")
	}
	rest := doc[i+len("<!-- csv header: reports.CSVHeader -->\n```\n"):]
	if got, want := rest[:strings.Index(rest, "\n")], strings.Join(CSVHeader(), ","); got != want {
		t.Errorf("docs/results.md gives the CSV header\n%s\nCSVHeader is\n%s", got, want)
	}
}
