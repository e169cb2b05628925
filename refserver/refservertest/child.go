package refservertest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/embedded"
)

// A server in a child process: the test binary re-executed with an
// environment variable naming what to serve. Tests use one to kill a server
// (SIGKILL) or to measure its CPU apart from the test's own:
//
//	func TestMain(m *testing.M) {
//		if refservertest.ChildMain(childEnv, options) {
//			return
//		}
//		os.Exit(m.Run())
//	}
//
// and then StartChild(t, childEnv, arg) in a test or benchmark.

// ChildCPUProfileEnv names a file for a CPU profile of the child server
// process (for benchmarks: GCLOAD_CHILD_CPUPROFILE=/tmp/server.prof).
const ChildCPUProfileEnv = "GCLOAD_CHILD_CPUPROFILE"

// ChildMemProfileEnv names a file for an allocation profile of the child
// server process, written when it stops (GCLOAD_CHILD_MEMPROFILE=/tmp/server.mem;
// read with go tool pprof -sample_index=alloc_space).
const ChildMemProfileEnv = "GCLOAD_CHILD_MEMPROFILE"

// ChildMain serves as the child process when the environment variable env
// is set: it starts a reference server on 127.0.0.1 (TCP, random port) with
// the options options(value of env) returns, prints its address on
// standard output, serves until standard input closes, closes the server
// and returns true. It returns false at once when env is not set.
func ChildMain(env string, options func(arg string) ([]refserver.Option, error)) bool {
	return ChildMainWith(env, func(arg string) (embedded.Options, error) {
		opts, err := options(arg)
		return embedded.Options{Options: opts}, err
	})
}

// ChildMainWith is ChildMain with the whole embedded server's options
// (its transports: a TLS listener's CA file is printed after the address,
// for StartChild to read into Child.CA).
func ChildMainWith(env string, options func(arg string) (embedded.Options, error)) bool {
	arg, ok := os.LookupEnv(env)
	if !ok {
		return false
	}
	dir, err := os.MkdirTemp("", "gcload-child-*")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	o, err := options(arg)
	if err == nil {
		o.Dir = dir
		var srv *embedded.Server
		if srv, err = embedded.Start(context.Background(), o); err == nil {
			defer srv.Close()
			if prof := os.Getenv(ChildCPUProfileEnv); prof != "" {
				if f, perr := os.Create(prof); perr == nil && pprof.StartCPUProfile(f) == nil {
					defer func() { pprof.StopCPUProfile(); f.Close() }()
				}
			}
			if prof := os.Getenv(ChildMemProfileEnv); prof != "" {
				defer func() {
					if f, perr := os.Create(prof); perr == nil {
						_ = pprof.Lookup("allocs").WriteTo(f, 0)
						f.Close()
					}
				}()
			}
			tg := srv.Target()
			fmt.Println(strings.TrimSpace(tg.Server() + " " + tg.CA))
			_, _ = io.Copy(io.Discard, os.Stdin) // until the parent closes it
			return true
		}
	}
	fmt.Println("error", err)
	os.Exit(1)
	return true
}

// Child is a reference server running in a child process.
type Child struct {
	// Addr is the server's address: host:port, or tls://host:port when
	// its first transport is TLS (then CA is the file of its CA).
	Addr, CA string
	cmd      *exec.Cmd
	in       io.Closer
	wait     sync.Once
}

// StartChild re-executes the test binary with env=arg (see ChildMain) and
// waits for the server's address. The child is stopped (standard input
// closed, then waited for) when the test ends.
func StartChild(tb testing.TB, env, arg string) *Child {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), env+"="+arg)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		tb.Fatalf("refservertest: server process: %q %v", line, err)
	}
	addr, ca, _ := strings.Cut(strings.TrimSpace(line), " ")
	c := &Child{Addr: addr, CA: ca, cmd: cmd, in: in}
	tb.Cleanup(func() { c.in.Close(); c.wait.Do(func() { _ = c.cmd.Wait() }) })
	return c
}

// Kill kills the child with SIGKILL (a crash: nothing is flushed) and
// waits until it is gone.
func (c *Child) Kill() error {
	err := c.cmd.Process.Kill()
	c.wait.Do(func() { _ = c.cmd.Wait() })
	return err
}

// CPU returns the child's user+system CPU time so far, from /proc (Linux);
// 0 when it cannot be read.
func (c *Child) CPU() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}
