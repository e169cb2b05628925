package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gcload/gcload/deploy/grafana"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/promexp"
)

// freeAddr returns a loopback address with a port free at the time of the
// call.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startPrometheus starts Debian's prometheus on a random loopback port
// with a throw-away storage folder, scraping target every 250 ms, and
// returns its base URL once it is ready and scraping target (Prometheus
// hands new targets to its scrapers a few seconds after it starts). It
// stops with the test.
func startPrometheus(t *testing.T, bin, target string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global:
  scrape_interval: 250ms
  scrape_timeout: 250ms
  evaluation_interval: 1s
scrape_configs:
  - job_name: gcload
    static_configs:
      - targets: [%q]
`, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("prometheus exited: %v\n%s", err, logs.String())
		default:
		}
		if res, err := http.Get(base + "/api/v1/targets?state=active"); err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && bytes.Contains(b, []byte(`"scrapeUrl":"http://`+target+`/metrics"`)) {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not scraping %s after 60 s\n%s", target, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// promSample is one element of an instant query's vector result.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func (s promSample) float(t *testing.T) float64 {
	t.Helper()
	str, _ := s.Value[1].(string)
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		t.Fatalf("sample value %v: %v", s.Value, err)
	}
	return v
}

// promQuery runs an instant query at time at (now when zero) through
// Prometheus's HTTP API and returns the vector, or the API's error.
func promQuery(base, expr string, at time.Time) ([]promSample, error) {
	q := url.Values{"query": {expr}}
	if !at.IsZero() {
		q.Set("time", strconv.FormatFloat(float64(at.UnixNano())/1e9, 'f', 3, 64))
	}
	res, err := http.Get(base + "/api/v1/query?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", b, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", r.Status, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", r.Data.ResultType)
	}
	var v []promSample
	if err := json.Unmarshal(r.Data.Result, &v); err != nil {
		return nil, err
	}
	return v, nil
}

// one runs a query that must return exactly one sample.
func one(t *testing.T, base, expr string, at time.Time) float64 {
	t.Helper()
	v, err := promQuery(base, expr, at)
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	if len(v) != 1 {
		t.Fatalf("%s: %d samples, want 1: %v", expr, len(v), v)
	}
	return v[0].float(t)
}

// bucketAround returns the bounds of the exported latency bucket holding
// v seconds: the largest bound below v (0 if none) and the smallest bound
// at or above it (+Inf if none).
func bucketAround(v float64) (lo, hi float64) {
	hi = math.Inf(1)
	for _, b := range promexp.DefaultBuckets {
		if b < v {
			lo = b
		} else {
			hi = b
			break
		}
	}
	return lo, hi
}

// TestPrometheus: a real Prometheus (Debian's, started here with a
// temporary config and storage) scrapes gcload run --metrics-addr every
// 250 ms during a short smoke run; its HTTP API then gives the run's users
// online, posts, deliveries, fan-out completions and latency quantiles,
// which must agree with summary.json; the fan-out completion count must
// already be above zero in the middle of the run (it is exported as each
// post's fan-out completes); and every query of the Grafana dashboard must
// run on it.
//
// Tolerances: the counters are exact, because the last posts' deliveries
// arrive within milliseconds and the run goes on for a 1.5 s drain (six
// scrapes) and the writing of its results before the exporter stops. A
// quantile Prometheus computes from the exported buckets is interpolated
// inside the bucket that holds the rank, so it must lie in the bucket
// that holds summary.json's value (widened by HdrHistogram's 0.1%
// resolution).
func TestPrometheus(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("no prometheus on the PATH (/usr/bin/prometheus: Debian's prometheus package, which .ci/run installs)")
	}
	metrics := freeAddr(t)
	base := startPrometheus(t, bin, metrics)

	out := filepath.Join(t.TempDir(), "res")
	args := append([]string{"run", "smoke", "--out", out, "--metrics-addr", metrics}, quick...)
	args = append(args, "--set", "phases.steady.duration=4s", "--set", "phases.steady.posts.rate=20/s", "--set", "drain=1500ms")
	r := gcload(t, nil, args...)
	// What is checked is the exposition, not the verdict: a run a busy
	// machine made INVALID (the generator late) exports its metrics too.
	if r.code != 0 && r.code != reports.ExitInvalidRun {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	s := readSummary(t, out)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The scrapes are in: the last one of the run has the final post count.
	for {
		v, err := promQuery(base, `max_over_time(gcload_posts_total{job="gcload"}[5m])`, time.Time{})
		if err == nil && len(v) == 1 && v[0].float(t) == float64(s.Counters[reports.CounterPosts]) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Prometheus never saw the run's %d posts: %v %v", s.Counters[reports.CounterPosts], v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	sel := `{job="gcload"}`
	for _, c := range []struct {
		expr string
		want float64
	}{
		{`max_over_time(gcload_users_online` + sel + `[5m])`, float64(s.Users.PeakOnline)},
		{`max_over_time(gcload_posts_total` + sel + `[5m])`, float64(s.Counters[reports.CounterPosts])},
		{`max_over_time(gcload_deliveries_total` + sel + `[5m])`, float64(s.Counters[reports.CounterDeliveries])},
		{`max_over_time(gcload_operations_total{job="gcload",op="post_ack"}[5m])`, float64(s.Ops[reports.OpPostAck].Count)},
		{`max_over_time(gcload_operations_total{job="gcload",op="post_to_last_delivery"}[5m])`, float64(s.Ops[reports.OpPostToLastDelivery].Count)},
	} {
		if got := one(t, base, c.expr, time.Time{}); got != c.want {
			t.Errorf("%s = %v, summary.json says %v", c.expr, got, c.want)
		}
	}
	if s.Counters[reports.CounterPosts] < 40 || s.Users.PeakOnline != 12 {
		t.Fatalf("the run posted %d times with %d users online: too little to check", s.Counters[reports.CounterPosts], s.Users.PeakOnline)
	}

	for _, c := range []struct {
		op reports.Op
		q  float64
		us int64
	}{
		{reports.OpPostToDelivery, 0.99, s.Ops[reports.OpPostToDelivery].P99},
		{reports.OpPostAck, 0.5, s.Ops[reports.OpPostAck].P50},
		{reports.OpPostToLastDelivery, 0.5, s.Ops[reports.OpPostToLastDelivery].P50},
	} {
		// each bucket is a counter that only grows: its largest sample is
		// the run's final count, read like the counters above (with
		// last_over_time, CI's loaded machine once gave p99 11.3 ms against
		// summary.json's 7.1 ms while every counter agreed)
		expr := fmt.Sprintf(`histogram_quantile(%g, max_over_time(gcload_operation_latency_seconds_bucket{job="gcload",op=%q}[5m]))`, c.q, c.op)
		got := one(t, base, expr, time.Time{})
		want := float64(c.us) / 1e6
		lo, hi := bucketAround(want)
		if got < lo/1.001 || got > hi*1.001 {
			t.Errorf("%s = %gs; summary.json says %gs, in the bucket (%g, %g]", expr, got, want, lo, hi)
		} else {
			t.Logf("%s quantile %g: Prometheus %.4gs, summary.json %.4gs (bucket %g-%g s)", c.op, c.q, got, want, lo, hi)
		}
	}

	// In the middle of the steady phase the fan-out completions are
	// already there, and fewer than at the end.
	mid := s.Start.Add(2500 * time.Millisecond)
	if n := one(t, base, `gcload_operations_total{job="gcload",op="post_to_last_delivery"}`, mid); n <= 0 || n >= float64(s.Ops[reports.OpPostToLastDelivery].Count) {
		t.Errorf("fan-out completions at %s into the run: %v of %d; they must be exported as they complete", mid.Sub(s.Start), n, s.Ops[reports.OpPostToLastDelivery].Count)
	}

	// Every query of the Grafana dashboard runs on a real Prometheus and,
	// in the middle of the run, returns data (violations excepted: a
	// clean run has none, and their series appear with the first).
	qs, err := grafana.Queries(nil)
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"job": "gcload", "instance": ".*", "op": ".*", "__rate_interval": "2s"}
	for _, q := range qs {
		expr, err := grafana.Expand(q.Expr, vars)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
			continue
		}
		v, err := promQuery(base, expr, mid)
		switch {
		case err != nil:
			t.Errorf("%s: %q: %v", q.Where, expr, err)
		case len(v) == 0 && !strings.Contains(expr, "gcload_violations_total"):
			t.Errorf("%s: %q returned no data in the middle of the run", q.Where, expr)
		}
	}
}
