package cli

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
)

// TestMessages: a usage line rather than cobra's count of arguments, no
// package names in messages, the flag the user typed named (not --set),
// gcload version.
func TestMessages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report"}, reports.ExitBadInput, "usage: gcload report RESULTS_DIR"},
		{[]string{"compare", "a"}, reports.ExitBadInput, "usage: gcload compare BASE NEW"},
		{[]string{"report", dir}, reports.ExitBadInput, dir + " is not a results folder (no summary.json)"},
		{[]string{"run", "smoke", "--target", "sip:ocschat@example.com", "--server", "nocolon"}, reports.ExitBadInput, "--server: target.server: \"nocolon\" is not host:port"},
		{[]string{"version"}, 0, "gcload " + Version},
	} {
		r := gcload(t, nil, tc.args...)
		out := r.stdout + r.stderr
		if r.code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want %d and %q in:\n%s", tc.args, r.code, tc.code, tc.want, out)
		}
		for _, leak := range []string{"reports: ", "accepts 1 arg", "--set target"} {
			if strings.Contains(out, leak) {
				t.Errorf("%v: the output says %q:\n%s", tc.args, leak, out)
			}
		}
	}
}

// TestReadmeServeExample: README's serve command works as written with the
// rooms file gcload ships (the smoke scenario's rooms, as its plan names
// them), and a serve whose input is wrong leaves no database behind.
func TestReadmeServeExample(t *testing.T) {
	t.Parallel()
	rooms, err := refserver.LoadRoomsFile("../../../../examples/rooms.yaml")
	if err != nil {
		t.Fatal(err)
	}
	spec, _, err := scenarios.Load("../../../../scenarios/smoke.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := swarm.NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	want := plan.AdminRooms(spec.Rooms.Privacy)
	if len(rooms) != len(want) {
		t.Fatalf("examples/rooms.yaml has %d rooms, the smoke plan %d", len(rooms), len(want))
	}
	for i := range want {
		if rooms[i].ID != want[i].ID || string(rooms[i].Privacy) != want[i].Privacy || !slices.Equal(rooms[i].Members, want[i].Members) {
			t.Errorf("room %d: %s %s %v, the plan's %s %s %v", i, rooms[i].ID, rooms[i].Privacy, rooms[i].Members, want[i].ID, want[i].Privacy, want[i].Members)
		}
	}

	dir := t.TempDir()
	db := filepath.Join(dir, "gc.db")
	r := gcload(t, nil, "serve", "--listen", "127.0.0.1:0", "--db", db, "--admin", "127.0.0.1:0", "--rooms", filepath.Join(dir, "nope.yaml"))
	if r.code != reports.ExitBadInput {
		t.Fatalf("missing rooms file: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(db); err == nil {
		t.Fatal("a serve that did not start left its database behind")
	}
	// the admin port taken: the database and the token file were made,
	// and go again
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r = gcload(t, nil, "serve", "--listen", "127.0.0.1:0", "--db", db, "--admin", busy.Addr().String())
	if r.code != reports.ExitBadInput {
		t.Fatalf("admin port taken: exit %d\n%s", r.code, r.stderr)
	}
	if left, _ := filepath.Glob(db + "*"); len(left) > 0 {
		t.Fatalf("a serve that did not start left %v behind", left)
	}

	// as written (the port and the admin API's on 0: any free one)
	pr, pw := io.Pipe()
	sig := make(chan os.Signal, 1)
	served := make(chan int, 1)
	go func() {
		env := &Env{Stdout: pw, Stderr: io.Discard, Signals: sig, Now: time.Now,
			Args: []string{"serve", "--listen", "127.0.0.1:0", "--db", db, "--admin", "127.0.0.1:0", "--rooms", "../../../../examples/rooms.yaml"}}
		served <- Main(env)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed %q: %v (exit %d)", line, err, <-served)
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`SIP on (\S+).*, lookup (\S+),`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("serve's first line: %q", line)
	}
	// the smoke scenario finds its rooms there without --admin
	out := filepath.Join(dir, "res")
	run := gcload(t, nil, []string{"run", "smoke", "--target", m[2], "--server", m[1], "--out", out,
		"--set", "phases.steady.duration=2s", "--set", "drain=500ms", "--set", "phases.signin.signin.rate=100/s", "--progress", "none"}...)
	sig <- os.Interrupt
	if code := <-served; code != 0 {
		t.Errorf("serve exit %d", code)
	}
	s := readSummary(t, out)
	if s.Users.SignedIn != 50 || s.Delivery.Expected == 0 || s.Delivery.Lost != 0 {
		t.Fatalf("run against the README's server: exit %d, users %+v, delivery %+v\n%s", run.code, s.Users, s.Delivery, run.stdout)
	}
}
