// Package servermetrics reads the resources of a server under test from
// Prometheus expositions, so that gcload can measure implementations it
// did not write and hosts it cannot see: a node_exporter's /metrics gives
// the server host's CPU (node_cpu_seconds_total by mode), disk
// (node_disk_written_bytes_total, node_disk_writes_completed_total,
// node_disk_flush_requests_total), memory (node_memory_MemAvailable_bytes,
// node_memory_MemTotal_bytes) and network
// (node_network_receive_bytes_total, node_network_transmit_bytes_total);
// a server's own /metrics gives its process's CPU and resident memory
// (process_cpu_seconds_total, process_resident_memory_bytes).
//
// A node_exporter exposes process_* metrics too, but they describe the
// exporter itself: they are ignored on an exposition that has
// node_cpu_seconds_total.
//
//	r, err := servermetrics.New(servermetrics.Options{URLs: []string{"http://db1:9100/metrics", "http://gc1:8080/metrics"}})
//	a, err := r.Read(ctx)
//	... the load ...
//	b, err := r.Read(ctx)
//	u := servermetrics.Between(a, b) // CPU seconds, bytes written, ... over the window
//
// Reads are bounded (a timeout per scrape, at most MaxBody bytes of
// exposition); an exposition that cannot be parsed is an error naming the
// URL.
package servermetrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds one scrape.
	DefaultTimeout = 5 * time.Second
	// MaxBody is the most exposition read from one URL (a node_exporter
	// with every collector gives a few hundred KB).
	MaxBody = 16 << 20
)

// Default device and interface filters: loop, RAM and device-mapper disks
// and optical drives are left out (device-mapper volumes sit on a
// physical disk that is counted), as is the loopback interface.
var (
	DefaultDeviceExclude    = regexp.MustCompile(`^(loop|ram|zram|dm-|sr|fd|md)\d*`)
	DefaultInterfaceExclude = regexp.MustCompile(`^lo$`)
)

