package loadrun

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/promexp"
)

// serveMetrics serves the run's live Prometheus metrics at addr; it
// returns a function that stops serving and the metrics' URL.
func serveMetrics(addr string, rec *reports.Recorder, online *atomic.Int64, rooms int) (func(), string, error) {
	start, cpu0 := time.Now(), processCPU()
	h := promexp.NewHandler(rec, promexp.Options{ProcessMetrics: true, Gauges: func() promexp.Gauges {
		util := 0.0
		if wall := time.Since(start).Seconds(); wall > 0 {
			util = (processCPU() - cpu0) / (wall * float64(runtime.GOMAXPROCS(0)))
		}
		return promexp.Gauges{UsersOnline: int(online.Load()), Rooms: rooms, CPUUtilization: util}
	}})
	srv, a, err := promexp.Serve(addr, h)
	if err != nil {
		return nil, "", fmt.Errorf("metrics address %s: %w", addr, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, fmt.Sprintf("http://%s/metrics", a), nil
}

// processCPU returns the process's user and system CPU seconds.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
