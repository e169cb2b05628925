package reports

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run go test -update to accept):\n%s", name, path, got)
	}
}

func textSummary() *Summary {
	s, hists := evalSummary()
	s.Scenario, s.Shard, s.Target = "peak", "1/1", "embedded"
	s.Start, s.End = t0, sec(10)
	s.Users = Users{Planned: 60000, SignedIn: 59990, Failed: 10, PeakOnline: 59990}
	s.Delivery = Delivery{Posts: 400, Expected: 400000, Received: 399990, Lost: 10, Duplicated: 1, OutOfOrder: 2, Spoofed: 0, Extra: 5}
	s.Counters[CounterRejectedPosts] = 1
	s.Generator = Generator{CPUSeconds: 12.3, CPUUtilization: 0.615, SchedLagP99: 120, GoSchedP99: 45, GCPauseTotal: 0.12,
		GCPauseMax: 0.0031, HeapPeakBytes: 512 << 20, Valid: true, EmbeddedServer: true, GOMAXPROCS: 2}
	s.Counters[CounterSessionsLost] = 3
	s.Rooms = []RoomDelivery{{Room: "a", Delivery: Delivery{Posts: 1, Expected: 10, Received: 10}}, {Room: "b", Delivery: Delivery{Posts: 1, Expected: 10, Received: 9, Lost: 1}}, {Room: "c"}}
	s.Rules = []RuleStatus{{Rule: "envelope/namespace", Checks: 10, Status: RulePass}, {Rule: "flow/cancel-487", Status: NotExercised}, {Rule: "fanout/order", Checks: 9, Violations: 2, Status: RuleFail}}
	s.Errors = []ErrorKind{{Op: "register", Cause: "connection refused", Count: 1200, First: "dial tcp 127.0.0.1:9: connect: connection refused", FirstAt: 0.25}, {Op: "post", Cause: "timeout", Count: 3, First: "INFO after 30s", FirstAt: 61}}
	s.Phases = []PhaseSummary{
		{Name: "signin", StartS: 0, Seconds: 2, Rates: map[string]float64{"signin": 25}, Intervals: 2, IntervalSeconds: 2,
			Ops:      map[Op]OpSummary{OpSignIn: {Count: 50, Rate: 25, Min: 900, Mean: 1500, P50: 1400, P90: 2100, P99: 3050, P999: 3050, Max: 3050}, OpSignInService: {Count: 50}},
			Counters: map[string]int64{"sip.200": 150, CounterErrors: 2, "errors.register": 2}},
		{Name: "warmup", StartS: 2, Seconds: 0.4, Rates: map[string]float64{}, Ops: map[Op]OpSummary{}},
		{Name: "steady", StartS: 2.4, Seconds: 7.6, Rates: map[string]float64{"post_ack": 40, "deliveries": 40000}, Intervals: 8, IntervalSeconds: 8,
			Ops:      map[Op]OpSummary{OpPostAck: {Count: 100, Rate: 12.5, Min: 1000, Mean: 50500, P50: 50020, P90: 90050, P99: 99010, P999: 100030, Max: 100030}},
			Counters: map[string]int64{CounterPosts: 100, CounterDeliveries: 399990}},
		{Name: DrainPhase, Drain: true, StartS: 10, Seconds: 0.5, Rates: map[string]float64{}, Intervals: 1, IntervalSeconds: 1, Ops: map[Op]OpSummary{}, Counters: map[string]int64{}},
	}
	for _, expr := range []string{"post_ack.p99 < 500ms", "lost == 0", "lost_ratio < 0.1%"} {
		th, err := ParseThreshold(expr)
		if err != nil {
			panic(err)
		}
		s.Thresholds = append(s.Thresholds, th.Eval(s, hists))
	}
	return s
}

func TestWriteText(t *testing.T) {
	tests := []struct {
		name   string
		adjust func(*Summary)
	}{
		{"text_fail", func(*Summary) {}},
		{"text_invalid", func(s *Summary) {
			s.Generator.Valid = false
			s.Generator.InvalidReasons = []string{"generator CPU 97% of 2 cores"}
			s.Counters[CounterViolations] = 3
			s.Counters["violations.info/200-empty"] = 2
			s.Counters["violations.reply/commandid-envid"] = 1
		}},
		{"text_empty", func(s *Summary) { *s = Summary{} }},
		// a summary.json written before the per-phase latencies
		{"text_old_phases", func(s *Summary) {
			s.Phases = []PhaseSummary{{Name: "signin", StartS: 0, Seconds: 2, Rates: map[string]float64{"signin": 25}}, {Name: "steady", StartS: 2, Seconds: 8, Rates: map[string]float64{"post_ack": 40, "deliveries": 40000}}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := textSummary()
			tc.adjust(s)
			var b bytes.Buffer
			if err := WriteText(&b, s); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
		})
	}
}
