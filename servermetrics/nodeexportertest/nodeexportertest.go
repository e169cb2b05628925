// Package nodeexportertest starts Debian's prometheus-node-exporter for
// tests: on a random loopback port, with only the collectors
// servermetrics reads (cpu, diskstats, meminfo, netdev, the loopback
// interface included), stopped when the test ends. Without the binary the
// test is skipped with a message naming the package that provides it.
package nodeexportertest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Binary is where Debian installs the exporter.
const Binary = "/usr/bin/prometheus-node-exporter"

// Start starts an exporter and returns its /metrics URL.
func Start(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-node-exporter")
	if err != nil {
		if _, err := os.Stat(Binary); err != nil {
			t.Skip("prometheus-node-exporter is not installed (Debian's package prometheus-node-exporter; .ci/run installs it)")
		}
		bin = Binary
	}
	for attempt := 1; ; attempt++ {
		url, ok := try(t, bin)
		if ok {
			return url
		}
		if attempt == 3 {
			t.Fatalf("%s did not start on a loopback port in 3 attempts", bin)
		}
	}
}

// try starts the exporter on a free port; false when it exited (the port
// was taken between finding it free and the exporter binding it).
func try(t testing.TB, bin string) (string, bool) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--collector.disable-defaults",
		"--collector.cpu", "--collector.diskstats", "--collector.meminfo", "--collector.netdev",
		"--collector.netdev.device-exclude=^$", "--log.level=error")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	url := "http://" + addr + "/metrics"
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-done:
			return "", false
		default:
		}
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Cleanup(func() {
					_ = cmd.Process.Kill()
					<-done
				})
				return url, true
			}
		}
	}
	_ = cmd.Process.Kill()
	<-done
	t.Fatalf("%s did not answer at %s within 10 s", bin, url)
	return "", false
}
