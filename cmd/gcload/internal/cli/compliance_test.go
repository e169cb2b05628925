package cli

import (
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcload/gcload/refserver/compliance"
	"github.com/gcload/gcload/reports"
)

// exportedPosts validates the XML files against the XSD (with xmllint
// when installed; they are decoded in any case) and counts each CHAT
// message of the run (its text starts with the post marker).
func exportedPosts(t *testing.T, files []string) map[string]int {
	t.Helper()
	xsd := filepath.Join(t.TempDir(), "compliance.xsd")
	if err := os.WriteFile(xsd, compliance.Schema, 0o644); err != nil {
		t.Fatal(err)
	}
	xmllint, lintErr := exec.LookPath("xmllint")
	if lintErr != nil {
		t.Log("xmllint (Debian's libxml2-utils) is not installed: the export is decoded, not validated")
	}
	type doc struct {
		Conversations []struct {
			Messages []struct {
				Type    string `xml:"type,attr"`
				Content string `xml:"content,attr"`
			} `xml:"Messages>Message"`
		} `xml:"Conversation"`
	}
	posts := map[string]int{}
	for _, f := range files {
		var doc doc
		if lintErr == nil {
			if out, err := exec.Command(xmllint, "--noout", "--schema", xsd, f).CombinedOutput(); err != nil {
				t.Fatalf("%s does not validate: %v\n%s", f, err, out)
			}
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := xml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range doc.Conversations {
			for _, m := range c.Messages {
				if m.Type == "CHAT" && strings.HasPrefix(m.Content, "gcl:") {
					posts[m.Content]++
				}
			}
		}
	}
	return posts
}

// TestComplianceExportAfterRun: after a smoke run against `gcload serve
// --compliance-dir`, the files serve exported on its interval and those
// `gcload compliance export` writes afterwards (resuming where serve
// stopped) validate against the XSD and hold every acknowledged post of the
// run exactly once; a second export finds nothing new.
func TestComplianceExportAfterRun(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "gc.db")
	served := t.TempDir()
	run, out := runAgainstServe(t, []string{"--db", db, "--compliance-dir", served, "--compliance-every", "300ms"}, "--set", "phases.steady.posts.rate=20/s")
	// a busy machine may make the generator late (invalid, exit 5): the
	// archive is judged all the same
	if run.code != 0 && run.code != reports.ExitInvalidRun {
		t.Fatalf("run: exit %d\n%s%s", run.code, run.stdout, run.stderr)
	}
	acked := readSummary(t, out).Delivery.Posts
	later := t.TempDir()
	r := gcload(t, nil, "compliance", "export", "--db", db, "--out", later)
	if r.code != 0 {
		t.Fatalf("compliance export: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	a, _ := filepath.Glob(filepath.Join(served, "*.xml"))
	b, _ := filepath.Glob(filepath.Join(later, "*.xml"))
	if len(a) == 0 {
		t.Fatal("serve --compliance-dir exported nothing during the run")
	}
	posts := exportedPosts(t, append(a, b...))
	if int64(len(posts)) != acked || acked == 0 {
		t.Errorf("%d posts exported, %d acknowledged", len(posts), acked)
	}
	for p, n := range posts {
		if n != 1 {
			t.Errorf("post %.40s exported %d times", p, n)
		}
	}
	r = gcload(t, nil, "compliance", "export", "--db", db, "--out", later)
	if r.code != 0 || !strings.Contains(r.stdout, "0 records in 0 files") {
		t.Fatalf("a second export: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestComplianceExportBadInput: each mistake is named, exit 2, and no
// database is created.
func TestComplianceExportBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--db", missing}, "--out"},
		{[]string{"--db", missing, "--out", dir}, "no such database file"},
		{[]string{"--db", missing, "--out", dir, "--since", "yesterday"}, `--since "yesterday"`},
		{[]string{"--db", missing, "--out", dir, "--since", "2026-12-02T00:00:00Z", "--until", "2026-12-01T00:00:00Z"}, "is not before --until"},
	} {
		r := gcload(t, nil, append([]string{"compliance", "export"}, c.args...)...)
		if r.code != reports.ExitBadInput || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d naming %q", c.args, r.code, r.stderr, reports.ExitBadInput, c.want)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("the export created the missing database")
	}
}

// TestComplianceCrossCheck: the compliance scenario passes against `gcload
// serve`, and fails (exit 3) against a server that archives only nine
// posts in ten, with compliance_missing one in ten of the acknowledged
// posts and the reason saying so, and against one that records some joins
// twice, with compliance_extra.
func TestComplianceCrossCheck(t *testing.T) {
	t.Parallel()
	short := []string{"--set", "users.count=20", "--set", "rooms.classes[0].count=2", "--set", "phases.steady.duration=3s", "--set", "phases.steady.posts.rate=20/s"}
	for _, c := range []struct {
		faults string
		code   int
	}{{"", 0}, {"drop-archive-records", reports.ExitThresholds}, {"duplicate-archive-records", reports.ExitThresholds}} {
		var serveArgs []string
		if c.faults != "" {
			serveArgs = []string{"--misbehave", c.faults}
		}
		run, out := runScenarioAgainstServe(t, "compliance", serveArgs, short...)
		// a busy machine may make the generator late: invalid (exit 5)
		// beats fail, and the figures below are judged all the same
		if run.code != c.code && run.code != reports.ExitInvalidRun {
			t.Fatalf("misbehave %q: exit %d, want %d\n%s%s", c.faults, run.code, c.code, run.stdout, run.stderr)
		}
		s := readSummary(t, out)
		cc := s.Compliance
		if cc == nil || cc.Error != "" || cc.Checked < s.Delivery.Posts || s.Delivery.Posts == 0 {
			t.Fatalf("misbehave %q: compliance %+v for %d posts", c.faults, cc, s.Delivery.Posts)
		}
		switch c.faults {
		case "", "drop-archive-records":
			// the fault skips the archive record of every 10th post it stores
			want := int64(0)
			if c.faults != "" {
				want = s.Delivery.Posts / 10
			}
			if cc.Missing < want || cc.Missing > want+1 || cc.Extra != 0 || s.Counters[reports.CounterComplianceMissing] != cc.Missing {
				t.Errorf("misbehave %q: %d posts acknowledged, compliance %+v, counters %v; want %d missing", c.faults, s.Delivery.Posts, cc, s.Counters, want)
			}
			if c.faults != "" && !strings.Contains(run.stdout, "missing from the compliance archive") {
				t.Errorf("the verdict's reasons do not name the missing records:\n%s", run.stdout)
			}
		default:
			// every 5th join is recorded twice: of the 12 users in rooms
			// (quick's room size), their sign-in joins and the churn's
			// rejoins
			if cc.Missing != 0 || cc.Extra < 2 || s.Counters[reports.CounterComplianceExtra] != cc.Extra || !strings.Contains(run.stdout, "compliance_extra") ||
				len(cc.Examples) == 0 || !strings.Contains(cc.Examples[0], "JOIN of") {
				t.Errorf("misbehave %q: compliance %+v\n%s", c.faults, cc, run.stdout)
			}
		}
	}
}
