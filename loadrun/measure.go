package loadrun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gcload/gcload/capacity"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/servermetrics"
	"github.com/gcload/gcload/sipclient/swarm"
	"github.com/gcload/gcload/target"
)

// FileMeasurement is the run's resource measurement in its results
// folder (Measurement as JSON); Result.Extra holds it under this name.
const FileMeasurement = "measurement.json"

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times on Linux.
const clockTicks = 100

// procStat is what /proc says of a process.
type procStat struct {
	CPU        float64 // user + system seconds
	RSS        int64   // resident bytes
	WriteBytes int64   // bytes it caused to be written to storage
}

// readProc reads /proc/PID/stat, status and io.
func readProc(pid int) (procStat, error) {
	var p procStat
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// the command name may hold spaces: fields start after its ')'
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return p, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	p.CPU = (ut + st) / clockTicks
	if ns, ok := schedCPU(pid); ok {
		p.CPU = ns / 1e9 // nanosecond precision where the kernel keeps it
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				p.RSS = kb << 10
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "write_bytes:"); ok {
				p.WriteBytes, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			}
		}
	}
	return p, nil
}

// schedCPU sums the time on CPU of a process's threads from
// /proc/PID/task/*/schedstat (nanoseconds; /proc/PID/stat counts in 10 ms
// ticks, too coarse for a short window). Threads that already exited are
// not counted; a Go program keeps its threads.
func schedCPU(pid int) (float64, bool) {
	dirs, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return 0, false
	}
	var sum float64
	for _, d := range dirs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, d.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, false
		}
		ns, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, false
		}
		sum += ns
	}
	return sum, sum > 0
}

// sample is one look at the resources during a run.
type sample struct {
	At        time.Time `json:"at"`
	ServerCPU float64   `json:"server_cpu_s"`
	GenCPU    float64   `json:"generator_cpu_s"`
	ServerRSS int64     `json:"server_rss_bytes"`
	DiskWrite int64     `json:"server_disk_write_bytes"`
	Commits   uint64    `json:"store_commits"`
	BytesIn   uint64    `json:"generator_bytes_in"`
	BytesOut  uint64    `json:"generator_bytes_out"`
	// Metrics is what --server-metrics read (nil without it, or when the
	// read failed).
	Metrics *servermetrics.Sample `json:"server_metrics,omitempty"`
}

// measurer samples the server and the generator each tick. The server is
// a process of its own (pid > 0: a child or a local server), the
// generator's process itself (pid 0: the embedded server shares the
// generator's process, so its CPU is the generator's), or unknown (pid <
// 0: a remote server).
type measurer struct {
	pid      int
	cores    int     // the server's GOMAXPROCS
	idleCPU  float64 // the server's CPU s/s when idle, subtracted
	commits  func() uint64
	metrics  *servermetrics.Reader // --server-metrics
	lastRead *servermetrics.Sample // its last good read
	readErr  error                 // its first failed read
	sw       *swarm.Swarm
	rec      *reports.Recorder
	// offset puts the samples' times on the run's clock (a coordinated
	// shard's: Options.Clock), where the run's start is
	offset   time.Duration
	mu       sync.Mutex
	samples  []sample
	baseline sample
}

func (m *measurer) take(now time.Time) sample {
	s := sample{At: now}
	if self, err := readProc(os.Getpid()); err == nil {
		s.GenCPU = self.CPU
		if m.pid == 0 {
			s.ServerCPU, s.ServerRSS, s.DiskWrite = self.CPU, self.RSS, self.WriteBytes
		}
	}
	if m.pid > 0 {
		if p, err := readProc(m.pid); err == nil {
			s.ServerCPU, s.ServerRSS, s.DiskWrite = p.CPU, p.RSS, p.WriteBytes
		}
	}
	if m.commits != nil {
		s.Commits = m.commits()
	}
	if m.metrics != nil {
		m.fromMetrics(&s)
	}
	if m.sw != nil {
		st := m.sw.SIPStats()
		s.BytesIn, s.BytesOut = st.BytesIn, st.BytesOut
	}
	return s
}

