package reports

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// IntervalRecord is one closed interval of a run as the streams carry it
// (gcload run --stream): the numbers of its run.hlog lines and its
// counters.json entry, summarised.
type IntervalRecord struct {
	// Interval is the interval's index, from 0.
	Interval int       `json:"interval"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	// StartS and EndS are seconds from the run's start (the first
	// interval starts before it, while the connections are set up).
	StartS float64 `json:"start_s"`
	EndS   float64 `json:"end_s"`
	// Phase is the phase the interval belongs to (its midpoint falls in
	// it: PhaseIndex), DrainPhase after the last one.
	Phase string `json:"phase"`
	// Ops summarises each operation's samples in the interval (µs; rates
	// over the interval's length).
	Ops map[Op]OpSummary `json:"ops"`
	// Counters are the counters' increments in the interval, Gauges the
	// last value of each gauge set during it.
	Counters map[string]int64   `json:"counters"`
	Gauges   map[string]float64 `json:"gauges"`
}

// NewIntervalRecord summarises iv, the index-th interval of a run that
// started at start, in phase.
func NewIntervalRecord(index int, iv Interval, start time.Time, phase string) IntervalRecord {
	secs := iv.seconds()
	rec := IntervalRecord{
		Interval: index, Start: iv.Start, End: iv.End, Phase: phase,
		StartS: roundMs(iv.Start.Sub(start).Seconds()), EndS: roundMs(iv.End.Sub(start).Seconds()),
		Ops: make(map[Op]OpSummary, len(iv.Hists)), Counters: orEmptyMap(iv.Counters), Gauges: orEmptyMap(iv.Gauges),
	}
	for op, h := range iv.Hists {
		if h != nil && h.TotalCount() > 0 {
			rec.Ops[op] = SummarizePacked(h, secs)
		}
	}
	return rec
}

func roundMs(s float64) float64 { return math.Round(s*1000) / 1000 }

// SummarizePacked is Summarize for a packed (interval) histogram.
func SummarizePacked(h *hdrhistogram.PackedHistogram, seconds float64) OpSummary {
	if h == nil || h.TotalCount() == 0 {
		return OpSummary{}
	}
	n := h.TotalCount()
	q := h.ValueAtPercentilesSlice([]float64{50, 90, 99, 99.9})
	s := OpSummary{Count: n, Min: h.Min(), Mean: h.Mean(), P50: q[0], P90: q[1], P99: q[2], P999: q[3], Max: h.Max()}
	if seconds > 0 {
		s.Rate = float64(n) / seconds
	}
	return s
}

// IntervalSink receives each interval of a run as soon as it closes
// (loadrun.Options.Streams), from one goroutine, in order.
type IntervalSink interface {
	WriteInterval(IntervalRecord) error
}

// flusher is a writer that buffers (bufio.Writer): streams flush it after
// each interval, so that whoever follows the stream sees it at once.
type flusher interface{ Flush() error }

func flush(w io.Writer) error {
	if f, ok := w.(flusher); ok {
		return f.Flush()
	}
	return nil
}

// JSONStream writes each interval as one line of JSON (JSON Lines: an
// IntervalRecord), in one Write, flushed: `tail -f FILE | jq` follows a
// run as it goes.
type JSONStream struct{ w io.Writer }

// NewJSONStream returns a JSONStream writing to w.
func NewJSONStream(w io.Writer) *JSONStream { return &JSONStream{w: w} }

// WriteInterval writes rec as one line.
func (s *JSONStream) WriteInterval(rec IntervalRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	if _, err := s.w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	return flush(s.w)
}

// CSV columns: the interval's, the operation's, then the counters and
// gauges of CSVCounters and CSVGauges, then the others.
var (
	csvIntervalColumns = []string{"interval", "start", "end", "start_s", "end_s", "phase"}
	csvOpColumns       = []string{"op", "count", "rate_per_s", "min_us", "mean_us", "p50_us", "p90_us", "p99_us", "p99_9_us", "max_us"}
	// CSVCounters are the counters with a column of their own in the CSV
	// stream, in column order (new ones are only ever appended).
	CSVCounters = []string{
		CounterPosts, CounterDeliveries, CounterNotices, CounterErrors, CounterDropped, CounterTimeouts, CounterLateReplies,
		CounterRetransmits, CounterSkipped, CounterSignInFailed, CounterSessionsLost, CounterRejectedPosts, CounterViolations, CounterClamped,
	}
	// CSVGauges are the gauges with a column of their own, in order.
	CSVGauges = []string{"users_online", "generator_cpu_utilization", "server_cpu_utilization", "server_rss_bytes", "server_disk_write_bytes_per_s"}
)

// CSVHeader returns the header row of the CSV stream: interval, start,
// end, start_s, end_s, phase, op, count, rate_per_s, min_us, mean_us,
// p50_us, p90_us, p99_us, p99_9_us, max_us, the CSVCounters, the
// CSVGauges, other_counters and other_gauges.
func CSVHeader() []string {
	h := append(append([]string{}, csvIntervalColumns...), csvOpColumns...)
	h = append(h, CSVCounters...)
	h = append(h, CSVGauges...)
	return append(h, "other_counters", "other_gauges")
}

// CSVStream writes the intervals as CSV: the header (CSVHeader) first,
// then per interval one row with an empty op holding its counters and
// gauges, and one row per operation with samples in it (in Ops' order)
// holding its latency summary: summing a counter's column adds up the
// run's total, filtering on op gives an operation's time series. The
// counters and gauges without a column of their own are in
// other_counters and other_gauges as NAME=VALUE pairs joined by ";".
// Each interval's rows are written in one Write, flushed.
type CSVStream struct {
	w      io.Writer
	header bool
}

// NewCSVStream returns a CSVStream writing to w.
func NewCSVStream(w io.Writer) *CSVStream { return &CSVStream{w: w} }

// WriteInterval writes rec's rows (and the header before the first).
func (s *CSVStream) WriteInterval(rec IntervalRecord) error {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	header := CSVHeader()
	if !s.header {
		_ = cw.Write(header)
	}
	base := []string{
		strconv.Itoa(rec.Interval), rec.Start.UTC().Format(time.RFC3339Nano), rec.End.UTC().Format(time.RFC3339Nano),
		strconv.FormatFloat(rec.StartS, 'f', 3, 64), strconv.FormatFloat(rec.EndS, 'f', 3, 64), rec.Phase,
	}
	blank := func(n int) []string { return make([]string, n) }
	row := append(append([]string{}, base...), blank(len(csvOpColumns))...)
	for _, name := range CSVCounters {
		row = append(row, strconv.FormatInt(rec.Counters[name], 10))
	}
	for _, name := range CSVGauges {
		cell := "" // not set in the interval
		if v, ok := rec.Gauges[name]; ok {
			cell = formatCSVFloat(v)
		}
		row = append(row, cell)
	}
	row = append(row, otherPairs(rec.Counters, CSVCounters, func(n int64) string { return strconv.FormatInt(n, 10) }),
		otherPairs(rec.Gauges, CSVGauges, formatCSVFloat))
	_ = cw.Write(row)
	for _, op := range SortedOps(rec.Ops) {
		o := rec.Ops[op]
		row := append(append([]string{}, base...), string(op), strconv.FormatInt(o.Count, 10), formatCSVFloat(o.Rate),
			strconv.FormatInt(o.Min, 10), formatCSVFloat(o.Mean), strconv.FormatInt(o.P50, 10), strconv.FormatInt(o.P90, 10),
			strconv.FormatInt(o.P99, 10), strconv.FormatInt(o.P999, 10), strconv.FormatInt(o.Max, 10))
		row = append(row, blank(len(header)-len(row))...)
		_ = cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	s.header = true
	return flush(s.w)
}

func formatCSVFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// otherPairs renders the entries of m whose names are not in known as
// "name=value;..." by name.
func otherPairs[V any](m map[string]V, known []string, format func(V) string) string {
	var parts []string
	for name, v := range m {
		if !slices.Contains(known, name) {
			parts = append(parts, name+"="+format(v))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ";")
}
