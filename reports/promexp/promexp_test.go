package promexp

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gcload/gcload/reports"
)

// series is one parsed sample.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

// key renders a series' name and labels canonically.
func (s series) key() string { return seriesKey(s.name, s.labels) }

func seriesKey(name string, labels map[string]string) string {
	ks := make([]string, 0, len(labels))
	for k := range labels {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	var b strings.Builder
	b.WriteString(name)
	for _, k := range ks {
		fmt.Fprintf(&b, ",%s=%q", k, labels[k])
	}
	return b.String()
}

// exposition is a parsed scrape.
type exposition struct {
	types   map[string]string // family -> type
	helps   map[string]string
	samples []series
	byKey   map[string]float64
}

func (e *exposition) get(t *testing.T, name string, kv ...string) float64 {
	t.Helper()
	labels := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		labels[kv[i]] = kv[i+1]
	}
	v, ok := e.byKey[seriesKey(name, labels)]
	if !ok {
		t.Fatalf("no series %s", seriesKey(name, labels))
	}
	return v
}

func (e *exposition) has(name string, kv ...string) bool {
	labels := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		labels[kv[i]] = kv[i+1]
	}
	_, ok := e.byKey[seriesKey(name, labels)]
	return ok
}

// parse parses a scrape with the Prometheus project's own text-format
// parser (expfmt), then checks what the format leaves to the exporter:
// every family has HELP, counters are not negative, and histograms have
// cumulative, monotone buckets ending with +Inf equal to _count.
func parse(t *testing.T, text string) *exposition {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, text)
	}
	e := &exposition{types: map[string]string{}, helps: map[string]string{}, byKey: map[string]float64{}}
	add := func(name string, labels map[string]string, v float64) {
		s := series{name: name, labels: labels, value: v}
		if _, dup := e.byKey[s.key()]; dup {
			t.Fatalf("series %s repeated", s.key())
		}
		e.byKey[s.key()] = v
		e.samples = append(e.samples, s)
	}
	names := make([]string, 0, len(fams))
	for name := range fams {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		mf := fams[name]
		typ := strings.ToLower(mf.GetType().String())
		e.types[name], e.helps[name] = typ, mf.GetHelp()
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				v := m.GetCounter().GetValue()
				if v < 0 || math.IsNaN(v) {
					t.Fatalf("%s: negative counter %v", name, v)
				}
				add(name, labels, v)
			case dto.MetricType_GAUGE:
				add(name, labels, m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(name, labels, m.GetUntyped().GetValue())
			case dto.MetricType_HISTOGRAM:
				h := m.GetHistogram()
				for _, b := range h.GetBucket() {
					bl := maps.Clone(labels)
					bl["le"] = strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)
					if math.IsInf(b.GetUpperBound(), 1) {
						bl["le"] = "+Inf"
					}
					add(name+"_bucket", bl, float64(b.GetCumulativeCount()))
				}
				add(name+"_sum", labels, h.GetSampleSum())
				add(name+"_count", labels, float64(h.GetSampleCount()))
			default:
				t.Fatalf("%s: unexpected type %s", name, typ)
			}
		}
	}
	for fam, typ := range e.types {
		if e.helps[fam] == "" {
			t.Errorf("%s has no HELP", fam)
		}
		if typ == "histogram" {
			checkHistogram(t, e, fam)
		}
	}
	return e
}