// Options configure a Reader.
type Options struct {
	// URLs are the expositions to read: a node_exporter's, a server's
	// own, or both.
	URLs []string
	// Client makes the requests (default: http.DefaultClient with
	// Timeout).
	Client *http.Client
	// Timeout bounds each scrape (default DefaultTimeout).
	Timeout time.Duration
	// MaxBody bounds the exposition read from one URL (default
	// MaxBody).
	MaxBody int64
	// DeviceExclude and InterfaceExclude leave disks and network
	// interfaces out of the sums (defaults above).
	DeviceExclude, InterfaceExclude *regexp.Regexp
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Reader reads the expositions.
type Reader struct {
	o Options
}

// New checks the options and returns a Reader.
func New(o Options) (*Reader, error) {
	if len(o.URLs) == 0 {
		return nil, errors.New("server metrics: no URL")
	}
	for _, u := range o.URLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return nil, fmt.Errorf("server metrics: %q: want an http:// or https:// URL of a Prometheus exposition (e.g. http://HOST:9100/metrics)", u)
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBody <= 0 {
		o.MaxBody = MaxBody
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.DeviceExclude == nil {
		o.DeviceExclude = DefaultDeviceExclude
	}
	if o.InterfaceExclude == nil {
		o.InterfaceExclude = DefaultInterfaceExclude
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Reader{o: o}, nil
}

// Sample is one read of every URL: counters are cumulative since each
// exporter started.
type Sample struct {
	At time.Time `json:"at"`
	// Node is true when an exposition had node_cpu_seconds_total (a
	// node_exporter): the host fields below are set.
	Node bool `json:"node"`
	// CPUSeconds is node_cpu_seconds_total summed over CPUs, by mode;
	// CPUs is the number of CPUs it had.
	CPUSeconds map[string]float64 `json:"cpu_seconds_by_mode,omitempty"`
	CPUs       int                `json:"cpus,omitempty"`
	// DiskWrittenBytes, DiskWrites and DiskFlushes are summed over the
	// disks not excluded (DiskFlushes is -1 when the exporter has no
	// flush counter, before node_exporter 1.3 or Linux 5.5).
	DiskWrittenBytes float64 `json:"disk_written_bytes"`
	DiskWrites       float64 `json:"disk_writes_completed"`
	DiskFlushes      float64 `json:"disk_flush_requests"`
	// MemAvailableBytes and MemTotalBytes are the host's.
	MemAvailableBytes float64 `json:"mem_available_bytes"`
	MemTotalBytes     float64 `json:"mem_total_bytes"`
	// NetReceiveBytes and NetTransmitBytes are summed over the
	// interfaces not excluded.
	NetReceiveBytes  float64 `json:"net_receive_bytes"`
	NetTransmitBytes float64 `json:"net_transmit_bytes"`
	// Process is true when an exposition without node metrics had
	// process_cpu_seconds_total: the server's own process.
	Process           bool    `json:"process"`
	ProcessCPUSeconds float64 `json:"process_cpu_seconds"`
	ProcessRSSBytes   float64 `json:"process_resident_memory_bytes"`
}

// Read scrapes every URL and merges what they expose.
func (r *Reader) Read(ctx context.Context) (Sample, error) {
	s := Sample{At: r.o.Now(), DiskFlushes: -1}
	for _, u := range r.o.URLs {
		fams, err := r.scrape(ctx, u)
		if err != nil {
			return Sample{}, err
		}
		if err := s.add(fams, r.o); err != nil {
			return Sample{}, fmt.Errorf("server metrics %s: %w", u, err)
		}
	}
	if !s.Node && !s.Process {
		return Sample{}, fmt.Errorf("server metrics %s: no node_cpu_seconds_total (node_exporter) nor process_cpu_seconds_total (a server's own metrics)", strings.Join(r.o.URLs, ", "))
	}
	return s, nil
}

func (r *Reader) scrape(ctx context.Context, url string) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("server metrics %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := r.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server metrics %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("server metrics %s: HTTP %s", url, resp.Status)
	}
	body := io.LimitReader(resp.Body, r.o.MaxBody+1)
	counted := &countingReader{r: body}
	fams, err := Parse(counted, expfmt.ResponseFormat(resp.Header))
	if counted.n > r.o.MaxBody {
		return nil, fmt.Errorf("server metrics %s: exposition larger than %d bytes", url, r.o.MaxBody)
	}
	if err != nil {
		return nil, fmt.Errorf("server metrics %s: %w", url, err)
	}
	return fams, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Parse decodes an exposition in format (text when unknown) into its
// metric families by name.
func Parse(r io.Reader, format expfmt.Format) (map[string]*dto.MetricFamily, error) {
	if format.FormatType() == expfmt.TypeUnknown {
		format = expfmt.NewFormat(expfmt.TypeTextPlain)
	}
	dec := expfmt.NewDecoder(r, format)
	fams := map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if err == io.EOF {
			return fams, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parsing the exposition: %w", err)
		}
		fams[mf.GetName()] = mf
	}
}

// value is a counter's, gauge's or untyped metric's value.
func value(m *dto.Metric) float64 {
	switch {
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	case m.GetUntyped() != nil:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// sum adds the family's values whose label (when given) is not excluded.
func sum(fams map[string]*dto.MetricFamily, name, lbl string, exclude *regexp.Regexp) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	var s float64
	for _, m := range f.GetMetric() {
		if lbl != "" && exclude != nil && exclude.MatchString(label(m, lbl)) {
			continue
		}
		if v := value(m); !math.IsNaN(v) {
			s += v
		}
	}
	return s, true
}

// add merges one exposition into the sample.
func (s *Sample) add(fams map[string]*dto.MetricFamily, o Options) error {
	if cpu, ok := fams["node_cpu_seconds_total"]; ok {
		if s.Node {
			return errors.New("a second node_exporter: give one per host")
		}
		s.Node = true
		s.CPUSeconds = map[string]float64{}
		cpus := map[string]bool{}
		for _, m := range cpu.GetMetric() {
			s.CPUSeconds[label(m, "mode")] += value(m)
			cpus[label(m, "cpu")] = true
		}
		s.CPUs = len(cpus)
		s.DiskWrittenBytes, _ = sum(fams, "node_disk_written_bytes_total", "device", o.DeviceExclude)
		s.DiskWrites, _ = sum(fams, "node_disk_writes_completed_total", "device", o.DeviceExclude)
		if f, ok := sum(fams, "node_disk_flush_requests_total", "device", o.DeviceExclude); ok {
			s.DiskFlushes = f
		}
		s.MemAvailableBytes, _ = sum(fams, "node_memory_MemAvailable_bytes", "", nil)
		s.MemTotalBytes, _ = sum(fams, "node_memory_MemTotal_bytes", "", nil)
		s.NetReceiveBytes, _ = sum(fams, "node_network_receive_bytes_total", "device", o.InterfaceExclude)
		s.NetTransmitBytes, _ = sum(fams, "node_network_transmit_bytes_total", "device", o.InterfaceExclude)
		return nil
	}
	// A server's own metrics (process_* of a node_exporter are its own).
	if v, ok := sum(fams, "process_cpu_seconds_total", "", nil); ok {
		if s.Process {
			return errors.New("a second exposition with process metrics: give one server's")
		}
		s.Process = true
		s.ProcessCPUSeconds = v
		s.ProcessRSSBytes, _ = sum(fams, "process_resident_memory_bytes", "", nil)
	}
	return nil
}

// BusyCPUSeconds is the host CPU time spent working: every mode but
// idle, iowait and steal (time the hypervisor gave to others).
func (s Sample) BusyCPUSeconds() float64 {
	modes := make([]string, 0, len(s.CPUSeconds))
	for m := range s.CPUSeconds {
		modes = append(modes, m)
	}
	sort.Strings(modes) // the same sum, to the last bit, every time
	var b float64
	for _, mode := range modes {
		switch mode {
		case "idle", "iowait", "steal":
		default:
			b += s.CPUSeconds[mode]
		}
	}
	return b
}

// Usage is what the server used between two samples.
type Usage struct {
	Seconds float64 `json:"seconds"`
	// Host: busy CPU seconds and by mode, CPUs, disk and network, and the
	// fall in available memory (negative when memory was freed).
	Node             bool               `json:"node"`
	HostCPUSeconds   float64            `json:"host_cpu_seconds"`
	HostCPUByMode    map[string]float64 `json:"host_cpu_seconds_by_mode,omitempty"`
	CPUs             int                `json:"cpus,omitempty"`
	DiskWrittenBytes float64            `json:"disk_written_bytes"`
	DiskWrites       float64            `json:"disk_writes"`
	// DiskFlushes is -1 when the exporter does not count them.
	DiskFlushes       float64 `json:"disk_flushes"`
	MemUsedBytes      float64 `json:"mem_used_bytes"`
	MemTotalBytes     float64 `json:"mem_total_bytes"`
	NetReceiveBytes   float64 `json:"net_receive_bytes"`
	NetTransmitBytes  float64 `json:"net_transmit_bytes"`
	Process           bool    `json:"process"`
	ProcessCPUSeconds float64 `json:"process_cpu_seconds"`
	// ProcessRSSGrowth is the growth of the process's resident memory.
	ProcessRSSGrowth float64 `json:"process_rss_growth_bytes"`
	ProcessRSSBytes  float64 `json:"process_rss_bytes"`
}

// Between is the usage from sample a to sample b. A counter that went
// back (the exporter restarted) counts from 0.
func Between(a, b Sample) Usage {
	d := func(x, y float64) float64 {
		if y < x {
			return y
		}
		return y - x
	}
	u := Usage{Seconds: b.At.Sub(a.At).Seconds(), Node: a.Node && b.Node, Process: a.Process && b.Process}
	if u.Node {
		u.HostCPUByMode = map[string]float64{}
		modes := make([]string, 0, len(b.CPUSeconds))
		for m := range b.CPUSeconds {
			modes = append(modes, m)
		}
		sort.Strings(modes)
		for _, m := range modes {
			u.HostCPUByMode[m] = d(a.CPUSeconds[m], b.CPUSeconds[m])
		}
		u.HostCPUSeconds = d(a.BusyCPUSeconds(), b.BusyCPUSeconds())
		u.CPUs = b.CPUs
		u.DiskWrittenBytes = d(a.DiskWrittenBytes, b.DiskWrittenBytes)
		u.DiskWrites = d(a.DiskWrites, b.DiskWrites)
		u.DiskFlushes = -1
		if a.DiskFlushes >= 0 && b.DiskFlushes >= 0 {
			u.DiskFlushes = d(a.DiskFlushes, b.DiskFlushes)
		}
		u.MemUsedBytes = a.MemAvailableBytes - b.MemAvailableBytes
		u.MemTotalBytes = b.MemTotalBytes
		u.NetReceiveBytes = d(a.NetReceiveBytes, b.NetReceiveBytes)
		u.NetTransmitBytes = d(a.NetTransmitBytes, b.NetTransmitBytes)
	}
	if u.Process {
		u.ProcessCPUSeconds = d(a.ProcessCPUSeconds, b.ProcessCPUSeconds)
		u.ProcessRSSGrowth = b.ProcessRSSBytes - a.ProcessRSSBytes
		u.ProcessRSSBytes = b.ProcessRSSBytes
	}
	return u
}
