package check_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipclient/check"
	sut "github.com/gcload/gcload/target"
)

const domain = "conform.test"

// target starts a reference server with faults and returns the suite's
// target for it (two channel services, rooms made through the admin API).
func target(t *testing.T, faults fault.Set) check.Target {
	users := refservertest.Users(domain, 4)
	srv := refservertest.Start(t, refserver.WithDomain(domain), refserver.WithChannels(2), refserver.WithFaults(faults),
		refserver.WithAuth(refserver.AuthNTLM), refserver.WithAccounts(credentials(users)...),
		refserver.WithFiles(refserver.Files{Listen: "127.0.0.1:0", Dir: t.TempDir()}))
	return check.Target{
		Target:          sut.Target{Servers: []string{srv.TCPAddr()}, Domain: domain, Admin: srv.AdminURL(), AdminToken: refservertest.AdminToken, Password: "pass{i}"},
		ChannelServices: 2,
		Users:           users,
	}
}

// credentials are the accounts of users with the password pattern
// pass{i} the targets give.
func credentials(users []string) []accounts.Credential {
	out := make([]accounts.Credential, len(users))
	for i, u := range users {
		out[i] = accounts.Credential{URI: u, Password: fmt.Sprintf("pass%d", i)}
	}
	return out
}

func run(t *testing.T, tg check.Target, o check.Options) *check.Report {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := check.Run(ctx, tg, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func describe(rep *check.Report) string {
	var b strings.Builder
	for _, r := range rep.Results {
		if r.Status == check.Pass {
			continue
		}
		b.WriteString("\n  " + string(r.Status) + " " + r.ID + " " + r.Skipped)
		for _, f := range r.Failures {
			b.WriteString("\n    " + f.Detail)
		}
	}
	return b.String()
}

func TestCleanServerPassesEveryRule(t *testing.T) {
	t.Parallel()
	rep := run(t, target(t, fault.Set{}), check.Options{})
	if len(rep.Results) != len(check.Rules) {
		t.Fatalf("%d results for %d rules", len(rep.Results), len(check.Rules))
	}
	for _, r := range rep.Results {
		if r.Status != check.Pass {
			t.Errorf("%s: %s%s", r.ID, r.Status, describe(rep))
			break
		}
		if r.Checks == 0 {
			t.Errorf("%s passed without a single check", r.ID)
		}
	}
}

// TestEveryMisbehaviourFailsExactlyItsRules is the matrix: each fault of
// the reference server, alone, fails exactly the rules it names.
func TestEveryMisbehaviourFailsExactlyItsRules(t *testing.T) {
	t.Parallel()
	faults := fault.All()
	if testing.Short() {
		t.Skip("the matrix starts a server per fault; run without -short")
	}
	// Six servers at once: a loaded machine must not make a clean answer
	// late. The subtests run on goroutines of their own, bounded by sem,
	// rather than under t.Parallel, which -parallel (GOMAXPROCS: 2 on a
	// 2-core machine) would bound: they mostly wait out the suite's
	// timeouts.
	sem := make(chan struct{}, 6)
	var wg sync.WaitGroup
	for _, f := range faults {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(string(f.Name), func(t *testing.T) {
				rep := run(t, target(t, fault.Set{}.With(f.Name)), check.Options{})
				got := rep.FailedRules()
				want := slices.Clone(f.Rules)
				sort.Strings(got)
				sort.Strings(want)
				if !slices.Equal(got, want) {
					t.Errorf("failed rules %v, want exactly %v%s", got, want, describe(rep))
				}
			})
		}()
	}
	wg.Wait()
}

// TestEveryRuleHasAMisbehaviour: no rule without a fault that trips it.
func TestEveryRuleHasAMisbehaviour(t *testing.T) {
	tripped := map[string]bool{}
	for _, f := range fault.All() {
		for _, r := range f.Rules {
			if _, ok := check.RuleByID(r); !ok {
				t.Errorf("fault %s names rule %q, which the suite does not have", f.Name, r)
			}
			tripped[r] = true
		}
	}
	for _, r := range check.Rules {
		if !tripped[r.ID] {
			t.Errorf("rule %s has no misbehaviour that trips it", r.ID)
		}
	}
}

// TestBothLookupFlows: the suite runs the client flow (INVITE, INFO
// cmd:requri, BYE) and the console flow (183, CANCEL, 487), and the server
// saw both.
func TestBothLookupFlows(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t, refserver.WithDomain(domain), refserver.WithChannels(3))
	tg := check.Target{Target: sut.Target{Servers: []string{srv.TCPAddr()}, Domain: domain, Admin: srv.AdminURL(), AdminToken: refservertest.AdminToken}, ChannelServices: 3, Users: refservertest.Users(domain, 4)}
	sel, err := check.SelectRules([]string{"lookup/", "flow/"})
	if err != nil {
		t.Fatal(err)
	}
	rep := run(t, tg, check.Options{Rules: sel})
	if rep.Failed() || rep.Counts[check.Pass] != 3 {
		t.Fatalf("counts %v%s", rep.Counts, describe(rep))
	}
	st := srv.Stats().Lookup
	if st.Cancels != 1 || st.Lookups != 7 { // 6 client-flow lookups (two turns of 3) + 1 console
		t.Fatalf("the lookup service saw %d lookups and %d cancels, want 7 and 1", st.Lookups, st.Cancels)
	}
}