// start takes the baseline (before anyone signs in).
func (m *measurer) start() {
	m.baseline = m.take(time.Now().Add(m.offset))
	m.samples = append(m.samples, m.baseline)
}

// tick samples and sets the utilisation gauges of the interval.
func (m *measurer) tick() {
	s := m.take(time.Now().Add(m.offset))
	m.mu.Lock()
	prev := m.samples[len(m.samples)-1]
	m.samples = append(m.samples, s)
	m.mu.Unlock()
	dt := s.At.Sub(prev.At).Seconds()
	if dt <= 0 {
		return
	}
	if m.pid >= 0 || m.metrics != nil {
		m.rec.Gauge("server_cpu_utilization", (s.ServerCPU-prev.ServerCPU)/dt/float64(m.cores))
		m.rec.Gauge("server_rss_bytes", float64(s.ServerRSS))
		m.rec.Gauge("server_disk_write_bytes_per_s", float64(s.DiskWrite-prev.DiskWrite)/dt)
	}
	if m.pid != 0 {
		m.rec.Gauge("generator_cpu_utilization", (s.GenCPU-prev.GenCPU)/dt/float64(runtime.GOMAXPROCS(0)))
	}
}

// Measurement is measurement.json: the capacity model's view of the
// run, how it was measured, and the samples.
type Measurement struct {
	capacity.Measurement
	// Server says how the server's CPU, memory and disk were measured:
	// "process" (its own process), "shared" (the embedded server shares
	// the generator's process: server_cpu_seconds includes the
	// generator's), "metrics" (--server-metrics: its own process metrics
	// or its host's node_exporter) or "none" (a remote server).
	Server  string   `json:"server"`
	Notes   []string `json:"notes,omitempty"`
	Samples []sample `json:"samples"`
	// ServerMetrics is what --server-metrics saw over the window.
	ServerMetrics *servermetrics.Usage `json:"server_metrics,omitempty"`
}

