package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
)

// Start starts cmd inside the group, so that none of its CPU time is
// spent outside it: with cgroup v2 through clone3's CLONE_INTO_CGROUP
// (SysProcAttr.UseCgroupFD); with cgroup v1 by forking from an OS thread
// of this process that was moved into the group first and that ends with
// the fork (the goroutine keeps it locked and exits, and the Go runtime
// then ends the thread), so this process's other threads stay where they
// were. The fork itself, a fraction of a millisecond, counts in the
// group's usage.
func (g *Group) Start(cmd *exec.Cmd) error {
	if g.ctl.Version == 2 {
		dir, err := os.Open(g.cpuDir)
		if err != nil {
			return fmt.Errorf("cgroup %s: %w", g.name, err)
		}
		defer dir.Close()
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(dir.Fd())
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go g.startFromThread(cmd, errc)
	return <-errc
}

// startFromThread moves the OS thread it runs on into the group and
// starts cmd from it; the thread ends with the goroutine. The main thread
// is never used: the Go runtime keeps it (parked) when a goroutine locked
// to it exits, so it would stay in the group; on it, the work is handed
// to a new goroutine, which cannot run on the main thread while this one
// holds it.
func (g *Group) startFromThread(cmd *exec.Cmd, errc chan<- error) {
	runtime.LockOSThread()
	if syscall.Gettid() == os.Getpid() {
		done := make(chan error, 1)
		go g.startFromThread(cmd, done)
		err := <-done
		runtime.UnlockOSThread()
		errc <- err
		return
	}
	// Never unlocked: the thread, now in the group, ends with this
	// goroutine.
	tid := strconv.Itoa(syscall.Gettid())
	for _, dir := range g.dirs() {
		if err := g.write(dir, "tasks", tid); err != nil {
			errc <- err
			return
		}
	}
	errc <- cmd.Start()
}
