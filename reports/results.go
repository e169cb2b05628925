package reports

// The results folder (documented for people in docs/results.md):
//
//	scenario.yaml    the scenario as run (Result.ScenarioYAML; absent if nil)
//	summary.json     Summary, indented JSON with stable key order
//	verdict.txt      line 1 the verdict, line 2 the exit code, then one
//	                 reason per line
//	<op>.hgrm        per operation with data: HdrHistogram's percentile
//	                 distribution (PercentilesPrint, 5 ticks per half
//	                 distance), values in milliseconds
//	run.hlog         HdrHistogram interval log V1.3: StartTime and BaseTime
//	                 comments (seconds since the epoch, 3 decimals), the
//	                 legend, then per interval one line per operation with
//	                 data, "Tag=<op>,<start s>,<length s>,<max ms>,<V2
//	                 compressed histogram>", start relative to BaseTime
//	histograms.json  {"<op>": "<base64 V2 compressed total histogram>"}
//	counters.json    {"interval_ms": N, "intervals": [{"start", "end",
//	                 "ops": [ops with a run.hlog line, in line order],
//	                 "counters": {deltas}, "gauges": {last values}}]}
//	anything else    Result.Extra, written and read back verbatim
//
// Histograms are in microseconds, 1 µs to 1 hour, 3 significant digits.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Names of the files in a results folder.
const (
	FileScenario   = "scenario.yaml"
	FileSummary    = "summary.json"
	FileVerdict    = "verdict.txt"
	FileHlog       = "run.hlog"
	FileHistograms = "histograms.json"
	FileCounters   = "counters.json"
	ExtHgrm        = ".hgrm" // <op>.hgrm
)

// hgrmTicks is the percentile ticks per half distance of .hgrm files
// (HdrHistogram's default).
const hgrmTicks = 5

// Result is everything a run produced that goes into its results folder.
type Result struct {
	Summary Summary
	// Hists is the total histogram of each operation with data.
	Hists     map[Op]*hdrhistogram.Histogram
	Intervals []Interval
	// IntervalLength is the nominal interval length; 0 means the length of
	// the first interval.
	IntervalLength time.Duration
	ScenarioYAML   []byte
	// Extra holds more files the engine adds (accounting.gob, ...), by
	// file name.
	Extra map[string][]byte
}

// CountersFile is counters.json: the nominal interval length and, per
// interval, the operations with a run.hlog line (in line order), the
// counters' increments and the gauges' last values.
type CountersFile struct {
	IntervalMs int64              `json:"interval_ms"`
	Intervals  []CountersInterval `json:"intervals"`
}

// CountersInterval is one interval of counters.json.
type CountersInterval struct {
	Start    time.Time          `json:"start"`
	End      time.Time          `json:"end"`
	Ops      []Op               `json:"ops"`
	Counters map[string]int64   `json:"counters"`
	Gauges   map[string]float64 `json:"gauges"`
}

// intervalLength returns the nominal interval length of r.
func (r *Result) intervalLength() time.Duration {
	if r.IntervalLength > 0 {
		return r.IntervalLength
	}
	if len(r.Intervals) > 0 {
		return r.Intervals[0].End.Sub(r.Intervals[0].Start).Round(time.Millisecond)
	}
	return 0
}

func reserved(name string) bool {
	switch name {
	case FileScenario, FileSummary, FileVerdict, FileHlog, FileHistograms, FileCounters:
		return true
	}
	return strings.HasSuffix(name, ExtHgrm)
}

func checkOpName(op Op) error {
	if op == "" || strings.ContainsAny(string(op), ", \t\r\n/\\") || op == "." || op == ".." {
		return fmt.Errorf("%w: operation name %q cannot name a file or an hlog tag", ErrBadResults, op)
	}
	return nil
}

