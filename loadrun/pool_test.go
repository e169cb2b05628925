package loadrun_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/pgtest"
	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/refserver/store/postgres"
	"github.com/gcload/gcload/reports"
)

// failover is a pool of three servers of which the second is killed
// while users post. The users share two connections per server, as a
// Front End carries many users: those on the killed server's lose theirs
// together and come back over the other servers' shared connections
// (gcload run pool's own test covers a connection per user).
const failover = `
name: failover
seed: 3
target:
  embedded: {pool: 3, kill: {server: 2, at: 3s}}
users: {count: 30}
connections: {model: shared, shared: 2}
rooms:
  classes: [{name: room, size: 10, count: 3}]
phases:
  - name: signin
    signin: {rate: 60/s, arrival: constant}
  - name: steady
    duration: 6s
    posts: {rate: 20/s}
drain: 1s
reconnect: {after: 200ms, tries: 20, history: 200}
thresholds: [lost == 0, duplicated == 0, out_of_order == 0]
`

// TestPoolKilledServer: an embedded pool of three on one PostgreSQL, the
// second server killed (SIGKILL) during the load. Users were spread over
// all three; those of the killed server lost their sessions, signed in
// again through the others, rejoined and caught up through history: no
// acknowledged post is lost or delivered twice, what they missed while
// away is counted as such, and the verdict passes. Without reconnect:
// in the scenario, the same kill fails the run, saying sessions were
// lost.
func TestPoolKilledServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a pool of server processes")
	}
	db := pgtest.Shared(t).NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := loadrun.Run(ctx, parse(t, failover), loadrun.Options{PoolDB: db, Tick: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	c := s.Counters
	t.Logf("verdict %s %v; delivery %+v; counters lost %d reconnected %d recovered %d skipped_offline %d; servers %+v",
		s.Verdict, s.Reasons, s.Delivery, c[reports.CounterSessionsLost], c[reports.CounterReconnected], c[reports.CounterRecovered], c[reports.CounterSkippedOffline], s.Servers)
	if len(s.Servers) != 3 {
		t.Fatalf("servers %+v, want three", s.Servers)
	}
	var killed *reports.ServerCounts
	for i := range s.Servers {
		sc := &s.Servers[i]
		if sc.Users == 0 || sc.Posts == 0 || sc.Deliveries == 0 || sc.CPUSeconds <= 0 {
			t.Errorf("server %s did not take its share: %+v", sc.Server, sc)
		}
		if sc.Killed {
			killed = sc
		}
	}
	if killed == nil || killed.SessionsLost == 0 || killed.Reconnected != 0 {
		t.Fatalf("the killed server's counts: %+v", killed)
	}
	lost := c[reports.CounterSessionsLost]
	if lost < killed.SessionsLost || c[reports.CounterReconnected] != lost || c[reports.CounterReconnectFailed] != 0 {
		t.Fatalf("sessions lost %d (killed server's %d), reconnected %d, failed %d: every lost session should come back",
			lost, killed.SessionsLost, c[reports.CounterReconnected], c[reports.CounterReconnectFailed])
	}
	if s.Ops[reports.OpReconnect].Count != lost {
		t.Fatalf("reconnect latency has %d samples, %d sessions came back", s.Ops[reports.OpReconnect].Count, lost)
	}
	d := s.Delivery
	if d.Lost != 0 || d.Duplicated != 0 || d.OutOfOrder != 0 || d.Posts == 0 || d.Received != d.Expected {
		t.Fatalf("delivery %+v", d)
	}
	if s.Verdict != reports.VerdictPass {
		t.Fatalf("verdict %s: %v", s.Verdict, s.Reasons)
	}
	// every acknowledged post is in the database (a post in flight to the
	// killed server may be there too, unacknowledged)
	if stored := storedPosts(ctx, t, db); stored < uint64(d.Posts) {
		t.Fatalf("%d posts acknowledged in the run, %d in PostgreSQL", d.Posts, stored)
	}

	// the same without reconnection: the run fails, and says why
	spec := parse(t, strings.Replace(failover, "reconnect: {after: 200ms, tries: 20, history: 200}\n", "", 1))
	res, err = loadrun.Run(ctx, spec, loadrun.Options{PoolDB: pgtest.Shared(t).NewDatabase(t), Tick: 250 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s = res.Summary
	if s.Verdict != reports.VerdictFail || !slices.ContainsFunc(s.Reasons, func(r string) bool { return strings.Contains(r, "sessions lost") }) {
		t.Fatalf("without reconnect: verdict %s, reasons %v", s.Verdict, s.Reasons)
	}
	if s.Counters[reports.CounterReconnected] != 0 || s.Delivery.MissedOffline != 0 {
		t.Fatalf("without reconnect: reconnected %d, missed offline %d", s.Counters[reports.CounterReconnected], s.Delivery.MissedOffline)
	}
}

// storedPosts counts the posts in the database at url, in every room.
func storedPosts(ctx context.Context, t *testing.T, url string) uint64 {
	t.Helper()
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	last, err := st.LastSeqs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for room := range last {
		h, err := st.ReadSince(ctx, room, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		n += uint64(len(h))
	}
	return n
}
