package loadrun

import (
	"context"
	"fmt"

	"github.com/gcload/gcload/servermetrics"
)

// useServerMetrics makes the measurer read the server's CPU, memory and
// disk from Prometheus expositions: its own process metrics when a URL
// has them, else its host's (node_exporter). A first read checks every
// URL; with only host metrics the server's cores are the host's CPUs
// unless --server-pid gave them.
func (m *measurer) useServerMetrics(ctx context.Context, urls []string) error {
	if len(urls) == 0 {
		return nil
	}
	r, err := servermetrics.New(servermetrics.Options{URLs: urls})
	if err != nil {
		return fmt.Errorf("server metrics: %w", err)
	}
	s, err := r.Read(ctx)
	if err != nil {
		return fmt.Errorf("server metrics: %w", err)
	}
	m.metrics, m.lastRead = r, &s
	if s.Node && m.pid <= 0 {
		m.cores = s.CPUs
	}
	return nil
}

// fromMetrics reads the expositions into the sample: the server's CPU
// (its process's, else its host's busy CPU), resident memory (its
// process's, else the host's memory in use) and the host's disk writes.
// A failed read repeats the last good one (and is noted), so that the
// counters never go back.
func (m *measurer) fromMetrics(s *sample) {
	ctx, cancel := context.WithTimeout(context.Background(), servermetrics.DefaultTimeout)
	defer cancel()
	if got, err := m.metrics.Read(ctx); err == nil {
		m.lastRead = &got
	} else if m.readErr == nil {
		m.readErr = err
	}
	x := m.lastRead
	s.Metrics = x
	switch {
	case x.Process:
		s.ServerCPU, s.ServerRSS = x.ProcessCPUSeconds, int64(x.ProcessRSSBytes)
	case x.Node:
		s.ServerCPU, s.ServerRSS = x.BusyCPUSeconds(), int64(x.MemTotalBytes-x.MemAvailableBytes)
	}
	if x.Node {
		s.DiskWrite = int64(x.DiskWrittenBytes)
	}
}

// noteServerMetrics records what the expositions saw over the window and
// from where the server's figures came; without the reference server's
// commit counter, the host's disk flushes stand for the commits.
func (m *measurer) noteServerMetrics(out *Measurement, a, b sample) {
	if a.Metrics == nil || b.Metrics == nil {
		return
	}
	u := servermetrics.Between(*a.Metrics, *b.Metrics)
	out.ServerMetrics = &u
	switch {
	case u.Process:
		out.Notes = append(out.Notes, "server CPU and memory from the server's own process metrics (--server-metrics)")
	case u.Node:
		out.Notes = append(out.Notes, "server CPU is its host's busy CPU and its memory the host's memory in use (node_exporter, --server-metrics): everything on that host counts, the load generator too when it runs there")
	}
	if u.Node {
		out.Notes = append(out.Notes, "disk writes are the host's (node_exporter)")
		if m.commits == nil && u.DiskFlushes >= 0 {
			out.Measurement.Fsyncs = int64(u.DiskFlushes)
			out.Notes = append(out.Notes, "flushes are the host's disk flush requests (node_exporter), not the server's commits")
		}
	}
	if m.readErr != nil {
		out.Notes = append(out.Notes, fmt.Sprintf("a read of --server-metrics failed (%v): the last good read stood in for it", m.readErr))
	}
}
