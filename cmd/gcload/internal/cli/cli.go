// Package cli wires gcload's commands (cobra): one file per command, each
// a constructor over an options struct; exit codes are attached to errors
// where they are made and mapped once, in Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/reports"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Version is gcload's version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// Env is what commands may touch of the process.
type Env struct {
	Stdout, Stderr io.Writer
	// IsTerminal reports whether Stderr, where live progress goes, is a
	// terminal; Width returns its width in columns (0: unknown).
	IsTerminal bool
	Width      func() int
	// Signals delivers interrupts (Ctrl-C, SIGTERM); nil means none. The
	// first stops the command as Ctrl-C does (a run stops its load,
	// drains and writes its results), the second ends the process at once
	// through Exit (when Exit is nil, it abandons what the command was
	// waiting for instead).
	Signals <-chan os.Signal
	Exit    func(code int)
	Now     func() time.Time
	Args    []string
	// Getenv reads the environment (the admin token); nil reads nothing.
	Getenv func(string) string

	// clockSkew is test-only: how far this process's clock is taken to
	// be off, standing for a machine whose clock is wrong (gcload run
	// --coordinator has its offset measured with a clock skewed by it and
	// corrects for it like any other offset). Nothing in gcload sets it:
	// only the test binary does, from GCLOAD_TEST_CLOCK_SKEW, when it
	// runs as a child gcload (main_test.go).
	clockSkew time.Duration
}

// getenv reads an environment variable through Getenv ("" without it).
func (e *Env) getenv(name string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(name)
}

// NewEnv returns the real process environment.
func NewEnv() *Env {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	return &Env{
		Stdout: os.Stdout, Stderr: os.Stderr, IsTerminal: term.IsTerminal(int(os.Stderr.Fd())), // progress goes to standard error
		Width: func() int {
			w, _, err := term.GetSize(int(os.Stderr.Fd()))
			if err != nil {
				return 0
			}
			return w
		},
		Signals: sig, Exit: os.Exit, Now: time.Now, Args: os.Args[1:], Getenv: os.Getenv,
	}
}

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode attaches an exit code to an error.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// badInput marks an error as the user's input being wrong (exit 2).
func badInput(err error) error { return withCode(reports.ExitBadInput, err) }

// errSilent is an exit code with nothing more to print (the command
// printed its verdict already).
type errSilent struct{ code int }

func (e errSilent) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// Main runs gcload with env and returns the exit code.
func Main(env *Env) int {
	root := NewRootCmd(env)
	root.SetArgs(env.Args)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	// started is set once cobra has parsed the flags and checked the
	// arguments: an error before it is a usage error (unknown command or
	// flag, wrong arguments), one after it without a code is gcload's own
	started := false
	pre := root.PersistentPreRunE
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		started = true
		return pre(cmd, args)
	}
	ctx, stop := interrupts(context.Background(), env)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return reports.ExitPass
	}
	var s errSilent
	if errors.As(err, &s) {
		return s.code
	}
	fmt.Fprintln(env.Stderr, "gcload:", err)
	var e *exitError
	switch {
	case errors.As(err, &e):
		return e.code
	case !started:
		return reports.ExitBadInput
	}
	return reports.ExitInternal
}

