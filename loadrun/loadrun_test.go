package loadrun_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
	"github.com/gcload/gcload/target"
)

const tiny = `
name: tiny
seed: 2
users: {count: 4}
rooms:
  classes: [{name: room, size: 4, count: 1}]
phases:
  - name: signin
    signin: {rate: 50/s, arrival: constant}
  - name: steady
    duration: 2s
    posts: {rate: 5/s}
drain: 300ms
thresholds: [lost == 0]
`

func parse(t *testing.T, yaml string) *scenarios.Spec {
	t.Helper()
	spec, _, err := scenarios.Parse("tiny.yaml", []byte(yaml), nil)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// observer records what a run told it.
type observer struct {
	info         loadrun.Info
	ticks, dones int
}

func (o *observer) Started(i loadrun.Info) { o.info = i }
func (o *observer) Tick(reports.Snapshot)  { o.ticks++ }
func (o *observer) Done()                  { o.dones++ }

// TestRunAgainstTarget: Options.Target sends the load to a server of the
// test's own (rooms provisioned through its admin API with the token),
// the observer follows, and the results folder and report are written
// with the target the run used.
func TestRunAgainstTarget(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t)
	tg := target.Target{Lookup: srv.LookupURI(), Servers: []string{srv.TCPAddr()}, Admin: srv.AdminURL(), AdminToken: refservertest.AdminToken}
	dir := filepath.Join(t.TempDir(), "res")
	obs := &observer{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := loadrun.Run(ctx, parse(t, tiny), loadrun.Options{
		Target: tg, Tick: 250 * time.Millisecond, Observer: obs,
		Output: loadrun.Output{Dir: dir, Report: true, Version: "test"},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if s.Verdict != reports.VerdictPass || s.Users.SignedIn != 4 || s.Delivery.Expected == 0 || s.Delivery.Lost != 0 {
		t.Fatalf("verdict %s, users %+v, delivery %+v, reasons %v", s.Verdict, s.Users, s.Delivery, s.Reasons)
	}
	if want := tg.Lookup + " at " + tg.Server(); s.Target != want || obs.info.Target != want {
		t.Fatalf("summary target %q, observer's %q, want %q", s.Target, obs.info.Target, want)
	}
	if obs.info.Users != 4 || obs.info.Rooms != 1 || obs.ticks == 0 || obs.dones != 1 {
		t.Fatalf("observer: %+v, %d ticks, %d dones", obs.info, obs.ticks, obs.dones)
	}
	for _, f := range []string{"summary.json", "scenario.yaml", "accounting.gob.gz", "env.json", "measurement.json", "report.html"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("results lack %s", f)
		}
	}
	// the scenario recorded is the one that ran: against the target
	yml, err := os.ReadFile(filepath.Join(dir, "scenario.yaml"))
	if err != nil || !strings.Contains(string(yml), tg.Server()) {
		t.Fatalf("scenario.yaml does not name the server %s: %v\n%s", tg.Server(), err, yml)
	}
}

// TestRunBadInput: what the caller got wrong is ErrInput, and names what.
func TestRunBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, c := range map[string]struct {
		o    loadrun.Options
		want string
	}{
		"shard of the embedded server": {loadrun.Options{Shard: swarm.Shard{Index: 1, Of: 2}}, "shared server"},
		"another domain":               {loadrun.Options{Target: target.Target{Domain: "other.test"}}, `domain "other.test"`},
		"no lookup with the server":    {loadrun.Options{Target: target.Target{Servers: []string{"127.0.0.1:5061"}}}, "target: lookup: missing"},
		"bad server":                   {loadrun.Options{Target: target.Target{Lookup: "sip:ocschat@example.com", Servers: []string{"nocolon"}}}, "target: servers[0]:"},
		"report without folder":        {loadrun.Options{Output: loadrun.Output{Report: true}}, "results folder"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := loadrun.Run(ctx, parse(t, tiny), c.o)
			if !errors.Is(err, loadrun.ErrInput) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want ErrInput naming %q", err, c.want)
			}
		})
	}
	// a lookup URI alone is looked up in DNS (here a server that answers
	// nothing): not found is an unreachable target, not bad input
	_, err := loadrun.Run(ctx, parse(t, tiny), loadrun.Options{Target: target.Target{Lookup: "sip:ocschat@example.com", DNS: "127.0.0.1:1"}})
	if !errors.Is(err, swarm.ErrUnreachable) || errors.Is(err, loadrun.ErrInput) || !strings.Contains(err.Error(), "finding the server of sip:ocschat@example.com") {
		t.Fatalf("lookup found nowhere: %v", err)
	}
}
