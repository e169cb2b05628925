package reports

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"
)

// textCounters are the counters WriteText always shows, in order; the
// violations.<rule> and sip.<code> counters follow when present.
var textCounters = []string{
	CounterDropped, CounterErrors, CounterTimeouts, CounterLateReplies, CounterRetransmits,
	CounterSkipped, CounterSignInFailed, CounterSessionsLost, CounterRejectedPosts, CounterNotices,
	CounterClamped, CounterViolations,
}

// maxTextErrors is how many error kinds WriteText lists.
const maxTextErrors = 10

// WriteText writes the end-of-run summary for people: users, posts and
// deliveries, the rooms and conformance rules exercised, a latency table
// per operation (milliseconds), the phases with their own rates, the
// counters of interest, the errors by kind with the first of each, the
// thresholds, the generator's health, a merged run's shards with their
// clock offsets (a coordinated shard's own), and last (so that it is what
// stays on screen) the verdict and its reasons. When s.Verdict is empty the
// verdict shown is Decide's.
func WriteText(w io.Writer, s *Summary) error {
	ew := &ErrWriter{W: w}
	verdict, reasons := s.Verdict, s.Reasons
	if verdict == "" {
		verdict, _, reasons = Decide(s)
	}

	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "scenario\t%s (shard %s), target %s\n", orDash(s.Scenario), orDash(s.Shard), orDash(s.Target))
	if !s.Start.IsZero() {
		fmt.Fprintf(tw, "time\t%s to %s, %s s\n", s.Start.UTC().Format("2006-01-02 15:04:05"), s.End.UTC().Format("15:04:05 MST"), formatFloat(s.Seconds))
	} else {
		fmt.Fprintf(tw, "time\t%s s\n", formatFloat(s.Seconds))
	}
	if s.Stopped != "" {
		fmt.Fprintf(tw, "stopped\t%s\n", s.Stopped)
	}
	u := s.Users
	fmt.Fprintf(tw, "users\t%s of %s signed in, %s failed, %s sessions lost, peak online %s\n",
		FormatCount(int64(u.SignedIn)), FormatCount(int64(u.Planned)), FormatCount(int64(u.Failed)), FormatCount(s.Counters[CounterSessionsLost]), FormatCount(int64(u.PeakOnline)))
	d := s.Delivery
	fmt.Fprintf(tw, "posts\t%s acknowledged, %s rejected\n", FormatCount(d.Posts), FormatCount(s.Counters[CounterRejectedPosts]))
	lost := FormatCount(d.Lost)
	if d.Expected > 0 {
		lost += " (" + formatFloat(100*float64(d.Lost)/float64(d.Expected)) + "%)"
	}
	fmt.Fprintf(tw, "deliveries\texpected %s, received %s, lost %s\n", FormatCount(d.Expected), FormatCount(d.Received), lost)
	fmt.Fprintf(tw, "\tduplicated %s, out of order %s, spoofed %s, extra %s\n", FormatCount(d.Duplicated), FormatCount(d.OutOfOrder), FormatCount(d.Spoofed), FormatCount(d.Extra))
	if n := s.Counters[CounterReconnected] + s.Counters[CounterReconnectFailed]; n > 0 || d.MissedOffline > 0 {
		fmt.Fprintf(tw, "reconnects	%s reconnected, %s could not; missed while offline %s (found in history after rejoining)\n",
			FormatCount(s.Counters[CounterReconnected]), FormatCount(s.Counters[CounterReconnectFailed]), FormatCount(d.MissedOffline))
	}
	if line := roomsLine(s.Rooms); line != "" {
		fmt.Fprintf(tw, "rooms\t%s\n", line)
	}
	if line := rulesLine(s.Rules); line != "" {
		fmt.Fprintf(tw, "rules\t%s\n", line)
	}
	tw.Flush()
	fmt.Fprintln(ew)

	if len(s.Servers) > 1 {
		writeServers(ew, s.Servers)
		fmt.Fprintln(ew)
	}
	if len(s.Ops) > 0 {
		writeOpsTable(ew, s.Ops)
		fmt.Fprintln(ew)
	}
	if len(s.Phases) > 0 {
		writePhases(ew, s.Phases)
		fmt.Fprintln(ew)
	}

	fmt.Fprintln(ew, "counters")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
	for _, name := range textCounters {
		fmt.Fprintf(tw, "  %s\t%s\n", name, FormatCount(s.Counters[name]))
	}
	for _, name := range []string{CounterReconnected, CounterReconnectFailed, CounterSkippedOffline, CounterRecovered} {
		if n := s.Counters[name]; n > 0 {
			fmt.Fprintf(tw, "  %s\t%s\n", name, FormatCount(n))
		}
	}
	for _, prefix := range []string{"sip.", "violations."} {
		for _, name := range SortedKeys(s.Counters) {
			if strings.HasPrefix(name, prefix) {
				fmt.Fprintf(tw, "  %s\t%s\n", name, FormatCount(s.Counters[name]))
			}
		}
	}
	tw.Flush()

	if len(s.Errors) > 0 {
		fmt.Fprintln(ew)
		writeErrors(ew, s.Errors)
	}

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

	fmt.Fprintln(ew)
	writeShards(ew, s)
	fmt.Fprintf(ew, "verdict: %s (exit code %d)\n", strings.ToUpper(verdict), ExitCode(verdict))
	for _, r := range reasons {
		fmt.Fprintf(ew, "  - %s\n", r)
	}
	return ew.Err
}

