package loadrun_test

import (
	"context"
	"encoding/json"
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

// sink keeps the intervals a run streams to it.
type sink struct{ recs []reports.IntervalRecord }

func (s *sink) WriteInterval(r reports.IntervalRecord) error {
	s.recs = append(s.recs, r)
	return nil
}

// broken is a writer that fails.
type broken struct{}

func (broken) Write([]byte) (int, error) { return 0, errors.New("disk full") }

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
	streamed := &sink{}
	res, err := loadrun.Run(ctx, parse(t, tiny), loadrun.Options{
		Target: tg, Tick: 250 * time.Millisecond, Observer: obs,
		Output: loadrun.Output{Dir: dir, Report: true, Version: "test"},
		// a stream that fails does not stop the run nor the others
		Streams: []reports.IntervalSink{reports.NewJSONStream(broken{}), streamed},
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
	// every interval streamed, in order, with the phase it belongs to
	if len(streamed.recs) != len(res.Intervals) {
		t.Fatalf("%d intervals streamed, the result has %d", len(streamed.recs), len(res.Intervals))
	}
	var posts int64
	for i, r := range streamed.recs {
		if r.Interval != i || !r.End.Equal(res.Intervals[i].End) {
			t.Errorf("streamed interval %d is #%d ending %v, want %v", i, r.Interval, r.End, res.Intervals[i].End)
		}
		posts += r.Ops[reports.OpPostAck].Count
	}
	if last := streamed.recs[len(streamed.recs)-1]; posts != s.Ops[reports.OpPostAck].Count || last.Phase != reports.DrainPhase {
		t.Errorf("streamed %d posts (summary: %d), last interval in phase %q", posts, s.Ops[reports.OpPostAck].Count, last.Phase)
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
		"nil stream":                   {loadrun.Options{Streams: []reports.IntervalSink{nil}}, "stream 1 is nil"},
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

// TestRunJoin: Options.Join is asked for the start once the run is ready
// (the rooms provisioned), and its clock is recorded; its error ends the
// run with nothing written.
func TestRunJoin(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t)
	tg := target.Target{Lookup: srv.LookupURI(), Servers: []string{srv.TCPAddr()}, Admin: srv.AdminURL(), AdminToken: refservertest.AdminToken}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var start time.Time
	provisioned := false
	const offset = -10*time.Second + 1500*time.Microsecond // the coordinator's clock 10 s behind
	res, err := loadrun.Run(ctx, parse(t, tiny), loadrun.Options{Target: tg, Join: func(context.Context) (time.Time, *loadrun.Clock, error) {
		provisioned = len(srv.Hub().Rooms()) > 0
		start = time.Now().Add(200 * time.Millisecond)
		return start, &loadrun.Clock{Offset: offset, Uncertainty: 80 * time.Microsecond, RTT: 160 * time.Microsecond, Samples: 16}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	if !provisioned || s.Clock == nil || s.Clock.OffsetUS != offset.Microseconds() || s.Clock.UncertaintyUS != 80 || s.Clock.Samples != 16 {
		t.Fatalf("provisioned before the join %v, clock %+v", provisioned, s.Clock)
	}
	// the run's start, on the coordinator's clock: the local start plus the offset
	if d := s.Start.Sub(start.Add(offset)); d != 0 || s.Users.SignedIn != 4 {
		t.Fatalf("start %v, want %v (%v off); users %+v", s.Start, start.Add(offset), d, s.Users)
	}
	// every time of the run is on that clock: the intervals, and the
	// measurement's samples, whose posting window is found from the start
	if ivs := res.Intervals; len(ivs) == 0 || ivs[0].Start.Before(s.Start.Add(-time.Second)) || ivs[len(ivs)-1].End.After(s.End.Add(time.Second)) {
		t.Fatalf("intervals from %v to %v, the run from %v to %v", ivs[0].Start, ivs[len(ivs)-1].End, s.Start, s.End)
	}
	var m loadrun.Measurement
	if err := json.Unmarshal(res.Extra[loadrun.FileMeasurement], &m); err != nil || m.WallSeconds <= 0 || m.OfferedPostsPerSec <= 0 {
		t.Fatalf("measurement over the posting window: %+v %v", m.Measurement, err)
	}
	dir := filepath.Join(t.TempDir(), "res")
	refused := errors.New("the run will not start")
	_, err = loadrun.Run(ctx, parse(t, tiny), loadrun.Options{Target: tg, Output: loadrun.Output{Dir: dir}, Join: func(context.Context) (time.Time, *loadrun.Clock, error) {
		return time.Time{}, nil, refused
	}})
	if !errors.Is(err, refused) {
		t.Fatalf("Join's error: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("a run that did not start wrote results")
	}
}