// measurement computes the run's measurement over its posting window: from
// the last sample before the first post's intended time to the first
// sample after the last post's, so that sign-in is left out and every
// delivery is in.
func (m *measurer) measurement(plan *swarm.Plan, oc *swarm.Outcome, s *reports.Summary) *Measurement {
	m.mu.Lock()
	samples := append([]sample(nil), m.samples...)
	m.mu.Unlock()
	out := &Measurement{Server: "process", Samples: samples}
	switch {
	case m.metrics != nil:
		out.Server = "metrics" // noteServerMetrics says from where
	case m.pid == 0:
		out.Server = "shared"
		out.Notes = append(out.Notes, "the embedded server ran in the generator's process: server CPU includes the generator's (gcload calibrate runs the server as a child process)")
	case m.pid < 0:
		out.Server = "none"
		out.Notes = append(out.Notes, "a remote server: only the generator was measured")
	}
	me := &out.Measurement
	me.Name, me.Cores = plan.Spec.Name, m.cores
	sizes := map[int]float64{}
	for _, r := range plan.Rooms {
		sizes[len(r.Members)] += float64(r.Posts)
	}
	if len(sizes) == 1 {
		for k := range sizes {
			me.RoomSize = k
		}
	} else {
		for k, w := range sizes {
			me.RoomMix = append(me.RoomMix, capacity.RoomShare{Size: k, Weight: w})
		}
	}
	first, last, planned := time.Duration(-1), time.Duration(0), 0
	for _, op := range plan.Ops {
		if op.Kind != swarm.KindPost {
			continue
		}
		planned++
		if first < 0 {
			first = op.At
		}
		last = op.At
	}
	if planned == 0 || len(samples) < 2 {
		out.Notes = append(out.Notes, "no posts, or no samples: no rates")
		return out
	}
	from, to := oc.Start.Add(first), oc.Start.Add(last)
	a, b := samples[0], samples[len(samples)-1]
	for _, x := range samples {
		if !x.At.After(from) {
			a = x
		}
	}
	for i := len(samples) - 1; i >= 0; i-- {
		if !samples[i].At.Before(to) {
			b = samples[i]
		}
	}
	wall := b.At.Sub(a.At).Seconds()
	if wall <= 0 {
		return out
	}
	me.WallSeconds = wall
	me.OfferedPostsPerSec = float64(planned) / wall
	me.AchievedPostsPerSec = float64(s.Delivery.Posts) / wall
	me.DeliveriesPerSec = float64(s.Delivery.Received) / wall
	me.UsersOnline = s.Users.PeakOnline
	me.GeneratorCPUSeconds = b.GenCPU - a.GenCPU
	if m.pid >= 0 || m.metrics != nil {
		me.ServerCPUSeconds = b.ServerCPU - a.ServerCPU
		if m.idleCPU > 0 {
			me.ServerCPUSeconds = max(me.ServerCPUSeconds-m.idleCPU*wall, 0)
			out.Notes = append(out.Notes, fmt.Sprintf("the server's idle CPU (%.4f CPU-s/s, measured before the run) is subtracted from server_cpu_seconds", m.idleCPU))
		}
		me.DiskWriteBytes = b.DiskWrite - a.DiskWrite
		if users := s.Users.PeakOnline; users > 0 {
			me.MemBytesPerUser = float64(b.ServerRSS-m.baseline.ServerRSS) / float64(users)
			out.Notes = append(out.Notes, "memory per user is the server's resident growth from before sign-in to the end of posting, over the users online; each user joins one room here, so it includes one membership and memory per joined room is not separated")
		}
	}
	if m.commits != nil {
		me.Fsyncs = int64(b.Commits - a.Commits)
	}
	if s.Delivery.Posts > 0 {
		me.WireBytesPerPost = float64(b.BytesOut-a.BytesOut) / float64(s.Delivery.Posts)
	}
	if s.Delivery.Received > 0 {
		me.WireBytesPerDelivery = float64(b.BytesIn-a.BytesIn) / float64(s.Delivery.Received)
	}
	if m.metrics != nil {
		m.noteServerMetrics(out, a, b)
	}
	op := func(o reports.Op) reports.OpSummary { return s.Ops[o] }
	me.Latency = capacity.Latency{
		PostAckP50: float64(op(reports.OpPostAck).P50), PostAckP99: float64(op(reports.OpPostAck).P99),
		PostLastDeliveryP50: float64(op(reports.OpPostToLastDelivery).P50), PostLastDeliveryP99: float64(op(reports.OpPostToLastDelivery).P99),
	}
	me.GeneratorValid, me.InvalidReasons = s.Generator.Valid, s.Generator.InvalidReasons
	return out
}

// json is measurement.json.
func (m *Measurement) json() ([]byte, error) { return json.MarshalIndent(m, "", "  ") }

// adminCommits returns a function reading the store's commits from a
// reference server's admin API (with its token); a read that fails gives
// the last value read, so that the count never goes back.
func adminCommits(admin, token string) func() uint64 {
	var last uint64
	c := adminclient.New(admin, token)
	return func() uint64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if st, err := c.Stats(ctx); err == nil {
			last = max(last, st.Store.Commits)
		}
		return last
	}
}

// IdleCPU measures the CPU use (CPU seconds per second) of the server
// process pid on this machine over d while it has no clients, with its
// admin API (tg.Admin, when set) polled as during a run, so that
// Measure.ServerIdleCPU leaves out what the server does on its own.
func IdleCPU(ctx context.Context, pid int, tg target.Target, d time.Duration) (float64, error) {
	var commits func() uint64
	if tg.Admin != "" {
		commits = adminCommits(tg.Admin, tg.AdminToken)
	}
	a, err := readProc(pid)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	for time.Since(t0) < d && ctx.Err() == nil {
		if commits != nil {
			commits()
		}
		time.Sleep(250 * time.Millisecond)
	}
	b, err := readProc(pid)
	if err != nil {
		return 0, err
	}
	return (b.CPU - a.CPU) / time.Since(t0).Seconds(), nil
}
