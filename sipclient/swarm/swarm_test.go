package swarm_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/admin"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
	"github.com/gcload/gcload/target"
)

// known is a scenario with a schedule known in advance: constant arrivals
// only, so the plan's counts are exact.
const known = `
name: known
seed: 7
users: {count: 20}
rooms:
  classes: [{name: k, size: 10, count: 2}]
phases:
  - name: signin
    signin: {rate: 100/s, arrival: constant}
  - name: settle
    duration: 1s
  - name: steady
    duration: 1500ms
    posts: {rate: 20/s, arrival: constant}
  - name: quiet
    duration: 1s
drain: 500ms
`

func loadSpec(t *testing.T, src string, set ...string) *scenarios.Spec {
	t.Helper()
	spec, _, err := scenarios.Parse("test.yaml", []byte(src), set)
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// run runs the plan's shards against srv, concurrently, sharing a start.
func run(t *testing.T, plan *swarm.Plan, srv *refserver.Server, shards int) ([]*swarm.Outcome, []*reports.Recorder) {
	t.Helper()
	start := time.Now().Add(200 * time.Millisecond)
	outs := make([]*swarm.Outcome, shards)
	recs := make([]*reports.Recorder, shards)
	var wg sync.WaitGroup
	for i := 0; i < shards; i++ {
		recs[i] = reports.NewRecorder(start, time.Second)
		sw, err := swarm.New(plan, swarm.Options{
			Target: target.Target{Lookup: srv.LookupURI(), Servers: []string{srv.TCPAddr()}}, Shard: swarm.Shard{Index: i + 1, Of: shards},
			Recorder: recs[i], Start: start,
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := sw.Run(context.Background(), context.Background())
			if err != nil {
				t.Error(err)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return outs, recs
}

func server(t *testing.T, plan *swarm.Plan, opts ...refserver.Option) *refserver.Server {
	return refservertest.Start(t, append([]refserver.Option{refserver.WithRooms(admin.StoreRooms(plan.AdminRooms("closed")...)...)}, opts...)...)
}

func TestPlanDeterministic(t *testing.T) {
	t.Parallel()
	spec := loadSpec(t, known)
	a, err := swarm.NewPlan(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := swarm.NewPlan(spec)
	if !slices.Equal(a.Ops, b.Ops) || a.RunTag != b.RunTag {
		t.Fatal("two plans of one scenario differ")
	}
	c := a.Counts(swarm.Shard{Index: 1, Of: 1})
	if c[swarm.KindSignIn] != 20 || c[swarm.KindPost] != 30 {
		t.Fatalf("planned %v, want 20 sign-ins and 30 posts", c)
	}
	other, _ := swarm.NewPlan(loadSpec(t, known, "seed=8"))
	if slices.Equal(a.Ops, other.Ops) {
		t.Fatal("another seed gives the same plan")
	}
	// shards partition the operations
	total := 0
	for i := 1; i <= 3; i++ {
		for _, n := range a.Counts(swarm.Shard{Index: i, Of: 3}) {
			total += n
		}
	}
	if total != len(a.Ops) {
		t.Fatalf("3 shards hold %d operations, the plan %d", total, len(a.Ops))
	}
}

// TestKnownSchedule: exactly the planned posts and deliveries, none lost,
// and latency histograms with the right counts.
func TestKnownSchedule(t *testing.T) {
	t.Parallel()
	plan, err := swarm.NewPlan(loadSpec(t, known))
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, plan)
	outs, recs := run(t, plan, srv, 1)
	o, rec := outs[0], recs[0]
	d := o.Accounted.Delivery
	if d.Posts != 30 || d.Expected != 300 || d.Received != 300 || d.Lost != 0 || d.Duplicated != 0 || d.OutOfOrder != 0 || d.Spoofed != 0 || d.Extra != 0 {
		t.Fatalf("delivery %+v, want 30 posts, 300 expected and received", d)
	}
	if o.Users.SignedIn != 20 {
		t.Fatalf("%d users signed in", o.Users.SignedIn)
	}
	for op, want := range map[reports.Op]int64{reports.OpPostAck: 30, reports.OpPostToDelivery: 300, reports.OpSignIn: 20, reports.OpJoin: 20} {
		if got := rec.Histogram(op).TotalCount(); got != want {
			t.Errorf("%s histogram has %d values, want %d", op, got, want)
		}
	}
	if got := o.Accounted.LastDelivery.TotalCount(); got != 30 {
		t.Errorf("post_to_last_delivery has %d values, want 30", got)
	}
	// The fan-out completions reached the Recorder as they completed,
	// during the run (the live metrics read it), with the values the final
	// accounting finds: every member was online from the start, so the
	// live and final figures agree exactly.
	live, final := rec.Histogram(reports.OpPostToLastDelivery), o.Accounted.LastDelivery
	if live.TotalCount() != 30 || live.Max() != final.Max() || live.ValueAtQuantile(50) != final.ValueAtQuantile(50) || live.Min() != final.Min() {
		t.Errorf("live post_to_last_delivery: %d values, min %d, p50 %d, max %d µs; final: %d, %d, %d, %d",
			live.TotalCount(), live.Min(), live.ValueAtQuantile(50), live.Max(), final.TotalCount(), final.Min(), final.ValueAtQuantile(50), final.Max())
	}
	early := int64(0) // completions in intervals closed 1 s before the end (the quiet phase and the drain)
	for _, iv := range rec.Intervals() {
		if h := iv.Hists[reports.OpPostToLastDelivery]; h != nil && !iv.End.After(o.End.Add(-time.Second)) {
			early += h.TotalCount()
		}
	}
	if early < 20 {
		t.Errorf("only %d fan-out completions recorded before the quiet phase; they must be recorded as they complete", early)
	}
	// posts go out when due, not when the dispatcher next sleeps (the
	// quiet phase after the posts would hold a forgotten one for 1 s)
	for i, p := range o.Data.Posts {
		if late := time.Duration(p.Acked - p.Intended); late > 500*time.Millisecond {
			t.Errorf("post %d answered %s after its intended time", i, late)
		}
	}
	if c := rec.Counters(); c[reports.CounterDropped] != 0 || c[reports.CounterErrors] != 0 || c[reports.CounterViolations] != 0 {
		t.Errorf("counters %v", c)
	}
	if st := srv.Stats(); st.Channel.Posts != 30 || st.Channel.Deliveries != 300 {
		t.Fatalf("the server stored %d posts and sent %d deliveries", st.Channel.Posts, st.Channel.Deliveries)
	}
}

// TestFaultsCaught: a server that drops 1 delivery in 100, one that
// duplicates 1 in 100, and one that does both, are caught with the right
// counts. The faults spare the author's own copy: of the 300 deliveries,
// 270 go to other members, so 2 are dropped (the 100th and 200th) and 3
// duplicated (the 50th, 150th, 250th).
func TestFaultsCaught(t *testing.T) {
	t.Parallel()
	for _, f := range []fault.Name{fault.DropDeliveries, fault.DuplicateDeliveries, "both"} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			plan, err := swarm.NewPlan(loadSpec(t, known))
			if err != nil {
				t.Fatal(err)
			}
			faults := fault.Set{}.With(f)
			if f == "both" {
				faults = fault.Set{}.With(fault.DropDeliveries).With(fault.DuplicateDeliveries)
			}
			srv := server(t, plan, refserver.WithFaults(faults))
			outs, recs := run(t, plan, srv, 1)
			d := outs[0].Accounted.Delivery
			st := srv.Stats().Channel
			switch f {
			case fault.DropDeliveries:
				if st.FaultDropped != 2 || d.Lost != 2 || d.Received != 298 || d.Duplicated != 0 {
					t.Fatalf("server dropped %d; accounted %+v", st.FaultDropped, d)
				}
				if outs[0].Accounted.Incomplete != 2 || outs[0].Accounted.LastDelivery.TotalCount() != 28 {
					t.Fatalf("incomplete fan-outs %d", outs[0].Accounted.Incomplete)
				}
				if n := recs[0].Histogram(reports.OpPostToLastDelivery).TotalCount(); n != 28 {
					t.Fatalf("%d fan-outs completed live, want 28 (the 2 with a dropped delivery never complete)", n)
				}
			case fault.DuplicateDeliveries:
				if st.FaultDuplicated != 3 || d.Duplicated != 3 || d.Lost != 0 || d.Received != 300 {
					t.Fatalf("server duplicated %d; accounted %+v", st.FaultDuplicated, d)
				}
			default:
				if st.FaultDropped != 2 || st.FaultDuplicated != 3 || d.Lost != 2 || d.Duplicated != 3 || d.Received != 298 {
					t.Fatalf("server dropped %d, duplicated %d; accounted %+v", st.FaultDropped, st.FaultDuplicated, d)
				}
			}
		})
	}
}

// TestShardsMerge: the shards of a scenario split 3 ways, merged, give the
// counts of the unsplit run.
func TestShardsMerge(t *testing.T) {
	t.Parallel()
	plan, err := swarm.NewPlan(loadSpec(t, known))
	if err != nil {
		t.Fatal(err)
	}
	whole, _ := run(t, plan, server(t, plan), 1)
	parts, recs := run(t, plan, server(t, plan), 3)
	var datas []*swarm.Data
	var posts int64
	for i, p := range parts {
		datas = append(datas, p.Data)
		posts += recs[i].Counters()[reports.CounterPosts]
	}
	merged := swarm.Account(plan, 2*time.Second, datas...)
	if merged.Delivery != whole[0].Accounted.Delivery {
		t.Fatalf("merged %+v\nunsplit %+v", merged.Delivery, whole[0].Accounted.Delivery)
	}
	if posts != 30 || merged.LastDelivery.TotalCount() != whole[0].Accounted.LastDelivery.TotalCount() {
		t.Fatalf("posts %d, fan-outs %d vs %d", posts, merged.LastDelivery.TotalCount(), whole[0].Accounted.LastDelivery.TotalCount())
	}
	// each shard alone sees only its own members' deliveries
	for i, p := range parts {
		if p.Accounted.Delivery.Received >= merged.Delivery.Received {
			t.Fatalf("shard %d accounts %d of %d deliveries", i+1, p.Accounted.Delivery.Received, merged.Delivery.Received)
		}
	}
}

// TestSharedConnsOpenedAtSignIn: a server closes a connection on which no
// user signs in within its sign-in timeout. A shard whose start is later
// than that (a --start-at ahead, a coordinator's barrier), or whose users
// arrive slowly on many shared connections, must not open its shared
// connections before their users sign in: each is opened by its first
// user. Here the timeout is 400ms, the start 1s away and the last
// connection's first user 750ms after it.
func TestSharedConnsOpenedAtSignIn(t *testing.T) {
	t.Parallel()
	plan, err := swarm.NewPlan(loadSpec(t, known, "connections.model=shared", "connections.shared=4", "users.count=8",
		"rooms.classes[0].size=4", "phases.signin.signin.rate=4/s", "phases.settle.duration=100ms", "phases.steady.duration=1s", "phases.quiet.duration=100ms", "drain=300ms"))
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, plan, refserver.WithLimits(refserver.Limits{SignInTimeout: 400 * time.Millisecond}))
	start := time.Now().Add(time.Second)
	rec := reports.NewRecorder(start, time.Second)
	sw, err := swarm.New(plan, swarm.Options{
		Target: target.Target{Lookup: srv.LookupURI(), Servers: []string{srv.TCPAddr()}}, Recorder: rec, Start: start,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := sw.Run(ctx, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if out.Users.SignedIn != 8 || out.Stopped != "" || out.Accounted.Delivery.Lost != 0 {
		t.Fatalf("signed in %d of 8, stopped %q, delivery %+v, errors %+v", out.Users.SignedIn, out.Stopped, out.Accounted.Delivery, out.Errors)
	}
	if n := srv.Stats().SIP.SignInTimeouts; n != 0 {
		t.Fatalf("the server closed %d connections for want of a sign-in", n)
	}
}