// NewRootCmd builds the command tree.
func NewRootCmd(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "gcload",
		Short: "Load testing and conformance for SIP persistent group chat",
		Long: `gcload drives simulated group chat users (OCS/Lync/Skype for Business
persistent chat: XCCOS over SIP) against a server, measures latency and
delivery honestly, checks every protocol rule, and runs a reference server.

Exit codes: 0 pass, 1 internal error, 2 bad input, 3 failed (a threshold
or a health check: users not signed in, sessions lost, operations skipped,
a shard of a distributed run dead or missing), 4 conformance failed,
5 invalid run (the generator was the bottleneck), 6 aborted (Ctrl-C,
SIGTERM, --deadline), 7 target unreachable or no work done (a distributed
run whose shards were not all ready), 8 compare inconclusive.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	var cpuProfile, memProfile string
	var stopProfile func()
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the command to this file")
	root.PersistentFlags().StringVar(&memProfile, "memprofile", "", "write a heap profile (pprof) at the end of the command to this file, and one to FILE.N at each SIGUSR1 (after a garbage collection that returns the freed memory to the system)")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		stop, err := startProfiles(cpuProfile, memProfile)
		stopProfile = stop
		return badInput(err)
	}
	root.PersistentPostRun = func(*cobra.Command, []string) {
		if stopProfile != nil {
			stopProfile()
			stopProfile = nil
		}
	}
	root.AddCommand(
		NewCmdVersion(env),
		NewCmdServe(env, nil),
		NewCmdCompliance(env),
		NewCmdCert(env),
		NewCmdRun(env, nil),
		NewCmdScenario(env),
		NewCmdMerge(env, nil),
		NewCmdCoordinate(env, nil),
		NewCmdConform(env, nil),
		NewCmdReport(env),
		NewCmdCompare(env),
		NewCmdCalibrate(env),
		NewCmdCapacity(env),
		NewCmdK8s(env, nil),
	)
	for _, c := range root.Commands() {
		usageErrors(c)
		stopProfilesOnError(c, &stopProfile)
	}
	return root
}

// stopProfilesOnError writes the profiles of a command that fails too:
// cobra runs PersistentPostRun only after a RunE that succeeded, and a
// failed or invalid run is the one worth profiling.
func stopProfilesOnError(c *cobra.Command, stop *func()) {
	if run := c.RunE; run != nil {
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			if err != nil && *stop != nil {
				(*stop)()
				*stop = nil
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		stopProfilesOnError(sub, stop)
	}
}

// usageErrors makes the argument check of c and its subcommands say
// how the command is used, instead of cobra's count of arguments.
func usageErrors(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				n := "no arguments"
				switch len(args) {
				case 0:
				case 1:
					n = "1 argument"
				default:
					n = fmt.Sprintf("%d arguments", len(args))
				}
				return fmt.Errorf("usage: %s (given %s; see %s --help)", cmd.UseLine(), n, cmd.CommandPath())
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageErrors(sub)
	}
}

// NewCmdVersion builds `gcload version`.
func NewCmdVersion(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print gcload's version, its Go version and platform",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			rev := ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, kv := range bi.Settings {
					switch kv.Key {
					case "vcs.revision":
						rev = "commit " + kv.Value[:min(12, len(kv.Value))] + rev
					case "vcs.modified":
						if kv.Value == "true" {
							rev += " (modified)"
						}
					}
				}
			}
			if rev != "" {
				rev += ", "
			}
			fmt.Fprintf(env.Stdout, "gcload %s (%s%s, %s/%s)\n", Version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// interrupts returns a context cancelled on the first interrupt (or
// SIGTERM), carrying one cancelled on the second (loadrun.WithDrain). On the
// second, the process ends at once with ExitAborted when env.Exit is set.
func interrupts(parent context.Context, env *Env) (context.Context, func()) {
	first, cancel1 := context.WithCancelCause(parent)
	second, cancel2 := context.WithCancel(parent)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n := 0
		for {
			select {
			case <-done:
				return
			case sig, ok := <-env.Signals:
				if !ok {
					return
				}
				n++
				if n == 1 {
					fmt.Fprintf(env.Stderr, "\ngcload: %s: stopping, then writing what there is (again to exit at once)\n", signalName(sig))
					cancel1(fmt.Errorf("%w (%s)", errInterrupted, signalName(sig)))
					continue
				}
				fmt.Fprintf(env.Stderr, "\ngcload: %s again: exiting now\n", signalName(sig))
				cancel2()
				if env.Exit != nil {
					env.Exit(reports.ExitAborted)
				}
				return
			}
		}
	}()
	return loadrun.WithDrain(first, second), func() { close(done); wg.Wait(); cancel1(nil); cancel2() }
}

// errInterrupted is the cause of a context a signal cancelled.
var errInterrupted = errors.New("interrupted")

func signalName(sig os.Signal) string {
	if sig == syscall.SIGTERM {
		return "SIGTERM"
	}
	return "interrupted"
}