// checkHistogram checks every series of a histogram family.
func checkHistogram(t *testing.T, e *exposition, fam string) {
	t.Helper()
	type hist struct {
		les  []float64
		cums []float64
	}
	hs := map[string]*hist{}
	for _, s := range e.samples {
		if s.name != fam+"_bucket" {
			continue
		}
		le, ok := s.labels["le"]
		if !ok {
			t.Fatalf("%s without le", s.key())
		}
		rest := map[string]string{}
		for k, v := range s.labels {
			if k != "le" {
				rest[k] = v
			}
		}
		k := seriesKey(fam, rest)
		if hs[k] == nil {
			hs[k] = &hist{}
		}
		b, err := strconv.ParseFloat(le, 64)
		if le == "+Inf" {
			b, err = math.Inf(1), nil
		}
		if err != nil {
			t.Fatalf("le %q", le)
		}
		hs[k].les = append(hs[k].les, b)
		hs[k].cums = append(hs[k].cums, s.value)
	}
	if len(hs) == 0 {
		t.Fatalf("histogram %s has no buckets", fam)
	}
	for k, h := range hs {
		for i := 1; i < len(h.les); i++ {
			if h.les[i] <= h.les[i-1] {
				t.Fatalf("%s: le not ascending: %v", k, h.les)
			}
			if h.cums[i] < h.cums[i-1] {
				t.Fatalf("%s: buckets not cumulative: %v", k, h.cums)
			}
		}
		if !math.IsInf(h.les[len(h.les)-1], 1) {
			t.Fatalf("%s: no +Inf bucket", k)
		}
		labels := map[string]string{}
		for _, s := range e.samples {
			if s.name == fam+"_bucket" && seriesKey(fam, without(s.labels, "le")) == k {
				labels = without(s.labels, "le")
				break
			}
		}
		count, ok := e.byKey[seriesKey(fam+"_count", labels)]
		if !ok {
			t.Fatalf("%s: no _count", k)
		}
		if _, ok := e.byKey[seriesKey(fam+"_sum", labels)]; !ok {
			t.Fatalf("%s: no _sum", k)
		}
		if inf := h.cums[len(h.cums)-1]; inf != count {
			t.Fatalf("%s: +Inf bucket %v != _count %v", k, inf, count)
		}
	}
}

func without(m map[string]string, drop string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if k != drop {
			out[k] = v
		}
	}
	return out
}

func scrape(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, ContentType) {
		t.Fatalf("Content-Type %q", ct)
	}
	return string(body)
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv, addr, err := Serve("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + addr.String()
}

const weirdRule = "odd \"rule\" \\ with\nnewline"