// WriteResults writes r into dir, creating it if needed; see the package
// comment in results.go and docs/results.md for the layout. If
// r.Summary.Verdict is empty, the verdict and reasons written are Decide's.
func WriteResults(dir string, r *Result) error {
	for name := range r.Extra {
		if name == "" || name == "." || name == ".." || filepath.Base(name) != name || strings.ContainsAny(name, `/\`) {
			return fmt.Errorf("%w: extra file name %q must be a plain file name", ErrBadResults, name)
		}
		if reserved(name) {
			return fmt.Errorf("%w: extra file %q would overwrite a results file", ErrBadResults, name)
		}
	}
	for op := range r.Hists {
		if err := checkOpName(op); err != nil {
			return err
		}
	}
	for _, iv := range r.Intervals {
		for op := range iv.Hists {
			if err := checkOpName(op); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	write := func(name string, data []byte) error {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
		return nil
	}

	if r.ScenarioYAML != nil {
		if err := write(FileScenario, r.ScenarioYAML); err != nil {
			return err
		}
	}

	s := r.Summary.withEmptyLists()
	if s.Verdict == "" {
		s.Verdict, _, s.Reasons = Decide(&s)
	}
	sj, err := json.MarshalIndent(&s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", FileSummary, err)
	}
	if err := write(FileSummary, append(sj, '\n')); err != nil {
		return err
	}

	var vb bytes.Buffer
	fmt.Fprintf(&vb, "%s\n%d\n", s.Verdict, ExitCode(s.Verdict))
	for _, reason := range s.Reasons {
		fmt.Fprintln(&vb, reason)
	}
	if err := write(FileVerdict, vb.Bytes()); err != nil {
		return err
	}

	encoded := map[Op]string{}
	for _, op := range SortedOps(r.Hists) {
		h := r.Hists[op]
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		var b bytes.Buffer
		if _, err := h.PercentilesPrint(&b, hgrmTicks, 1000); err != nil {
			return fmt.Errorf("write %s%s: %w", op, ExtHgrm, err)
		}
		if err := write(string(op)+ExtHgrm, b.Bytes()); err != nil {
			return err
		}
		e, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
		if err != nil {
			return fmt.Errorf("encode %s histogram: %w", op, err)
		}
		encoded[op] = string(e)
	}
	hj, err := json.MarshalIndent(encoded, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", FileHistograms, err)
	}
	if err := write(FileHistograms, append(hj, '\n')); err != nil {
		return err
	}

	var hlog bytes.Buffer
	cf, err := writeHlog(&hlog, r)
	if err != nil {
		return err
	}
	if err := write(FileHlog, hlog.Bytes()); err != nil {
		return err
	}
	cj, err := json.MarshalIndent(cf, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", FileCounters, err)
	}
	if err := write(FileCounters, append(cj, '\n')); err != nil {
		return err
	}

	for _, name := range SortedKeys(r.Extra) {
		if err := write(name, r.Extra[name]); err != nil {
			return err
		}
	}
	return nil
}

// writeHlog writes the interval log and returns the counters.json content
// that goes with it.
func writeHlog(w io.Writer, r *Result) (*CountersFile, error) {
	cf := &CountersFile{IntervalMs: r.intervalLength().Milliseconds(), Intervals: []CountersInterval{}}
	var base time.Time
	if !r.Summary.Start.IsZero() {
		base = r.Summary.Start
	}
	for _, iv := range r.Intervals {
		if base.IsZero() || iv.Start.Before(base) {
			base = iv.Start
		}
	}
	baseMs := base.UnixMilli()
	if base.IsZero() {
		baseMs = 0
	}
	bw := bufio.NewWriter(w)
	lw := hdrhistogram.NewHistogramLogWriter(bw)
	_ = lw.OutputComment("[Logged with gcload; values in microseconds, Interval_Max in milliseconds]")
	_ = lw.OutputLogFormatVersion()
	fmt.Fprintf(bw, "#[StartTime: %s (seconds since epoch), %s]\n", msSeconds(baseMs), time.UnixMilli(baseMs).UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	fmt.Fprintf(bw, "#[BaseTime: %s (seconds since epoch)]\n", msSeconds(baseMs))
	_ = lw.OutputLegend()
	for _, iv := range r.Intervals {
		ci := CountersInterval{Start: iv.Start, End: iv.End, Ops: []Op{}, Counters: orEmptyMap(iv.Counters), Gauges: orEmptyMap(iv.Gauges)}
		startMs := iv.Start.UnixMilli()
		lenMs := max(iv.End.UnixMilli()-startMs, 0)
		for _, op := range SortedOps(iv.Hists) {
			h := iv.Hists[op]
			if h == nil || h.TotalCount() == 0 {
				continue
			}
			e, err := h.Encode()
			if err != nil {
				return nil, fmt.Errorf("encode %s interval histogram: %w", op, err)
			}
			fmt.Fprintf(bw, "Tag=%s,%s,%s,%.3f,%s\n", op, msSeconds(startMs-baseMs), msSeconds(lenMs), float64(h.Max())/1e3, e)
			ci.Ops = append(ci.Ops, op)
		}
		cf.Intervals = append(cf.Intervals, ci)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("write %s: %w", FileHlog, err)
	}
	return cf, nil
}

// msSeconds renders milliseconds as seconds with exactly 3 decimals.
func msSeconds(ms int64) string {
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Sprintf("%s%d.%03d", sign, ms/1000, ms%1000)
}

// notResultsError is a folder that is not a results folder: it wraps
// ErrBadResults and the error that showed it.
type notResultsError struct {
	dir, why string
	err      error
}

func (e *notResultsError) Error() string { return e.dir + " is not a results folder (" + e.why + ")" }

func (e *notResultsError) Unwrap() []error { return []error{ErrBadResults, e.err} }

// ReadResults reads a results folder written by WriteResults. summary.json
// and histograms.json are required; intervals are rebuilt from run.hlog and
// counters.json (from run.hlog alone if counters.json is missing, then
// without counters or gauges). Files WriteResults does not produce are
// returned in Extra.
func ReadResults(dir string) (*Result, error) {
	read := func(name string) ([]byte, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read results: %w", err)
		}
		return b, nil
	}
	r := &Result{}
	if fi, err := os.Stat(dir); err != nil {
		return nil, &notResultsError{dir: dir, why: "no such folder", err: err}
	} else if !fi.IsDir() {
		return nil, &notResultsError{dir: dir, why: "not a folder"}
	}
	sj, err := read(FileSummary)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &notResultsError{dir: dir, why: "no " + FileSummary, err: err}
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(sj, &r.Summary); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadResults, FileSummary, err)
	}
	if b, err := read(FileScenario); err == nil {
		r.ScenarioYAML = b
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}

	hj, err := read(FileHistograms)
	if err != nil {
		return nil, err
	}
	var encoded map[Op]string
	if err := json.Unmarshal(hj, &encoded); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadResults, FileHistograms, err)
	}
	r.Hists = make(map[Op]*hdrhistogram.Histogram, len(encoded))
	for op, e := range encoded {
		h, err := hdrhistogram.Decode([]byte(e))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %s: %w", ErrBadResults, FileHistograms, op, err)
		}
		r.Hists[op] = h
	}

	var lines []hlogLine
	haveHlog := false
	if b, err := read(FileHlog); err == nil {
		haveHlog = true
		if lines, err = parseHlog(b); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if b, err := read(FileCounters); err == nil {
		var cf CountersFile
		if err := json.Unmarshal(b, &cf); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadResults, FileCounters, err)
		}
		r.IntervalLength = time.Duration(cf.IntervalMs) * time.Millisecond
		if r.Intervals, err = joinIntervals(cf.Intervals, lines, haveHlog); err != nil {
			return nil, err
		}
	} else if errors.Is(err, os.ErrNotExist) {
		r.Intervals = groupIntervals(lines)
	} else {
		return nil, err
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || reserved(e.Name()) {
			continue
		}
		b, err := read(e.Name())
		if err != nil {
			return nil, err
		}
		if r.Extra == nil {
			r.Extra = map[string][]byte{}
		}
		r.Extra[e.Name()] = b
	}
	return r, nil
}

// hlogLine is one interval histogram line of an interval log.
type hlogLine struct {
	tag     Op
	startMs int64 // absolute, ms since the epoch
	lenMs   int64
	h       *hdrhistogram.PackedHistogram
}

// parseHlog reads an HdrHistogram interval log (this package's, Java's or
// hdrhistogram-go's). Timestamps are relative to BaseTime when given;
// otherwise, like HdrHistogram's readers, relative to StartTime when they
// are more than a year before it, absolute if not.
func parseHlog(data []byte) ([]hlogLine, error) {
	bad := func(n int, format string, a ...any) error {
		return fmt.Errorf("%w: %s line %d: %s", ErrBadResults, FileHlog, n, fmt.Sprintf(format, a...))
	}
	var (
		lines             []hlogLine
		startMs, baseMs   int64
		haveStart, haveBs bool
	)
	headerSecs := func(line, prefix string) (int64, bool) {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			return 0, false
		}
		f, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, false
		}
		return int64(math.Round(v * 1000)), true
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case line == "" || strings.HasPrefix(line, `"`):
			continue
		case strings.HasPrefix(line, "#"):
			if v, ok := headerSecs(line, "#[StartTime:"); ok {
				startMs, haveStart = v, true
			} else if v, ok := headerSecs(line, "#[BaseTime:"); ok {
				baseMs, haveBs = v, true
			}
			continue
		}
		var tag string
		if rest, ok := strings.CutPrefix(line, "Tag="); ok {
			t, after, ok := strings.Cut(rest, ",")
			if !ok {
				return nil, bad(n, "tag without data")
			}
			tag, line = t, after
		}
		f := strings.SplitN(line, ",", 4)
		if len(f) != 4 {
			return nil, bad(n, "want start,length,max,histogram")
		}
		st, err1 := strconv.ParseFloat(f[0], 64)
		ln, err2 := strconv.ParseFloat(f[1], 64)
		if err1 != nil || err2 != nil {
			return nil, bad(n, "bad timestamps %q, %q", f[0], f[1])
		}
		h, err := hdrhistogram.DecodePacked([]byte(f[3]))
		if err != nil {
			return nil, fmt.Errorf("%w: %s line %d: %w", ErrBadResults, FileHlog, n, err)
		}
		rel := int64(math.Round(st * 1000))
		if !haveBs {
			if !haveStart {
				startMs, haveStart = rel, true
			}
			if rel < startMs-365*24*3600*1000 {
				baseMs = startMs
			}
			haveBs = true
		}
		lines = append(lines, hlogLine{tag: Op(tag), startMs: baseMs + rel, lenMs: int64(math.Round(ln * 1000)), h: h})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadResults, FileHlog, err)
	}
	return lines, nil
}

