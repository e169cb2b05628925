// Command conns runs the peak scenario with one TLS connection per user (the
// client-to-Front-End model) the way the product scales past one process's
// open-file limit: a pool of gcload serve processes on one throw-away
// PostgreSQL, driven by shards under gcload coordinate, all on this
// machine. It prints the users connected, every process's file
// descriptors, the memory per connected idle user on each side (the
// processes' RSS growth and the kernel's socket buffers) and the merged
// verdict. docs/performance.md ("60,000 connections") has the method and
// the figures.
//
//	go run ./bench/conns -gcload bin/gcload                 # 60,000 users, 4 servers, 4 shards
//	go run ./bench/conns -gcload bin/gcload -users 2000 -steady 20s
//
// It needs PostgreSQL's server binaries (initdb, postgres: Debian's
// postgresql package) and ss (iproute2). Its exit code is the run's
// (the coordinator's, the merged verdict's), or 1 when the bench itself
// failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	cfg := defaultConfig()
	flag.StringVar(&cfg.GCLoad, "gcload", "bin/gcload", "the gcload binary to run (make build)")
	flag.IntVar(&cfg.Users, "users", cfg.Users, "users, each with a TLS connection of its own")
	flag.IntVar(&cfg.Servers, "servers", cfg.Servers, "gcload serve processes in the pool, on one PostgreSQL")
	flag.IntVar(&cfg.Shards, "shards", cfg.Shards, "gcload run shards under one gcload coordinate")
	flag.IntVar(&cfg.RoomSize, "room", cfg.RoomSize, "members per room (every user in one room)")
	flag.StringVar(&cfg.SignInRate, "signin-rate", cfg.SignInRate, "sign-ins per second, all shards together")
	flag.DurationVar(&cfg.Idle, "idle", cfg.Idle, "the idle phase after sign-in, in which memory per idle user is read")
	flag.DurationVar(&cfg.Steady, "steady", cfg.Steady, "the steady phase at -posts")
	flag.StringVar(&cfg.Posts, "posts", cfg.Posts, "posts per second in the steady phase")
	flag.BoolVar(&cfg.Move, "move", false, "users move to the server their channel URI names (the lookup's round-robin) instead of staying on their Front End (lookup.stay)")
	flag.StringVar(&cfg.Auth, "auth", cfg.Auth, "sign-in: ntlm or none")
	flag.StringVar(&cfg.Dir, "out", cfg.Dir, "working folder: certificates, accounts, the scenario, logs and results")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "conns:", err)
		os.Exit(1)
	}
	res.Print(os.Stdout)
	os.Exit(res.ExitCode)
}

// errBench marks a failure of the bench itself, not of the run.
var errBench = errors.New("bench")

// logf writes a progress line with the time.
func logf(w io.Writer, format string, a ...any) {
	fmt.Fprintf(w, "%s  %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, a...))
}
