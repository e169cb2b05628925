package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/reports"
)

// TestRunOutOfFiles: a generator whose process may open 150 files, with 300
// users each on a connection of its own, runs out of file descriptors. The
// run says so plainly, as the generator's own limit, not the server's: exit
// 5 (invalid), a reason naming the limit and what to do (more shards), the
// failed sign-ins' cause "out of file descriptors", the out_of_files
// counter; not "unreachable", and the server (in this process, with its
// own limit) refused nothing.
func TestRunOutOfFiles(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t)
	out := filepath.Join(t.TempDir(), "res")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "run", "smoke", "--target", srv.LookupURI(), "--server", srv.TCPAddr(),
		"--admin", srv.AdminURL(), "--admin-token", srv.AdminToken(), "--out", out, "--progress", "none",
		"--set", "users.count=300", "--set", "rooms.classes[0].count=30", "--set", "phases.signin.signin.rate=600/s",
		"--set", "phases.steady.duration=1s", "--set", "drain=500ms")
	cmd.Env = append(os.Environ(), childEnv+"=1", testNoFileEnv+"=150")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	if code != reports.ExitInvalidRun {
		t.Fatalf("exit %d (%v), want %d\n%s\n%s", code, err, reports.ExitInvalidRun, stdout.String(), stderr.String())
	}
	text := stdout.String()
	for _, want := range []string{
		"verdict: INVALID (exit code 5)",
		"invalid run: out of file descriptors: ",
		"limit 150 per process (RLIMIT_NOFILE) of this generator's process; use more shards",
		"register: out of file descriptors",
		"for lack of file descriptors (out_of_files ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "unreachable") {
		t.Errorf("a generator out of descriptors blamed the target:\n%s", text)
	}
	s := readSummary(t, out)
	n := s.Counters[reports.CounterOutOfFiles]
	if n == 0 || s.Users.SignedIn == 0 || int64(s.Users.Failed) != n || s.Users.SignedIn+s.Users.Failed != 300 {
		t.Fatalf("out_of_files %d, users %+v: want some signed in and every failure out of descriptors", n, s.Users)
	}
	if len(s.Errors) != 1 || s.Errors[0].Cause != "out of file descriptors" {
		t.Fatalf("errors by kind: %+v", s.Errors)
	}
	if st := srv.Stats().SIP; st.Refused > 0 {
		t.Fatalf("the server refused %d connections: the limit was meant to be the generator's", st.Refused)
	}
}
