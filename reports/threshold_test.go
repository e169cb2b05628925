package reports

import (
	"errors"
	"testing"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in   string
		want Threshold
	}{
		{"post_to_last_delivery.p99 < 500ms", Threshold{"post_to_last_delivery.p99 < 500ms", "post_to_last_delivery", "p99", "<", 500_000}},
		{"  post_ack.p99.9<=1.5s ", Threshold{"post_ack.p99.9<=1.5s", "post_ack", "p99.9", "<=", 1_500_000}},
		{"signin.p99.99 < 2m", Threshold{"signin.p99.99 < 2m", "signin", "p99.99", "<", 120_000_000}},
		{"join.max >= 250us", Threshold{"join.max >= 250us", "join", "max", ">=", 250}},
		{"join.mean > 250 µs", Threshold{"join.mean > 250 µs", "join", "mean", ">", 250}},
		{"history.min != 1e3us", Threshold{"history.min != 1e3us", "history", "min", "!=", 1000}},
		{"post_ack.count >= 1000", Threshold{"post_ack.count >= 1000", "post_ack", "count", ">=", 1000}},
		{"post_ack.rate >= 40", Threshold{"post_ack.rate >= 40", "post_ack", "rate", ">=", 40}},
		{"lost == 0", Threshold{"lost == 0", "lost", "", "==", 0}},
		{"lost_ratio < 0.1%", Threshold{"lost_ratio < 0.1%", "lost_ratio", "", "<", 0.001}},
		{"signed_in_ratio >= 0.99", Threshold{"signed_in_ratio >= 0.99", "signed_in_ratio", "", ">=", 0.99}},
		{"sip.503 == 0", Threshold{"sip.503 == 0", "sip.503", "", "==", 0}},
		{"violations.info/200-empty == 0", Threshold{"violations.info/200-empty == 0", "violations.info/200-empty", "", "==", 0}},
		{"errors.rate < 1.5", Threshold{"errors.rate < 1.5", "errors", "rate", "<", 1.5}},
		{"deliveries.count > 0", Threshold{"deliveries.count > 0", "deliveries", "count", ">", 0}},
		{"no_such_metric < 3", Threshold{"no_such_metric < 3", "no_such_metric", "", "<", 3}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseThreshold(tc.in)
			if err != nil {
				t.Fatalf("ParseThreshold(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseThreshold(%q) = %+v\nwant %+v", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseThresholdInvalid(t *testing.T) {
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"no operator", "post_ack.p99"},
		{"no value", "post_ack.p99 <"},
		{"no metric", "< 500ms"},
		{"single equals", "post_ack.p99 = 500ms"},
		{"reversed operator", "post_ack.p99 => 500ms"},
		{"latency without statistic", "post_ack < 500ms"},
		{"unknown statistic", "post_ack.p95 < 500ms"},
		{"latency without unit", "post_ack.p99 < 500"},
		{"unknown unit", "post_ack.p99 < 500xs"},
		{"not a number", "post_ack.p99 < fast"},
		{"NaN", "post_ack.p99 < NaN"},
		{"overflow", "post_ack.p99 < 1e999ms"},
		{"trailing words", "post_ack.p99 < 500ms please"},
		{"dangling exponent", "post_ack.p99 < 1e"},
		{"duration on a count", "lost < 5ms"},
		{"percent on a counter", "errors < 1%"},
		{"statistic on a ratio", "lost_ratio.p99 < 1%"},
		{"percentile on a counter", "errors.p99 < 3"},
		{"duration on a latency count", "post_ack.count > 1s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseThreshold(tc.in)
			if err == nil {
				t.Fatalf("ParseThreshold(%q) = %+v, want an error", tc.in, got)
			}
			if !errors.Is(err, ErrBadThreshold) {
				t.Errorf("error %v does not wrap ErrBadThreshold", err)
			}
		})
	}
}

func TestCheckMetric(t *testing.T) {
	tests := []struct {
		metric string
		want   error
	}{
		{"post_ack.p99", nil},
		{"upload.p99", ErrUnknownMetric},
		{"post_to_delivery.p99.99", nil},
		{"lost", nil},
		{"lost.count", nil},
		{"lost_ratio", nil},
		{"sip.503", nil},
		{"violations.info/200-empty", nil},
		{"dropped_sends.rate", nil},
		{"clamped", nil},
		{"foo", ErrUnknownMetric},
		{"sip.", ErrUnknownMetric},
		{"post_ack", ErrBadThreshold},
		{"post_ack.p95", ErrBadThreshold},
		{"lost_ratio.max", ErrBadThreshold},
	}
	for _, tc := range tests {
		t.Run(tc.metric, func(t *testing.T) {
			err := CheckMetric(tc.metric)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("CheckMetric(%q) = %v, want %v", tc.metric, err, tc.want)
			}
		})
	}
}