func TestMetrics(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := reports.NewRecorder(start, time.Second)
	rec.Add(reports.CounterPosts, 7)
	for range 100 {
		rec.Record(reports.OpPostAck, 300*time.Microsecond)
	}
	for range 50 {
		rec.Record(reports.OpPostAck, 3*time.Millisecond)
	}
	for range 10 {
		rec.Record(reports.OpPostAck, 200*time.Millisecond)
	}
	rec.Record(reports.OpPostAck, 90*time.Second) // above the last bound
	for range 5 {
		rec.Record(reports.OpJoin, 25*time.Millisecond) // exactly on a bound
	}
	rec.Record("custom_op", time.Millisecond)
	rec.Tick(start.Add(time.Second))
	rec.Add(reports.CounterErrors, 3)
	rec.Add("sip.200", 10)
	rec.Add("sip.503", 2)
	rec.Add("violations.info/200-empty", 1)
	rec.Add("violations."+weirdRule, 4)
	rec.Add("lost", 4)
	rec.Add("room.123", 9) // a dotted name outside the families: not exported

	h := NewHandler(rec, Options{
		Gauges: func() Gauges { return Gauges{UsersOnline: 42, Rooms: 3, CPUUtilization: 0.25} },
		Now:    func() time.Time { return start.Add(1500 * time.Millisecond) },
	})
	base := serve(t, h)
	text := scrape(t, base+"/metrics")
	e := parse(t, text)
	if testing.Verbose() {
		t.Log("\n" + text)
	}

	if got := e.get(t, "gcload_operations_total", "op", "post_ack"); got != 161 {
		t.Errorf("post_ack count %v", got)
	}
	want := map[string]float64{
		"0.0005": 100, "0.001": 100, "0.0025": 100, "0.005": 150, "0.01": 150,
		"0.1": 150, "0.25": 160, "1": 160, "60": 160, "+Inf": 161,
	}
	for le, n := range want {
		if got := e.get(t, "gcload_operation_latency_seconds_bucket", "op", "post_ack", "le", le); got != n {
			t.Errorf("post_ack le=%s: %v, want %v", le, got, n)
		}
	}
	if got := e.get(t, "gcload_operation_latency_seconds_count", "op", "post_ack"); got != 161 {
		t.Errorf("_count %v", got)
	}
	if got, w := e.get(t, "gcload_operation_latency_seconds_sum", "op", "post_ack"), 100*0.0003+50*0.003+10*0.2+90; math.Abs(got-w) > w*1e-3 {
		t.Errorf("_sum %v, want %v", got, w)
	}
	if a, b := e.get(t, "gcload_operation_latency_seconds_bucket", "op", "join", "le", "0.01"), e.get(t, "gcload_operation_latency_seconds_bucket", "op", "join", "le", "0.025"); a != 0 || b != 5 {
		t.Errorf("join on the 25ms bound: le=0.01 %v, le=0.025 %v", a, b)
	}
	if got := e.get(t, "gcload_operations_total", "op", "custom_op"); got != 1 {
		t.Errorf("custom_op %v", got)
	}
	// the known operations are there from the start, at zero
	if got := e.get(t, "gcload_operation_latency_seconds_count", "op", "search"); got != 0 {
		t.Errorf("search %v", got)
	}

	for name, v := range map[string]float64{
		"gcload_errors_total": 3, "gcload_posts_total": 7, "gcload_timeouts_total": 0,
		"gcload_clamped_total": 0, "gcload_lost_total": 4,
		"gcload_users_online": 42, "gcload_rooms": 3, "gcload_generator_cpu_utilization": 0.25,
		"gcload_elapsed_seconds": 1.5, "gcload_interval_posts_per_second": 7,
	} {
		if got := e.get(t, name); got != v {
			t.Errorf("%s = %v, want %v", name, got, v)
		}
	}
	if e.types["gcload_errors_total"] != "counter" || e.types["gcload_users_online"] != "gauge" || e.types["gcload_operation_latency_seconds"] != "histogram" {
		t.Errorf("types %v", e.types)
	}
	if got := e.get(t, "gcload_interval_post_to_delivery_p99_seconds"); got != 0 {
		t.Errorf("p99 %v", got)
	}
	if got := e.get(t, "gcload_sip_responses_total", "code", "503"); got != 2 {
		t.Errorf("sip 503 %v", got)
	}
	if got := e.get(t, "gcload_violations_total", "rule", "info/200-empty"); got != 1 {
		t.Errorf("violations %v", got)
	}
	if got := e.get(t, "gcload_violations_total", "rule", weirdRule); got != 4 {
		t.Errorf("escaped rule %v", got)
	}
	if strings.Contains(text, "room") && strings.Contains(text, "123") {
		t.Errorf("room.123 exported")
	}
	for _, s := range e.samples {
		for k := range s.labels {
			if k != "op" && k != "rule" && k != "code" && k != "le" {
				t.Errorf("label %s on %s", k, s.name)
			}
		}
	}

	// HEAD, other methods, other paths
	resp, err := http.Head(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("HEAD: %s", resp.Status)
	}
	resp, err = http.Post(base+"/metrics", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}
	resp, err = http.Get(base + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nothing: %s", resp.Status)
	}
}