// joinIntervals rebuilds intervals from counters.json, taking each
// interval's histograms from the run.hlog lines in order.
func joinIntervals(cis []CountersInterval, lines []hlogLine, haveHlog bool) ([]Interval, error) {
	out := make([]Interval, 0, len(cis))
	next := 0
	for i, ci := range cis {
		iv := Interval{Start: ci.Start, End: ci.End, Counters: ci.Counters, Gauges: ci.Gauges}
		for _, op := range ci.Ops {
			if !haveHlog {
				return nil, fmt.Errorf("%w: %s lists histograms but %s is missing", ErrBadResults, FileCounters, FileHlog)
			}
			if next >= len(lines) {
				return nil, fmt.Errorf("%w: %s has fewer histograms than %s lists", ErrBadResults, FileHlog, FileCounters)
			}
			l := lines[next]
			next++
			if l.tag != op || l.startMs != ci.Start.UnixMilli() {
				return nil, fmt.Errorf("%w: interval %d: %s has %s at %dms, %s lists %s at %dms",
					ErrBadResults, i, FileHlog, l.tag, l.startMs, FileCounters, op, ci.Start.UnixMilli())
			}
			if iv.Hists == nil {
				iv.Hists = map[Op]*hdrhistogram.PackedHistogram{}
			}
			iv.Hists[op] = l.h
		}
		out = append(out, iv)
	}
	if next != len(lines) {
		return nil, fmt.Errorf("%w: %s has %d histograms that %s does not list", ErrBadResults, FileHlog, len(lines)-next, FileCounters)
	}
	return out, nil
}

// groupIntervals builds intervals from interval log lines alone: one
// interval per run of lines with the same start.
func groupIntervals(lines []hlogLine) []Interval {
	var out []Interval
	for i, l := range lines {
		if i == 0 || l.startMs != lines[i-1].startMs {
			out = append(out, Interval{
				Start: time.UnixMilli(l.startMs),
				End:   time.UnixMilli(l.startMs + l.lenMs),
				Hists: map[Op]*hdrhistogram.PackedHistogram{},
			})
		}
		out[len(out)-1].Hists[l.tag] = l.h
	}
	return out
}