func TestSelectRules(t *testing.T) {
	sel, err := check.SelectRules([]string{"fanout/", "dialog/481-unknown"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for id := range sel {
		got = append(got, id)
	}
	sort.Strings(got)
	want := []string{"dialog/481-unknown", "fanout/author-echo", "fanout/chat-fields", "fanout/exactly-once", "fanout/order"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if _, err := check.SelectRules([]string{"fanout/nope"}); err == nil || !strings.Contains(err.Error(), `unknown rule "fanout/nope"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestJUnit: the JUnit file has the usual shape (testsuites, testsuite,
// one testcase per rule named by its ID, failure or skipped inside) and
// its counts agree with its test cases.
func TestJUnit(t *testing.T) {
	t.Parallel()
	sel, _ := check.SelectRules([]string{"fanout/", "access/", "room/"})
	users := refservertest.Users(domain, 4)
	srv := refservertest.Start(t, refserver.WithDomain(domain), refserver.WithFaults(fault.Set{}.With(fault.NoEcho)),
		refserver.WithRooms(refservertest.Room("chat", users[:3]...)))
	// no admin API, no closed or disabled room: those rules skip
	tg := check.Target{Target: sut.Target{Servers: []string{srv.TCPAddr()}, Domain: domain}, Users: users, Rooms: check.Rooms{Chat: "chat"}}
	rep := run(t, tg, check.Options{Rules: sel})
	var buf bytes.Buffer
	if err := rep.WriteJUnit(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name `xml:"testsuites"`
		Suites  []struct {
			Name     string `xml:"name,attr"`
			Tests    int    `xml:"tests,attr"`
			Failures int    `xml:"failures,attr"`
			Skipped  int    `xml:"skipped,attr"`
			Cases    []struct {
				Name      string `xml:"name,attr"`
				Classname string `xml:"classname,attr"`
				Failure   *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
				Skipped *struct {
					Message string `xml:"message,attr"`
				} `xml:"skipped"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("JUnit does not parse: %v\n%s", err, buf.String())
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d testsuites", len(doc.Suites))
	}
	s := doc.Suites[0]
	failures, skipped := map[string]bool{}, map[string]bool{}
	for _, c := range s.Cases {
		if _, ok := check.RuleByID(c.Name); !ok || !strings.HasPrefix(c.Classname, "gcload.conform.") {
			t.Errorf("test case %q (class %q) names no rule", c.Name, c.Classname)
		}
		if c.Failure != nil {
			failures[c.Name] = true
			if c.Failure.Message == "" || !strings.Contains(c.Failure.Text, "back 0 times") {
				t.Errorf("failure of %s says %q / %q", c.Name, c.Failure.Message, c.Failure.Text)
			}
		}
		if c.Skipped != nil {
			skipped[c.Name] = true
		}
	}
	if s.Tests != len(s.Cases) || s.Tests != len(sel) || s.Failures != len(failures) || s.Skipped != len(skipped) {
		t.Fatalf("tests=%d failures=%d skipped=%d for %d cases, %d failed, %d skipped", s.Tests, s.Failures, s.Skipped, len(s.Cases), len(failures), len(skipped))
	}
	if !failures["fanout/author-echo"] || len(failures) != 1 || !skipped["access/closed-room-403"] || !skipped["room/disabled-409"] {
		t.Fatalf("failures %v, skipped %v", failures, skipped)
	}
}

// TestDocsListEveryRuleAndFault keeps docs/conformance.md true to the code.
func TestDocsListEveryRuleAndFault(t *testing.T) {
	doc, err := os.ReadFile("../../docs/conformance.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range check.Rules {
		if !strings.Contains(string(doc), "| `"+r.ID+"` |") {
			t.Errorf("docs/conformance.md has no row for rule %s", r.ID)
		}
	}
	for _, f := range fault.All() {
		if !strings.Contains(string(doc), "`"+string(f.Name)+"`") {
			t.Errorf("docs/conformance.md does not name misbehaviour %s", f.Name)
		}
	}
}

// TestServerInfoNeverReplied: a server that answers the INFO carrying
// cmd:getserverinfo 200 but never sends rpl:getserverinfo (a third-party
// server did, and the suite waited for ever) fails the rules that need
// the reply, each within the timeout, and the suite ends.
func TestServerInfoNeverReplied(t *testing.T) {
	t.Parallel()
	sel, err := check.SelectRules([]string{"reply/", "limits/", "info/"})
	if err != nil {
		t.Fatal(err)
	}
	rep := run(t, target(t, fault.Set{}.With(fault.IgnoreGetServerInfo)), check.Options{Rules: sel, Timeout: time.Second})
	var details []string
	for _, r := range rep.Results {
		for _, f := range r.Failures {
			details = append(details, r.ID+": "+f.Detail)
		}
	}
	got := rep.FailedRules()
	sort.Strings(got)
	if !slices.Equal(got, []string{"limits/message-size", "reply/commandid-envid"}) || !strings.Contains(strings.Join(details, "\n"), "within 1s") {
		t.Fatalf("failed %v:\n%s", got, strings.Join(details, "\n"))
	}
}

// TestAuthRulesWithoutCredentials: against a server that authenticates
// nobody and with no credentials the sign-in rules are skipped, saying
// why; against a digest server the NTLM-only rules are skipped and the
// others pass.
func TestAuthRulesWithoutCredentials(t *testing.T) {
	sel, err := check.SelectRules([]string{"auth/", "register/sipe-headers"})
	if err != nil {
		t.Fatal(err)
	}
	srv := refservertest.Start(t, refserver.WithDomain(domain))
	tg := check.Target{Target: sut.Target{Servers: []string{srv.TCPAddr()}, Domain: domain, Admin: srv.AdminURL(), AdminToken: refservertest.AdminToken}, Users: refservertest.Users(domain, 4)}
	rep := run(t, tg, check.Options{Rules: sel})
	for _, r := range rep.Results {
		if strings.HasPrefix(r.ID, "auth/") && (r.Status != check.Skip || !strings.Contains(r.Skipped, "no credentials")) {
			t.Errorf("%s: %s %q, want skipped for want of credentials", r.ID, r.Status, r.Skipped)
		}
	}
	users := refservertest.Users(domain, 4)
	dg := refservertest.Start(t, refserver.WithDomain(domain), refserver.WithAuth(refserver.AuthDigest), refserver.WithAccounts(credentials(users)...))
	tg = check.Target{Target: sut.Target{Servers: []string{dg.TCPAddr()}, Domain: domain, Admin: dg.AdminURL(), AdminToken: refservertest.AdminToken, Password: "pass{i}"}, Users: users}
	rep = run(t, tg, check.Options{Rules: sel})
	want := map[string]check.Status{"auth/challenge": check.Pass, "auth/identity": check.Pass, "auth/server-signature": check.Skip, "auth/refuse-unsigned": check.Skip, "register/sipe-headers": check.Pass}
	for _, r := range rep.Results {
		if r.Status != want[r.ID] {
			t.Errorf("digest: %s %s %q, want %s%s", r.ID, r.Status, r.Skipped, want[r.ID], describe(rep))
		}
	}
}

// TestCatalogHasEveryRuleID: the catalogue describes every rule ID of
// package ruleid, once, in ruleid's order, and nothing else.
func TestCatalogHasEveryRuleID(t *testing.T) {
	var got []string
	for _, r := range check.Rules {
		got = append(got, r.ID)
		if r.Title == "" || r.Ref == "" {
			t.Errorf("rule %s has no title or no reference", r.ID)
		}
	}
	if want := ruleid.All(); !slices.Equal(got, want) {
		t.Fatalf("catalogue %v,\nwant ruleid.All() %v", got, want)
	}
}