// Label sets are capped; the values beyond the cap add into _other, and
// the values admitted first keep their series.
func TestCardinalityCap(t *testing.T) {
	rec := reports.NewRecorder(time.Now(), time.Second)
	for _, r := range []string{"b", "c", "d", "e", "f"} {
		rec.Add("violations."+r, 1)
	}
	for code := 100; code < 400; code++ {
		rec.Add(fmt.Sprintf("sip.%d", code), 1)
	}
	h := NewHandler(rec, Options{MaxLabelValues: 3})
	var sb strings.Builder
	if _, err := h.WriteTo(&sb); err != nil {
		t.Fatal(err)
	}
	e := parse(t, sb.String())
	for r, v := range map[string]float64{"b": 1, "c": 1, "d": 1, OtherLabel: 2} {
		if got := e.get(t, "gcload_violations_total", "rule", r); got != v {
			t.Errorf("rule %s: %v, want %v", r, got, v)
		}
	}
	if got := e.get(t, "gcload_sip_responses_total", "code", OtherLabel); got != 297 {
		t.Errorf("sip _other %v", got)
	}
	// A new value sorting first does not displace the admitted ones.
	rec.Add("violations.a", 5)
	sb.Reset()
	if _, err := h.WriteTo(&sb); err != nil {
		t.Fatal(err)
	}
	e = parse(t, sb.String())
	if e.has("gcload_violations_total", "rule", "a") || !e.has("gcload_violations_total", "rule", "b") {
		t.Errorf("the admitted set changed")
	}
	if got := e.get(t, "gcload_violations_total", "rule", OtherLabel); got != 7 {
		t.Errorf("_other %v, want 7", got)
	}
	n := 0
	for _, s := range e.samples {
		if s.name == "gcload_sip_responses_total" {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d sip series, want 3 and _other", n)
	}
}

// Recording, counting and ticking while scraping: every scrape parses, and
// counters never go down between scrapes. Run with -race.
func TestConcurrentScrape(t *testing.T) {
	start := time.Now()
	rec := reports.NewRecorder(start, 10*time.Millisecond)
	var online atomic.Int64
	h := NewHandler(rec, Options{Gauges: func() Gauges { return Gauges{UsersOnline: int(online.Load()), Rooms: 2} }})
	base := serve(t, h)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				rec.Record(reports.OpPostAck, time.Duration(100+i%5000)*time.Microsecond)
				rec.Record(reports.Op(fmt.Sprintf("op%d", g)), time.Millisecond)
				rec.Add(reports.CounterPosts, 1)
				rec.Add(fmt.Sprintf("sip.%d", 200+i%7), 1)
				rec.Add(fmt.Sprintf("violations.r%d", i%300), 1)
				online.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(5 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tk.C:
				rec.Tick(now)
			}
		}
	}()

	last := map[string]float64{}
	deadline := time.Now().Add(500 * time.Millisecond)
	scrapes := 0
	for time.Now().Before(deadline) || scrapes < 5 {
		e := parse(t, scrape(t, base+"/metrics"))
		scrapes++
		for _, s := range e.samples {
			fam := s.name
			if e.types[fam] != "counter" && !strings.HasPrefix(fam, "gcload_operation_latency_seconds") {
				continue
			}
			if prev, ok := last[s.key()]; ok && s.value < prev {
				t.Fatalf("%s went down: %v -> %v", s.key(), prev, s.value)
			}
			last[s.key()] = s.value
		}
		if got := e.get(t, "gcload_operations_total", "op", "post_ack"); got != e.get(t, "gcload_operation_latency_seconds_count", "op", "post_ack") {
			t.Fatalf("operations_total and _count disagree")
		}
	}
	close(stop)
	wg.Wait()
	if last[seriesKey("gcload_posts_total", map[string]string{})] == 0 {
		t.Errorf("no posts seen in %d scrapes", scrapes)
	}
	t.Logf("%d scrapes", scrapes)
}

func TestServeBadAddress(t *testing.T) {
	if _, _, err := Serve("256.0.0.1:bad", http.NotFoundHandler()); err == nil {
		t.Error("bad address accepted")
	}
}

func TestBadBuckets(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("descending buckets accepted")
		}
	}()
	NewHandler(reports.NewRecorder(time.Now(), time.Second), Options{Buckets: []float64{1, 0.5}})
}