// writeServers writes what happened on each server.
func writeServers(w io.Writer, servers []ServerCounts) {
	fmt.Fprintln(w, "servers")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	cpu := false
	for _, sc := range servers {
		cpu = cpu || sc.CPUSeconds > 0
	}
	head := "  server\tusers\tposts\tdeliveries\terrors\tsessions lost\treconnected\t"
	if cpu {
		head += "CPU s\t"
	}
	fmt.Fprintln(tw, head)
	for _, sc := range servers {
		name := sc.Server
		if sc.Killed {
			name += " (killed)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t", name, FormatCount(sc.Users), FormatCount(sc.Posts), FormatCount(sc.Deliveries),
			FormatCount(sc.Errors), FormatCount(sc.SessionsLost), FormatCount(sc.Reconnected))
		if cpu {
			fmt.Fprintf(tw, "%s\t", formatFloat(sc.CPUSeconds))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
}

// roomsLine says how many rooms were clean, had problems, or saw no
// traffic at all ("" without per-room accounting).
func roomsLine(rooms []RoomDelivery) string {
	if len(rooms) == 0 {
		return ""
	}
	n := map[string]int{}
	for i := range rooms {
		n[rooms[i].StatusOf()]++
	}
	var parts []string
	if k := n[RoomClean]; k > 0 {
		parts = append(parts, fmt.Sprintf("%s clean", FormatCount(int64(k))))
	}
	if k := n[RoomProblems]; k > 0 {
		parts = append(parts, fmt.Sprintf("%s with problems (lost, duplicated, out-of-order or spoofed deliveries)", FormatCount(int64(k))))
	}
	if k := n[NotExercised]; k > 0 {
		parts = append(parts, fmt.Sprintf("%s not exercised (no delivery expected)", FormatCount(int64(k))))
	}
	return fmt.Sprintf("%s in all: %s", FormatCount(int64(len(rooms))), strings.Join(parts, ", "))
}

// rulesLine counts the conformance rules by status and names those not
// exercised and those broken ("" when the run checked no rule).
func rulesLine(rules []RuleStatus) string {
	if len(rules) == 0 {
		return ""
	}
	by := map[string][]string{}
	for _, r := range rules {
		by[r.Status] = append(by[r.Status], r.Rule)
	}
	var parts []string
	if k := len(by[RulePass]); k > 0 {
		parts = append(parts, fmt.Sprintf("%d passed", k))
	}
	if k := by[RuleFail]; len(k) > 0 {
		parts = append(parts, fmt.Sprintf("%d violated (%s)", len(k), strings.Join(k, ", ")))
	}
	if k := by[NotExercised]; len(k) > 0 && len(k) == len(rules) {
		parts = append(parts, fmt.Sprintf("none exercised: the run saw none of the %d rules' messages", len(k)))
	} else if len(k) > 0 {
		parts = append(parts, fmt.Sprintf("%d not exercised (%s)", len(k), strings.Join(k, ", ")))
	}
	return strings.Join(parts, ", ")
}

// writePhases writes each phase with its time span and the rates of
// what was planned in it, then its own latency table (response times;
// the service times are in summary.json and report.html) and counters,
// from the intervals that belong to it.
func writePhases(w io.Writer, phases []PhaseSummary) {
	fromIntervals := slices.ContainsFunc(phases, func(p PhaseSummary) bool { return p.Ops != nil })
	if !fromIntervals { // a summary written before per-phase latencies
		fmt.Fprintln(w, "phases (rates over each phase's own time)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, p := range phases {
			fmt.Fprintf(tw, "  %s\t%s to %s\t%s\n", p.Name, clock(time.Duration(p.StartS*float64(time.Second))), clock(time.Duration((p.StartS+p.Seconds)*float64(time.Second))), orDash(phaseRates(p)))
		}
		tw.Flush()
		return
	}
	fmt.Fprintln(w, "phases (latencies and counters of the intervals whose middle falls in the phase; rates over those intervals)")
	for i, p := range phases {
		if i > 0 {
			fmt.Fprintln(w)
		}
		name := p.Name
		if p.Drain {
			name += " (after the last phase)"
		}
		head := fmt.Sprintf("%s  %s to %s", name, phaseClock(p.StartS), phaseClock(p.StartS+p.Seconds))
		if r := phaseRates(p); r != "" {
			head += ", by intended time: " + r
		}
		fmt.Fprintln(w, head)
		if p.Intervals == 0 {
			fmt.Fprintln(w, "  no interval of its own (the phase is shorter than an interval): its operations are in the phase next to it")
			continue
		}
		ops := map[Op]OpSummary{}
		for op, o := range p.Ops {
			if !strings.HasSuffix(string(op), "_service") {
				ops[op] = o
			}
		}
		if len(ops) > 0 {
			writeOpsTable(&indentWriter{w: w, prefix: "  "}, ops)
		}
		var cs []string
		for _, name := range SortedKeys(p.Counters) {
			if n := p.Counters[name]; n != 0 && !strings.HasPrefix(name, "errors.") && !strings.HasPrefix(name, "dropped.") {
				cs = append(cs, name+" "+FormatCount(n))
			}
		}
		if len(cs) > 0 {
			fmt.Fprintf(w, "  counters: %s\n", strings.Join(cs, ", "))
		}
		if len(ops) == 0 && len(cs) == 0 {
			fmt.Fprintln(w, "  nothing recorded")
		}
	}
}

// phaseRates lists a phase's planned operations per second, by name.
func phaseRates(p PhaseSummary) string {
	var rates []string
	for _, name := range SortedKeys(p.Rates) {
		rates = append(rates, fmt.Sprintf("%s %s/s", name, formatRate(p.Rates[name])))
	}
	return strings.Join(rates, ", ")
}

// phaseClock renders seconds from the run's start as mm:ss.t.
func phaseClock(s float64) string {
	d := time.Duration(s * float64(time.Second)).Round(100 * time.Millisecond)
	return fmt.Sprintf("%s.%d", clock(d.Truncate(time.Second)), d%time.Second/(100*time.Millisecond))
}

// indentWriter prefixes every line it writes.
type indentWriter struct {
	w      io.Writer
	prefix string
	mid    bool // in the middle of a line
}

func (iw *indentWriter) Write(p []byte) (int, error) {
	var b []byte
	for _, c := range p {
		if !iw.mid {
			b = append(b, iw.prefix...)
			iw.mid = true
		}
		b = append(b, c)
		if c == '\n' {
			iw.mid = false
		}
	}
	if _, err := iw.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

func formatRate(v float64) string {
	if v >= 100 {
		return FormatCount(int64(v + 0.5))
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

// writeErrors lists the error kinds, most frequent first, each with the
// first error of its kind on the line below:
//
//	errors by kind (50 in all; under each, the first and when)
//	  50  register: connection refused
//	      00:00 dial tcp 127.0.0.1:9: connect: connection refused
func writeErrors(w io.Writer, kinds []ErrorKind) {
	var total int64
	width := 0
	for _, k := range kinds {
		total += k.Count
		width = max(width, len(FormatCount(k.Count)))
	}
	fmt.Fprintf(w, "errors by kind (%s in all; under each, the first and when)\n", FormatCount(total))
	pad := strings.Repeat(" ", width)
	for i, k := range kinds {
		if i == maxTextErrors {
			fmt.Fprintf(w, "  %s  %d more kinds in summary.json\n", pad, len(kinds)-maxTextErrors)
			break
		}
		n := FormatCount(k.Count)
		fmt.Fprintf(w, "  %s%s  %s: %s\n", strings.Repeat(" ", width-len(n)), n, k.Op, k.Cause)
		fmt.Fprintf(w, "  %s  %s %s\n", pad, clock(time.Duration(k.FirstAt*float64(time.Second))), k.First)
	}
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