// evalSummary has post_ack latencies of 1..100 ms and some counters.
func evalSummary() (*Summary, map[Op]*hdrhistogram.Histogram) {
	h := NewHistogram()
	for i := int64(1); i <= 100; i++ {
		_ = h.RecordValue(i * 1000)
	}
	hists := map[Op]*hdrhistogram.Histogram{OpPostAck: h}
	s := &Summary{
		Seconds:  10,
		Users:    Users{Planned: 100, SignedIn: 98},
		Counters: map[string]int64{CounterErrors: 3, "sip.503": 2, "custom": 7},
		Delivery: Delivery{Posts: 100, Expected: 10000, Received: 9990, Lost: 10},
	}
	s.RecomputeOps(hists)
	return s, hists
}

func TestThresholdEval(t *testing.T) {
	s, hists := evalSummary()
	tests := []struct {
		expr   string
		noHist bool
		pass   bool
		actual float64
		detail string
	}{
		{"post_ack.p99 < 100ms", false, true, 99007, "p99 99.01ms < 100ms"},
		{"post_ack.p99 < 50ms", false, false, 99007, "p99 99.01ms, want < 50ms"},
		{"post_ack.p50 <= 50.1ms", false, true, 50015, "p50 50.02ms <= 50.1ms"},
		{"post_ack.p99.99 < 1s", false, true, 100031, "p99.99 100ms < 1s"},
		{"post_ack.p99.99 < 1s", true, false, 0, "p99.99 needs the post_ack histogram"},
		{"post_ack.p99 < 100ms", true, true, 99007, "p99 99.01ms < 100ms"},
		{"post_ack.max < 100ms", false, false, 100031, "max 100ms, want < 100ms"},
		{"post_ack.count == 100", false, true, 100, "count 100 == 100"},
		{"post_ack.rate >= 10", false, true, 10, "rate 10/s >= 10/s"},
		{"history.p99 < 1s", false, false, 0, "no history samples"},
		{"history.count == 0", false, true, 0, "count 0 == 0"},
		{"lost == 0", false, false, 10, "lost 10, want == 0"},
		{"lost_ratio < 0.1%", false, false, 0.001, "lost_ratio 0.1%, want < 0.1%"},
		{"lost_ratio <= 0.1%", false, true, 0.001, "lost_ratio 0.1% <= 0.1%"},
		{"lost_ratio < 0.2%", false, true, 0.001, "lost_ratio 0.1% < 0.2%"},
		{"signed_in_ratio >= 0.99", false, false, 0.98, "signed_in_ratio 98%, want >= 99%"},
		{"errors == 0", false, false, 3, "errors 3, want == 0"},
		{"errors.rate < 1", false, true, 0.3, "errors.rate 0.3/s < 1/s"},
		{"sip.503 <= 2", false, true, 2, "sip.503 2 <= 2"},
		{"sip.408 == 0", false, true, 0, "sip.408 0 == 0"},
		{"timeouts == 0", false, true, 0, "timeouts 0 == 0"},
		{"custom > 5", false, true, 7, "custom 7 > 5"},
		{"no_such_metric < 3", false, false, 0, "unknown metric no_such_metric"},
	}
	for _, tc := range tests {
		name := tc.expr
		if tc.noHist {
			name += " without histograms"
		}
		t.Run(name, func(t *testing.T) {
			th, err := ParseThreshold(tc.expr)
			if err != nil {
				t.Fatal(err)
			}
			h := hists
			if tc.noHist {
				h = nil
			}
			got := th.Eval(s, h)
			if got.Pass != tc.pass || got.Actual != tc.actual || (tc.detail != "" && got.Detail != tc.detail) {
				t.Errorf("Eval = %+v\nwant pass %v, actual %v, detail %q", got, tc.pass, tc.actual, tc.detail)
			}
			if got.Expr != tc.expr || got.Metric != th.Name() {
				t.Errorf("Eval expr %q metric %q, want %q %q", got.Expr, got.Metric, tc.expr, th.Name())
			}
		})
	}
}

func TestFormatMicros(t *testing.T) {
	tests := map[float64]string{0: "0µs", 850: "850µs", 412_345: "412.3ms", 500_000: "500ms", 1_500_000: "1.5s", 150e6: "2.5m", 12.5: "12.5µs"}
	for in, want := range tests {
		if got := FormatMicros(in); got != want {
			t.Errorf("FormatMicros(%v) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseThreshold(f *testing.F) {
	for _, s := range []string{"post_to_last_delivery.p99 < 500ms", "lost == 0", "lost_ratio < 0.1%", "sip.503!=0",
		"post_ack.p99.99 >= 1e3µs", "errors.rate < 1.5", "post_ack < 1s", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		th, err := ParseThreshold(s)
		if err != nil {
			return
		}
		again, err := ParseThreshold(th.Raw)
		if err != nil || again != th {
			t.Errorf("ParseThreshold(%q) = %+v, reparsing its Raw gives %+v, %v", s, th, again, err)
		}
		sum, hists := evalSummary()
		_ = th.Eval(sum, hists)
	})
}
