package swarm

import (
	"math"
	"runtime"
	"runtime/metrics"
	"syscall"
	"time"
)

// selfMonitor samples the generator's own health: CPU, Go run-queue
// latency, GC pauses and heap.
type selfMonitor struct {
	start    time.Time
	cpu0     time.Duration
	samples  []metrics.Sample
	base     snap
	heapPeak uint64
}

const (
	mSched  = "/sched/latencies:seconds"
	mPauses = "/sched/pauses/total/gc:seconds"
	mHeap   = "/memory/classes/heap/objects:bytes"
)

func newSelfMonitor(now time.Time) *selfMonitor {
	m := &selfMonitor{start: now, cpu0: processCPU()}
	m.samples = []metrics.Sample{{Name: mSched}, {Name: mPauses}, {Name: mHeap}}
	metrics.Read(m.samples) // baseline for the histograms
	m.base = snapshot(m.samples)
	return m
}

// processCPU returns user+system CPU time of this process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type histSnap struct {
	counts  []uint64
	buckets []float64
}

type snap struct {
	sched, pauses histSnap
}

func snapshot(s []metrics.Sample) snap {
	h := func(v metrics.Value) histSnap {
		if v.Kind() != metrics.KindFloat64Histogram {
			return histSnap{}
		}
		x := v.Float64Histogram()
		return histSnap{counts: append([]uint64(nil), x.Counts...), buckets: x.Buckets}
	}
	return snap{sched: h(s[0].Value), pauses: h(s[1].Value)}
}

// sample reads the heap now (the peak is kept).
func (m *selfMonitor) sample() {
	metrics.Read(m.samples)
	if m.samples[2].Value.Kind() == metrics.KindUint64 {
		m.heapPeak = max(m.heapPeak, m.samples[2].Value.Uint64())
	}
}

// generatorStats is what the monitor concludes at the end of a run.
type generatorStats struct {
	cpuSeconds, utilization  float64
	goSchedP99               time.Duration
	gcPauseTotal, gcPauseMax float64
	heapPeak                 uint64
	procs                    int
}

func (m *selfMonitor) finish(now time.Time) generatorStats {
	m.sample()
	cur := snapshot(m.samples)
	wall := now.Sub(m.start).Seconds()
	cpu := (processCPU() - m.cpu0).Seconds()
	procs := runtime.GOMAXPROCS(0)
	g := generatorStats{cpuSeconds: cpu, procs: procs, heapPeak: m.heapPeak}
	if wall > 0 {
		g.utilization = cpu / (wall * float64(procs))
	}
	g.goSchedP99 = time.Duration(quantile(diff(cur.sched, m.base.sched), 0.99) * float64(time.Second))
	p := diff(cur.pauses, m.base.pauses)
	for i, c := range p.counts {
		if c == 0 {
			continue
		}
		mid := bucketMid(p.buckets, i)
		g.gcPauseTotal += mid * float64(c)
		g.gcPauseMax = math.Max(g.gcPauseMax, p.buckets[i+1])
	}
	return g
}

func diff(a, b histSnap) histSnap {
	out := histSnap{buckets: a.buckets, counts: make([]uint64, len(a.counts))}
	for i := range a.counts {
		out.counts[i] = a.counts[i]
		if i < len(b.counts) {
			out.counts[i] -= b.counts[i]
		}
	}
	return out
}

func bucketMid(b []float64, i int) float64 {
	lo, hi := b[i], b[i+1]
	if math.IsInf(lo, -1) {
		return hi
	}
	if math.IsInf(hi, 1) {
		return lo
	}
	return (lo + hi) / 2
}

func quantile(h histSnap, q float64) float64 {
	var total uint64
	for _, c := range h.counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	want := uint64(math.Ceil(q * float64(total)))
	var acc uint64
	for i, c := range h.counts {
		acc += c
		if acc >= want {
			hi := h.buckets[i+1]
			if math.IsInf(hi, 1) {
				return h.buckets[i]
			}
			return hi
		}
	}
	return 0
}
