package swarm_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/admin"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/sipclient/swarm"
)

// withManage has membership changes by managers beside posts.
const withManage = `
name: manage
seed: 4
users: {count: 12}
rooms:
  classes: [{name: m, size: 6, count: 2}]
phases:
  - name: signin
    signin: {rate: 100/s, arrival: constant}
  - name: settle
    duration: 1s
  - name: steady
    duration: 2s
    posts: {rate: 5/s, arrival: constant}
    manage: {rate: 5/s, arrival: constant}
drain: 500ms
limits: {max_lag: 20s}
`

// TestManageUnderLoad: every planned membership change is done by the
// room's manager (manage latencies, no errors), the rooms end with the
// last guest each change added, and the planned members' deliveries are
// untouched.
func TestManageUnderLoad(t *testing.T) {
	t.Parallel()
	plan, err := swarm.NewPlan(loadSpec(t, withManage))
	if err != nil {
		t.Fatal(err)
	}
	manages := plan.Counts(swarm.Shard{Index: 1, Of: 1})[swarm.KindManage]
	if manages != 10 {
		t.Fatalf("planned %d membership changes, want 10", manages)
	}
	last := map[int32]int32{}
	for _, op := range plan.Ops {
		if op.Kind == swarm.KindManage {
			if op.User != plan.Rooms[op.Room].Members[0] {
				t.Fatalf("a change of room %d by user %d, not its first member", op.Room, op.User)
			}
			last[op.Room] = op.Index
		}
	}
	srv := server(t, plan)
	outs, recs := run(t, plan, srv, 1)
	if got := recs[0].Histogram(reports.OpManage).TotalCount(); got != int64(manages) {
		t.Fatalf("%d membership changes answered, want %d (counters %v)", got, manages, recs[0].Counters())
	}
	if cs := recs[0].Counters(); cs[reports.CounterErrors] != 0 {
		t.Fatalf("counters %v", cs)
	}
	if d := outs[0].Accounted.Delivery; d.Lost != 0 || d.Received != d.Expected || d.Posts != 10 {
		t.Fatalf("delivery %+v", d)
	}
	for room, idx := range last {
		r, err := srv.Hub().Room(plan.Rooms[room].ID)
		if err != nil {
			t.Fatal(err)
		}
		var guests []string
		for _, m := range r.Members {
			if strings.Contains(m, "gcload-guest-") {
				guests = append(guests, m)
			}
		}
		want := fmt.Sprintf("sip:gcload-guest-%s-%d@%s", plan.Rooms[room].ID, idx, plan.Domain)
		if !slices.Equal(guests, []string{want}) {
			t.Errorf("room %s has guests %v, want only %s", r.ID, guests, want)
		}
	}
}

// TestManageRefused: a server that refuses the managers' changes (its
// rooms have no manager: the scenario's rooms were made without one) shows
// as errors of the manage operation, not as done changes.
func TestManageRefused(t *testing.T) {
	t.Parallel()
	plan, err := swarm.NewPlan(loadSpec(t, withManage))
	if err != nil {
		t.Fatal(err)
	}
	rooms := plan.AdminRooms("closed")
	for i := range rooms {
		rooms[i].Managers = nil
	}
	srv := refservertest.Start(t, refserver.WithRooms(admin.StoreRooms(rooms...)...))
	_, recs := run(t, plan, srv, 1)
	cs := recs[0].Counters()
	if got := recs[0].Histogram(reports.OpManage).TotalCount(); got != 0 || cs["errors.manage"] != 10 {
		t.Fatalf("%d changes done, counters %v; want none done and 10 errors.manage", got, cs)
	}
}
