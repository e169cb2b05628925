package reports

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// textCounters are the counters WriteText always shows, in order; the
// violations.<rule> and sip.<code> counters follow when present.
var textCounters = []string{
	CounterDropped, CounterErrors, CounterTimeouts, CounterRetransmits,
	CounterSkipped, CounterSignInFailed, CounterRejectedPosts, CounterNotices,
	CounterClamped, CounterViolations,
}

// WriteText writes the end-of-run summary for people: the verdict and its
// reasons first, then users, posts and deliveries, a latency table per
// operation (milliseconds), the counters of interest, the thresholds and
// the generator's health. When s.Verdict is empty the verdict shown is
// Decide's.
func WriteText(w io.Writer, s *Summary) error {
	ew := &ErrWriter{W: w}
	verdict, reasons := s.Verdict, s.Reasons
	if verdict == "" {
		verdict, _, reasons = Decide(s)
	}
	fmt.Fprintf(ew, "verdict: %s (exit code %d)\n", strings.ToUpper(verdict), ExitCode(verdict))
	for _, r := range reasons {
		fmt.Fprintf(ew, "  - %s\n", r)
	}
	fmt.Fprintln(ew)

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\t%s (shard %s), target %s\n", orDash(s.Scenario), orDash(s.Shard), orDash(s.Target))
	if !s.Start.IsZero() {
		fmt.Fprintf(tw, "time\t%s to %s, %s s\n", s.Start.UTC().Format("2006-01-02 15:04:05"), s.End.UTC().Format("15:04:05 MST"), formatFloat(s.Seconds))
	} else {
		fmt.Fprintf(tw, "time\t%s s\n", formatFloat(s.Seconds))
	}
	u := s.Users
	fmt.Fprintf(tw, "users\t%s of %s signed in, %s failed, peak online %s\n",
		FormatCount(int64(u.SignedIn)), FormatCount(int64(u.Planned)), FormatCount(int64(u.Failed)), FormatCount(int64(u.PeakOnline)))
	d := s.Delivery
	fmt.Fprintf(tw, "posts\t%s acknowledged, %s rejected\n", FormatCount(d.Posts), FormatCount(s.Counters[CounterRejectedPosts]))
	lost := FormatCount(d.Lost)
	if d.Expected > 0 {
		lost += " (" + formatFloat(100*float64(d.Lost)/float64(d.Expected)) + "%)"
	}
	fmt.Fprintf(tw, "deliveries\texpected %s, received %s, lost %s\n", FormatCount(d.Expected), FormatCount(d.Received), lost)
	fmt.Fprintf(tw, "\tduplicated %s, out of order %s, spoofed %s, extra %s\n", FormatCount(d.Duplicated), FormatCount(d.OutOfOrder), FormatCount(d.Spoofed), FormatCount(d.Extra))
	tw.Flush()
	fmt.Fprintln(ew)

	if len(s.Ops) > 0 {
		writeOpsTable(ew, s.Ops)
		fmt.Fprintln(ew)
	}

	fmt.Fprintln(ew, "counters")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	for _, name := range textCounters {
		fmt.Fprintf(tw, "  %s\t%s\n", name, FormatCount(s.Counters[name]))
	}
	for _, prefix := range CounterPrefixes {
		for _, name := range SortedKeys(s.Counters) {
			if strings.HasPrefix(name, prefix) {
				fmt.Fprintf(tw, "  %s\t%s\n", name, FormatCount(s.Counters[name]))
			}
		}
	}
	tw.Flush()

	if len(s.Thresholds) > 0 {
		fmt.Fprintln(ew)
		fmt.Fprintln(ew, "thresholds")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		for _, t := range s.Thresholds {
			mark := "pass"
			if !t.Pass {
				mark = "FAIL"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", mark, t.Expr, t.Detail)
		}
		tw.Flush()
	}

	fmt.Fprintln(ew)
	g := s.Generator
	health := "valid"
	if !g.Valid {
		health = "INVALID"
		if len(g.InvalidReasons) > 0 {
			health += " (" + strings.Join(g.InvalidReasons, "; ") + ")"
		}
	}
	fmt.Fprintf(ew, "generator: %s\n", health)
	server := ""
	if g.EmbeddedServer {
		server = ", embedded server included"
	}
	fmt.Fprintf(ew, "  CPU %s s, %s%% of %d procs%s\n", formatFloat(g.CPUSeconds), formatFloat(100*g.CPUUtilization), g.GOMAXPROCS, server)
	fmt.Fprintf(ew, "  scheduler lag p99 %s, Go run queue p99 %s\n", FormatMicros(float64(g.SchedLagP99)), FormatMicros(float64(g.GoSchedP99)))
	fmt.Fprintf(ew, "  GC pauses %s total, %s max; heap peak %s MiB\n", FormatMicros(g.GCPauseTotal*1e6), FormatMicros(g.GCPauseMax*1e6), formatFloat(float64(g.HeapPeakBytes)/(1<<20)))
	return ew.Err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ErrWriter remembers the first write error and drops later writes, so
// that a report is written with plain Fprintf calls and the error checked
// once: Err.
type ErrWriter struct {
	W   io.Writer
	Err error
}

func (e *ErrWriter) Write(p []byte) (int, error) {
	if e.Err != nil {
		return len(p), nil
	}
	_, e.Err = e.W.Write(p)
	return len(p), nil
}

// writeOpsTable writes one row per operation: the name left-aligned, the
// numbers right-aligned, latencies in milliseconds.
func writeOpsTable(w io.Writer, ops map[Op]OpSummary) {
	header := []string{"operation", "count", "rate/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms"}
	rows := [][]string{header}
	ms := func(us int64) string { return strconv.FormatFloat(float64(us)/1e3, 'f', 2, 64) }
	for _, op := range SortedOps(ops) {
		o := ops[op]
		rows = append(rows, []string{string(op), FormatCount(o.Count), strconv.FormatFloat(o.Rate, 'f', 1, 64),
			ms(o.P50), ms(o.P90), ms(o.P99), ms(o.P999), ms(o.Max)})
	}
	width := make([]int, len(header))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		b.WriteString(row[0] + strings.Repeat(" ", width[0]-utf8.RuneCountInString(row[0])))
		for i := 1; i < len(row); i++ {
			b.WriteString(strings.Repeat(" ", 2+width[i]-utf8.RuneCountInString(row[i])) + row[i])
		}
		fmt.Fprintln(w, b.String())
	}
}
