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
	"syscall"
	"time"

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
	// terminal.
	IsTerminal bool
	// Signals delivers interrupts (Ctrl-C); nil means none.
	Signals <-chan os.Signal
	Now     func() time.Time
	Args    []string
	// Getenv reads the environment (the admin token); nil reads nothing.
	Getenv func(string) string
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
		Signals: sig, Now: time.Now, Args: os.Args[1:], Getenv: os.Getenv,
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
	err := root.Execute()
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

Exit codes: 0 pass, 1 internal error, 2 bad input, 3 thresholds failed,
4 conformance failed, 5 invalid run (the generator was the bottleneck),
6 aborted.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	var cpuProfile, memProfile string
	var stopProfile func()
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the command to this file")
	root.PersistentFlags().StringVar(&memProfile, "memprofile", "", "write a heap profile (pprof) at the end of the command to this file")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		stop, err := startProfiles(cpuProfile, memProfile)
		stopProfile = stop
		return badInput(err)
	}
	root.PersistentPostRun = func(*cobra.Command, []string) {
		if stopProfile != nil {
			stopProfile()
		}
	}
	root.AddCommand(
		NewCmdServe(env, nil),
		NewCmdRun(env, nil),
		NewCmdScenario(env),
		NewCmdMerge(env, nil),
		NewCmdConform(env, nil),
		NewCmdReport(env),
		NewCmdCompare(env),
		NewCmdCalibrate(env),
		NewCmdCapacity(env),
		NewCmdK8s(env, nil),
	)
	return root
}

// interrupts returns a context cancelled on the first interrupt and one
// cancelled on the second: the first stops the load (and drains), the
// second abandons the drain.
func interrupts(parent context.Context, env *Env, stderr io.Writer) (first, second context.Context, stop func()) {
	first, cancel1 := context.WithCancel(parent)
	second, cancel2 := context.WithCancel(parent)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-done:
				return
			case _, ok := <-env.Signals:
				if !ok {
					return
				}
				n++
				if n == 1 {
					fmt.Fprintln(stderr, "\ngcload: interrupted: stopping the load, draining deliveries (interrupt again to stop now)")
					cancel1()
				} else {
					fmt.Fprintln(stderr, "\ngcload: interrupted again: abandoning the drain")
					cancel2()
					return
				}
			}
		}
	}()
	return first, second, func() { close(done); cancel1(); cancel2() }
}
