package cli

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"syscall"
)

// startProfiles starts a CPU profile and arranges a heap profile; the
// returned func stops and writes them. With a heap profile, SIGUSR1 makes
// the command collect its garbage, return the freed memory to the system
// and write the heap profile as it is then to MEM.1, MEM.2, … (the
// memory of a long-running server or run at a moment of one's choosing:
// bench/conns reads the processes' memory per idle user so).
func startProfiles(cpu, mem string) (func(), error) {
	var cpuFile *os.File
	if cpu != "" {
		f, err := os.Create(cpu)
		if err != nil {
			return nil, badInput(fmt.Errorf("--cpuprofile: %w", err))
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		cpuFile = f
	}
	stopUsr1 := func() {}
	if mem != "" {
		stopUsr1 = heapOnSignal(mem)
	}
	return func() {
		stopUsr1()
		if cpuFile != nil {
			pprof.StopCPUProfile()
			cpuFile.Close()
		}
		if mem != "" {
			if f, err := os.Create(mem); err == nil {
				runtime.GC()
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
	}, nil
}

// heapOnSignal writes a heap profile to mem.N at each SIGUSR1, after a
// collection and a return of the freed memory to the system; the
// returned func stops it and waits for it.
func heapOnSignal(mem string) func() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 1; ; n++ {
			if _, ok := <-sig; !ok {
				return
			}
			debug.FreeOSMemory() // a collection, then the freed memory returned
			path := mem + "." + strconv.Itoa(n)
			if f, err := os.Create(path + ".tmp"); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
				_ = os.Rename(path+".tmp", path) // whole when it appears
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(sig)
		<-done
	}
}
