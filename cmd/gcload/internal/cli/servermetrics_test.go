package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/servermetrics/nodeexportertest"
)

// TestServerMetrics: gcload run --server-metrics with a node_exporter
// started by the test measures the server from its host's metrics:
// measurement.json says so, has the host's CPU over the window (this
// machine runs the server, so it is busy), its CPUs as the server's
// cores, and the metrics in every sample; a URL that answers nothing
// useful is bad input.
func TestServerMetrics(t *testing.T) {
	url := nodeexportertest.Start(t)
	r, out := runAgainstServe(t, nil, "--server-metrics", url, "--interval", "250ms")
	if r.code != 0 && r.code != reports.ExitThresholds {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	b, err := os.ReadFile(filepath.Join(out, "measurement.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Server  string   `json:"server"`
		CPU     float64  `json:"server_cpu_seconds"`
		Wall    float64  `json:"wall_seconds"`
		Cores   int      `json:"cores"`
		Notes   []string `json:"notes"`
		Metrics *struct {
			Node       bool    `json:"node"`
			HostCPU    float64 `json:"host_cpu_seconds"`
			DiskWrites float64 `json:"disk_writes"`
		} `json:"server_metrics"`
		Samples []struct {
			Metrics *struct {
				Node bool `json:"node"`
			} `json:"server_metrics"`
		} `json:"samples"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Server != "metrics" || m.Metrics == nil || !m.Metrics.Node || m.CPU <= 0 || math.Abs(m.CPU-m.Metrics.HostCPU) > 1e-9 || m.Wall <= 0 || m.Cores != runtime.NumCPU() || len(m.Samples) < 4 {
		t.Fatalf("measurement.json: %s", b[:min(len(b), 1500)])
	}
	for i, s := range m.Samples {
		if s.Metrics == nil || !s.Metrics.Node {
			t.Errorf("sample %d has no host metrics", i)
		}
	}
	t.Logf("host busy %.2f CPU-s over %.2f s; notes %q", m.CPU, m.Wall, m.Notes)
	if r := gcload(t, nil, append([]string{"run", "smoke", "--server-metrics", "http://127.0.0.1:1/metrics"}, quick...)...); r.code != reports.ExitBadInput {
		t.Errorf("an exposition that is not there: exit %d, want bad input", r.code)
	}
}
