package servermetrics

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/gcload/gcload/servermetrics/nodeexportertest"
)

func nodeExporter(t *testing.T) string { return nodeexportertest.Start(t) }

// selfCPU is this process's CPU time.
func selfCPU(t *testing.T) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// spin keeps one core busy for d.
func spin(d time.Duration) {
	end := time.Now().Add(d)
	x := 0
	for time.Now().Before(end) {
		x++
	}
	_ = x
}

// TestNodeExporter reads a real node_exporter around a known load made by
// the test: a core kept busy for a second and 32 MiB written and synced.
// The host's busy CPU covers at least what this process used, the disk
// writes at least what was written, the exporter's own process metrics
// are not taken for the server's, and the CPU count and memory are the
// machine's.
func TestNodeExporter(t *testing.T) {
	url := nodeExporter(t)
	r, err := New(Options{URLs: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c0 := selfCPU(t)
	spin(time.Second)
	const size = 32 << 20
	f, err := os.Create(filepath.Join(t.TempDir(), "load"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for range size / len(buf) {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	used := selfCPU(t) - c0
	b, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	u := Between(a, b)
	t.Logf("window %.2f s: host busy %.2f CPU-s (this process %.2f), by mode %v; disk %.1f MiB in %.0f writes, %.0f flushes; memory used %.1f MiB of %.0f MiB",
		u.Seconds, u.HostCPUSeconds, used, u.HostCPUByMode, u.DiskWrittenBytes/(1<<20), u.DiskWrites, u.DiskFlushes, u.MemUsedBytes/(1<<20), u.MemTotalBytes/(1<<20))
	if !u.Node || u.Process {
		t.Fatalf("node %v, process %v: the exporter's own process metrics must not count as the server's", u.Node, u.Process)
	}
	if used < 0.5 {
		t.Fatalf("the load used only %.2f CPU-s", used)
	}
	if u.HostCPUSeconds < 0.9*used || u.HostCPUSeconds > u.Seconds*float64(u.CPUs)*1.05 {
		t.Errorf("host busy %.2f CPU-s over %.2f s on %d CPUs; this process alone used %.2f", u.HostCPUSeconds, u.Seconds, u.CPUs, used)
	}
	if u.CPUs != runtime.NumCPU() {
		t.Errorf("%d CPUs, this machine has %d", u.CPUs, runtime.NumCPU())
	}
	if u.DiskWrittenBytes < 0.95*size || u.DiskWrites < 1 {
		t.Errorf("disk: %.0f bytes in %.0f writes, at least %d were written", u.DiskWrittenBytes, u.DiskWrites, size)
	}
	if u.DiskFlushes == 0 {
		t.Errorf("no flush counted after an fsync")
	}
	if mt := memTotal(t); u.MemTotalBytes != mt {
		t.Errorf("MemTotal %.0f, /proc/meminfo says %.0f", u.MemTotalBytes, mt)
	}

	// With no interface left out, the scrapes' own bytes on the loopback
	// interface show.
	all, err := New(Options{URLs: []string{url}, InterfaceExclude: regexp.MustCompile(`^$`)})
	if err != nil {
		t.Fatal(err)
	}
	x, err := all.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	y, err := all.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := Between(x, y); n.NetTransmitBytes <= 0 || n.NetReceiveBytes <= 0 {
		t.Errorf("network with lo: %+v", n)
	}
}

func memTotal(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb * 1024
		}
	}
	t.Fatal("no MemTotal")
	return 0
}

// TestProcessMetrics reads a server's own /metrics (here this process's,
// through client_golang's process collector on a loopback server)
// alongside the node_exporter: the process's CPU is what it used.
func TestProcessMetrics(t *testing.T) {
	url := nodeExporter(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	r, err := New(Options{URLs: []string{url, srv.URL + "/metrics"}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := r.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c0 := selfCPU(t)
	spin(500 * time.Millisecond)
	used := selfCPU(t) - c0
	b, err := r.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	u := Between(a, b)
	t.Logf("process CPU %.3f s (getrusage %.3f s), RSS %.1f MiB; host busy %.2f", u.ProcessCPUSeconds, used, u.ProcessRSSBytes/(1<<20), u.HostCPUSeconds)
	if !u.Process || !u.Node {
		t.Fatalf("process %v node %v", u.Process, u.Node)
	}
	// /proc counts in 10 ms ticks; the scrapes add a little.
	if u.ProcessCPUSeconds < used-0.03 || u.ProcessCPUSeconds > used+0.1 {
		t.Errorf("process CPU %.3f s, getrusage says %.3f s", u.ProcessCPUSeconds, used)
	}
	if u.ProcessRSSBytes <= 0 {
		t.Error("no resident memory")
	}
}

func TestParseAndBetween(t *testing.T) {
	const text = `# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu="0",mode="idle"} 100
node_cpu_seconds_total{cpu="0",mode="user"} 10
node_cpu_seconds_total{cpu="0",mode="iowait"} 3
node_cpu_seconds_total{cpu="1",mode="idle"} 90
node_cpu_seconds_total{cpu="1",mode="system"} 5
node_cpu_seconds_total{cpu="1",mode="steal"} 7
node_disk_written_bytes_total{device="vda"} 1000
node_disk_written_bytes_total{device="dm-0"} 1000
node_disk_written_bytes_total{device="loop0"} 5
node_disk_writes_completed_total{device="vda"} 10
node_memory_MemAvailable_bytes 5e9
node_memory_MemTotal_bytes 8e9
node_network_receive_bytes_total{device="eth0"} 300
node_network_receive_bytes_total{device="lo"} 999
process_cpu_seconds_total 42
`
	fams, err := Parse(strings.NewReader(text), expfmt.NewFormat(expfmt.TypeTextPlain))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{DeviceExclude: DefaultDeviceExclude, InterfaceExclude: DefaultInterfaceExclude}
	a := Sample{DiskFlushes: -1}
	if err := a.add(fams, o); err != nil {
		t.Fatal(err)
	}
	if !a.Node || a.Process || a.CPUs != 2 || a.BusyCPUSeconds() != 15 || a.DiskWrittenBytes != 1000 || a.DiskFlushes != -1 || a.NetReceiveBytes != 300 || a.MemTotalBytes != 8e9 {
		t.Errorf("sample %+v (busy %g)", a, a.BusyCPUSeconds())
	}
	b := a
	b.At = a.At.Add(2 * time.Second)
	b.CPUSeconds = map[string]float64{"idle": 191, "user": 13, "system": 6, "iowait": 4, "steal": 8}
	b.DiskWrittenBytes = 400 // the exporter restarted: counts from 0
	b.MemAvailableBytes = 4e9
	u := Between(a, b)
	if u.Seconds != 2 || u.HostCPUSeconds != 4 || u.DiskWrittenBytes != 400 || u.MemUsedBytes != 1e9 || u.DiskFlushes != -1 {
		t.Errorf("usage %+v", u)
	}
	if _, err := Parse(strings.NewReader("node_cpu_seconds_total{cpu=\"0\" 1\n"), expfmt.NewFormat(expfmt.TypeTextPlain)); err == nil {
		t.Error("a broken exposition parsed")
	}
}

// TestBadServers: every way a URL can fail is a clear error naming it,
// bounded in time and size.
func TestBadServers(t *testing.T) {
	if _, err := New(Options{URLs: []string{"localhost:9100"}}); err == nil || !strings.Contains(err.Error(), "http://") {
		t.Errorf("no scheme: %v", err)
	}
	if _, err := New(Options{}); err == nil {
		t.Error("no URL: no error")
	}
	hang := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "node_cpu_seconds_total{cpu=\"0\" 1\n") })
	mux.HandleFunc("/empty", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "go_goroutines 5\n") })
	mux.HandleFunc("/huge", func(w http.ResponseWriter, _ *http.Request) {
		for i := range 200000 {
			fmt.Fprintf(w, "node_cpu_seconds_total{cpu=\"%d\",mode=\"idle\"} 1\n", i)
		}
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, _ *http.Request) { <-hang })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(hang) // before srv.Close, which waits for the handler
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	for _, tc := range []struct{ path, want string }{
		{srv.URL + "/garbage", "parsing the exposition"},
		{srv.URL + "/empty", "no node_cpu_seconds_total"},
		{srv.URL + "/nothere", "404"},
		{srv.URL + "/huge", "larger than 1048576 bytes"},
		{srv.URL + "/hang", "deadline exceeded"},
		{closed.URL + "/metrics", "connection refused"},
	} {
		r, err := New(Options{URLs: []string{tc.path}, Timeout: 300 * time.Millisecond, MaxBody: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		_, err = r.Read(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: %v, want an error naming the URL and saying %q", tc.path, err, tc.want)
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("%s: took %v", tc.path, d)
		}
	}
}
