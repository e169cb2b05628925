package swarm_test

import (
	"testing"

	"github.com/gcload/gcload/sipclient/swarm"
)

// TestAccountOffline: a post due to a member while it was away (its
// session lost, until it came back) is missed_offline when the member
// found it in history afterwards, lost when it did not; a member that
// never came back is not expected to have it; the others are counted as
// always.
func TestAccountOffline(t *testing.T) {
	plan, err := swarm.NewPlan(loadSpec(t, known))
	if err != nil {
		t.Fatal(err)
	}
	room := plan.Rooms[0]
	nposts := 0
	for _, r := range plan.Rooms {
		nposts += int(r.Posts)
	}
	d := &swarm.Data{Shard: swarm.Shard{Index: 1, Of: 1}, RunTag: plan.RunTag, Posts: make([]swarm.PostRecord, nposts)}
	// post 0 of room 0: sent at 100, acknowledged at 200
	d.Posts[0] = swarm.PostRecord{Intended: 90, Sent: 100, Acked: 200, Status: 1 /* acknowledged */, Recv: int32(len(room.Members) - 3), First: 150, Last: 160}
	got := []uint64{1}
	for i, u := range room.Members {
		m := swarm.MemberRecord{User: u, Room: 0, Intervals: []swarm.Interval{{From: 0}}, Recv: got}
		switch i {
		case 0: // away from 50 to 1000, found it in history
			m = swarm.MemberRecord{User: u, Room: 0, Intervals: []swarm.Interval{{From: 0, To: 50}, {From: 1000}}, Gaps: []swarm.Interval{{From: 50, To: 1000}}, Hist: got}
		case 1: // away as long, did not find it
			m = swarm.MemberRecord{User: u, Room: 0, Intervals: []swarm.Interval{{From: 0, To: 50}, {From: 1000}}, Gaps: []swarm.Interval{{From: 50, To: 1000}}}
		case 2: // lost at 50, never came back
			m = swarm.MemberRecord{User: u, Room: 0, Intervals: []swarm.Interval{{From: 0, To: 50}}}
		}
		d.Members = append(d.Members, m)
	}
	acc := swarm.Account(plan, 0, d)
	del := acc.Rooms[0].Delivery
	covered := int64(len(room.Members) - 3)
	if del.Posts != 1 || del.Expected != covered+1 || del.Received != covered || del.Lost != 1 || del.MissedOffline != 1 {
		t.Fatalf("room 0: %+v; want %d expected, %d received, 1 lost, 1 missed offline", del, covered+1, covered)
	}
	if acc.Delivery.MissedOffline != 1 || acc.Incomplete != 1 {
		t.Fatalf("totals %+v, incomplete %d", acc.Delivery, acc.Incomplete)
	}
}
