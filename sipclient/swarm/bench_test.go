package swarm_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gcload/gcload/internal/pgtest"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/refserver/embedded"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipclient/swarm"
	"github.com/gcload/gcload/target"
)

// The benchmarks run the reference server in a child process (this test
// binary, re-executed) so that the swarm's CPU and memory are measured
// apart from the server's. The child's environment holds the scenario, whose
// rooms it serves.
const childEnv = "GCLOAD_BENCH_SERVER_SCENARIO"

func TestMain(m *testing.M) {
	if embedded.PoolChild() { // a server of BenchmarkPoolDelivery's pool
		return
	}
	if refservertest.ChildMainWith(childEnv, func(src string) (embedded.Options, error) {
		plan, err := parsePlan(src)
		if err != nil {
			return embedded.Options{}, err
		}
		// no join/part notices unless the scenario's source sets a limit
		// (the parsed scenario always has one: the default fills it in)
		notices := 1
		if n := plan.Spec.Target.Embedded.NoticeLimit; n != nil && strings.Contains(src, "notice_limit") {
			notices = *n
		}
		o := embedded.Options{Rooms: plan.AdminRooms("closed"), Options: []refserver.Option{refserver.WithNoticeLimit(notices)}}
		auth, err := refserver.ParseAuth(plan.Spec.Target.Embedded.Auth)
		if err != nil {
			return o, err
		}
		o.Options = append(o.Options, refserver.WithAuth(auth))
		if auth != refserver.AuthNone {
			users, err := sipclient.NewCredentials(benchTarget(""))
			if err != nil {
				return o, err
			}
			creds, err := plan.Credentials(users)
			if err != nil {
				return o, err
			}
			o.Options = append(o.Options, refserver.WithAccounts(creds...))
		}
		if plan.Spec.Transport == scenarios.TLS {
			o.Transports = []string{embedded.TLS}
		}
		return o, nil
	}) {
		return
	}
	code := pgtest.Main(m)
	if code == 0 {
		// goleak: a goroutine the swarm started that outlives the tests
		// fails the package (every one must be waited for by Run)
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// benchPassword is the password pattern of the benchmarks' users.
const benchPassword = "bench-pass{i}"

// benchTarget is the child server as the swarm's target.
func benchTarget(addr string, ca ...string) target.Target {
	t := target.Target{Lookup: "sip:ocschat@example.com", Servers: []string{addr}, Password: benchPassword}
	if len(ca) > 0 {
		t.CA = ca[0]
	}
	return t
}

// authVariants are the sign-ins the delivery and sign-in benchmarks run
// with: none, NTLM (every message signed and verified), NTLM over TLS.
var authVariants = []struct{ name, yaml string }{
	{"none", "target: {embedded: {auth: none}}"},
	{"ntlm", "target: {embedded: {auth: ntlm}}"},
	{"ntlm+tls", "target: {embedded: {auth: ntlm}}\ntransport: tls"},
}

func parsePlan(src string) (*swarm.Plan, error) {
	spec, _, err := scenarios.Parse("bench.yaml", []byte(src), nil)
	if err != nil {
		return nil, err
	}
	return swarm.NewPlan(spec)
}

// benchStart plans the scenario src and starts its server process.
func benchStart(b *testing.B, src string) (*swarm.Plan, *refservertest.Child) {
	b.Helper()
	plan, err := parsePlan(src)
	if err != nil {
		b.Fatal(err)
	}
	return plan, refservertest.StartChild(b, childEnv, src)
}

func selfUserSys() (user, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// BenchmarkSwarmDelivery measures the CPU the swarm spends per delivery
// received and answered (SIP scan, 200 OK, XCCOS parse, accounting,
// latency recording), and the server process's CPU per delivery sent (its
// whole process: fan-out, the store, the answers it reads): one room of 100
// or 1,000 members, posts at a constant rate making 20,000 deliveries a
// second, over shared connections. One op is one delivery.
//
// Each runs with the sign-in variants: none, NTLM (every delivery's INFO
// signed by the server and verified by the swarm, every 200 signed by the
// swarm and verified by the server) and NTLM over TLS.
func BenchmarkSwarmDelivery(b *testing.B) {
	for _, members := range []int{100, 1000} {
		for _, v := range authVariants {
			b.Run(fmt.Sprintf("room=%d/%s", members, v.name), func(b *testing.B) { benchDelivery(b, members, v.yaml) })
		}
	}
}

func benchDelivery(b *testing.B, members int, variant string) {
	rate := 20000.0 / float64(members)   // posts/s
	posts := max(b.N/members, int(rate)) // at least one second: the window needs ticks
	steady := time.Duration(float64(posts) / rate * float64(time.Second))
	src := fmt.Sprintf(`name: bench-delivery
seed: 1
users: {count: %d}
connections: {model: shared, shared: 8}
rooms: {classes: [{name: b, size: %d, count: 1}]}
phases:
  - {name: signin, signin: {rate: 1000/s, arrival: constant}}
  - {name: settle, duration: 1100ms}
  - {name: steady, duration: %dms, posts: {rate: %g/s, arrival: constant, size: {value: 120}}}
drain: 300ms
limits: {max_lag: 5s}
%s
`, members, members, steady.Milliseconds(), rate, variant)
	plan, srv := benchStart(b, src)
	// CPU is read at ticks of the steady phase: the first one starts the
	// window, each later one ends it, so the figures exclude sign-in,
	// settling and sign-out.
	var win struct {
		started    bool
		u0, k0, s0 time.Duration
		u1, k1, s1 time.Duration
		n0, n1     int64
	}
	rec := reports.NewRecorder(time.Now(), 100*time.Millisecond)
	sw, err := swarm.New(plan, swarm.Options{Target: benchTarget(srv.Addr, srv.CA), Recorder: rec,
		Tick: 100 * time.Millisecond,
		OnTick: func(snap reports.Snapshot) {
			if snap.Phase != "steady" {
				return
			}
			u, k := selfUserSys()
			sc := srv.CPU()
			if !win.started {
				win.started = true
				win.u0, win.k0, win.s0, win.n0 = u, k, sc, snap.Deliveries
				return
			}
			win.u1, win.k1, win.s1, win.n1 = u, k, sc, snap.Deliveries
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	out, err := sw.Run(context.Background(), context.Background())
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	d := out.Accounted.Delivery
	if d.Lost != 0 || d.Received == 0 {
		b.Fatalf("delivery %+v", d)
	}
	n := float64(win.n1 - win.n0)
	if n <= 0 {
		b.Fatalf("no deliveries measured in the steady phase (window %+v)", win)
	}
	b.ReportMetric(float64(win.u1+win.k1-win.u0-win.k0)/n, "swarm-cpu-ns/delivery")
	b.ReportMetric(float64(win.k1-win.k0)/n, "swarm-sys-ns/delivery")
	b.ReportMetric(float64(win.s1-win.s0)/n, "server-cpu-ns/delivery")
	b.ReportMetric(float64(d.Received), "deliveries")
	st := out.SIP
	b.ReportMetric(float64(st.MessagesIn)/float64(max(st.Reads, 1)), "msgs/read")
	b.ReportMetric(float64(st.MessagesOut)/float64(max(st.Writes, 1)), "msgs/write")
}

// BenchmarkPoolDelivery measures a pool of 1, 2 and 3 reference server
// processes on one PostgreSQL (a throw-away cluster): 300 users in 3 rooms
// of 100, spread over the servers (as the lookup services hand out their
// channel services), posts at 20/s (2,000 deliveries a second) for b.N
// deliveries (at least one second). It reports the servers' CPU per
// delivery (all of them together), the database's, each within the steady
// phase, what they use idle, and the time from a post's intended time to
// its last delivery. One op is one delivery. servers=3-read is three
// servers whose notifications do not carry the posts: the others read
// each from the table.
func BenchmarkPoolDelivery(b *testing.B) {
	for _, c := range []struct {
		n    int
		read bool
	}{{1, false}, {2, false}, {3, false}, {3, true}} {
		name := fmt.Sprintf("servers=%d", c.n)
		if c.read {
			name += "-read"
		}
		b.Run(name, func(b *testing.B) { benchPool(b, c.n, c.read) })
	}
}

func benchPool(b *testing.B, servers int, read bool) {
	b.StopTimer()
	cluster := pgtest.Shared(b)
	db := cluster.NewDatabase(b)
	steady := max(time.Duration(b.N)*time.Second/2000, time.Second)
	src := fmt.Sprintf(`name: bench-pool
seed: 1
users: {count: 300}
connections: {model: shared, shared: 4}
rooms: {classes: [{name: p, size: 100, count: 3}]}
phases:
  - {name: signin, signin: {rate: 600/s, arrival: constant}}
  - {name: settle, duration: 1500ms}
  - {name: steady, duration: %dms, posts: {rate: 20/s, arrival: constant, size: {value: 120}}}
drain: 1s
limits: {max_lag: 5s}
`, steady.Milliseconds())
	plan, err := parsePlan(src)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool, err := embedded.StartPool(ctx, embedded.PoolOptions{Servers: servers, DB: db, NoCarry: read, Heartbeat: time.Second, TTL: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	tg := pool.Target()
	if err := swarm.Provision(ctx, adminclient.New(tg.Admin, tg.AdminToken), plan, "closed"); err != nil {
		b.Fatal(err)
	}
	cpu := func() (srv, pg time.Duration) {
		for _, s := range pool.Servers {
			srv += s.CPU()
		}
		return srv, cluster.CPU()
	}
	// what the pool costs doing nothing (heartbeats, the live servers
	// read, catch-up checks), over 3 s before the load (1 s when brief)
	idle := min(3*time.Second, steady)
	is0, ip0 := cpu()
	time.Sleep(idle)
	is1, ip1 := cpu()
	var win struct {
		started        bool
		s0, p0, s1, p1 time.Duration
		n0, n1         int64
	}
	rec := reports.NewRecorder(time.Now(), 250*time.Millisecond)
	sw, err := swarm.New(plan, swarm.Options{Target: tg, Recorder: rec, Tick: 250 * time.Millisecond, EmbeddedPool: true,
		OnTick: func(snap reports.Snapshot) {
			if snap.Phase != "steady" {
				return
			}
			s, p := cpu()
			if !win.started {
				win.started = true
				win.s0, win.p0, win.n0 = s, p, snap.Deliveries
				return
			}
			win.s1, win.p1, win.n1 = s, p, snap.Deliveries
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.StartTimer()
	out, err := sw.Run(ctx, ctx)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	d := out.Accounted.Delivery
	if d.Lost != 0 || d.Duplicated != 0 || d.OutOfOrder != 0 || d.Received == 0 {
		b.Fatalf("delivery %+v", d)
	}
	on := map[string]bool{}
	for _, sc := range out.Servers {
		if sc.Users > 0 {
			on[sc.Server] = true
		}
	}
	if len(on) != servers {
		b.Fatalf("users on %d servers, want %d: %+v", len(on), servers, out.Servers)
	}
	n := float64(win.n1 - win.n0)
	if n <= 0 {
		b.Fatalf("no deliveries measured in the steady phase (window %+v)", win)
	}
	b.ReportMetric(float64(is1-is0)/idle.Seconds()/float64(time.Millisecond), "servers-idle-cpu-ms/s")
	b.ReportMetric(float64(ip1-ip0)/idle.Seconds()/float64(time.Millisecond), "postgres-idle-cpu-ms/s")
	b.ReportMetric(float64(win.s1-win.s0)/n, "servers-cpu-ns/delivery")
	b.ReportMetric(float64(win.p1-win.p0)/n, "postgres-cpu-ns/delivery")
	h := out.Accounted.LastDelivery
	b.ReportMetric(float64(h.ValueAtQuantile(50))/1000, "last-delivery-p50-ms")
	b.ReportMetric(float64(h.ValueAtQuantile(99))/1000, "last-delivery-p99-ms")
	b.ReportMetric(float64(d.Received), "deliveries")
}

// BenchmarkIdleUserMemory measures the swarm's heap per signed-in,
// joined, idle simulated user (shared connections; the server runs in
// another process), without authentication and with NTLM (each user's
// security association, its signing state). One op is one user.
func BenchmarkIdleUserMemory(b *testing.B) {
	for _, v := range authVariants[:2] {
		b.Run(v.name, func(b *testing.B) { benchIdle(b, v.yaml) })
	}
}

func benchIdle(b *testing.B, variant string) {
	users := max(b.N, 1000)
	src := fmt.Sprintf(`name: bench-idle
seed: 1
users: {count: %d}
connections: {model: shared, shared: 16}
rooms: {classes: [{name: i, size: 1000, count: %d}]}
phases:
  - {name: signin, signin: {rate: 2000/s, arrival: constant}}
  - {name: idle, duration: 8s}
drain: 1ms
limits: {max_lag: 30s}
%s
`, users, max(users/1000, 1), variant)
	plan, srv := benchStart(b, src)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rec := reports.NewRecorder(time.Now(), time.Second)
	var heap uint64
	var online int
	var seen []int // users online at each tick, for the failure
	sw, err := swarm.New(plan, swarm.Options{Target: benchTarget(srv.Addr, srv.CA), Recorder: rec,
		OnTick: func(s reports.Snapshot) {
			// the first tick with every user online (and joined): on a
			// busy machine NTLM sign-ins end seconds after their phase
			// (1,000 took 4.5 s at a load average of 14), hence the idle
			// phase's length
			seen = append(seen, s.UsersOnline)
			if s.UsersOnline == users && heap == 0 {
				var m runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m)
				heap, online = m.HeapInuse+m.StackInuse, s.UsersOnline
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	out, err := sw.Run(context.Background(), context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if heap == 0 {
		b.Fatalf("the users never were all online at once (users %+v, stopped: %q, errors %+v, online at each tick %v)", out.Users, out.Stopped, rec.Errors(), seen)
	}
	b.ReportMetric(float64(heap-before.HeapInuse-before.StackInuse)/float64(online), "bytes/user")
	b.ReportMetric(float64(online), "users")
}

// BenchmarkSignIn measures the reference server's sign-in capacity: users
// sign in at 2,500/s (open model) through the whole flow a real client
// makes (REGISTER, provisioning SUBSCRIBE, lookup INVITE/INFO/BYE, channel
// INVITE, bjoin) over 16 shared connections, against a server process,
// without authentication and with NTLM (the three-REGISTER exchange, then
// every message signed). It reports the server's CPU per sign-in (so the
// sign-ins a second one core sustains), the rate achieved and the p99
// sign-in time. One op is one user.
//
// The variant ntlm+notices is the peak scenario's sign-in: rooms of 1,000
// filled one after the other, and the server's default notice limit (250),
// so that each of a room's first 250 joins is told to everyone already
// online (31,125 users named a room, 31 a user; the server gathers a room's
// notices for 20 ms, so one ntc:join names all of a window's joiners) and
// each of its last 250 parts likewise (sign-out is part of the run);
// notices/signin counts the users named.
func BenchmarkSignIn(b *testing.B) {
	for _, v := range authVariants[:2] {
		b.Run(v.name, func(b *testing.B) { benchSignIn(b, v.yaml, 100) })
	}
	b.Run("ntlm+notices", func(b *testing.B) {
		benchSignIn(b, "target: {embedded: {auth: ntlm, notice_limit: 250}}", 1000)
	})
}

func benchSignIn(b *testing.B, variant string, roomSize int) {
	users := max(b.N, 5000)
	users = (users + roomSize - 1) / roomSize * roomSize
	const rate = 2500
	src := fmt.Sprintf(`name: bench-signin
seed: 1
users: {count: %d}
connections: {model: shared, shared: 16}
rooms: {classes: [{name: s, size: %d, count: %d}]}
phases:
  - {name: signin, signin: {rate: %d/s, arrival: constant}}
drain: 1ms
limits: {max_lag: 30s}
%s
`, users, roomSize, users/roomSize, rate, variant)
	plan, srv := benchStart(b, src)
	rec := reports.NewRecorder(time.Now(), time.Second)
	sw, err := swarm.New(plan, swarm.Options{Target: benchTarget(srv.Addr, srv.CA), Recorder: rec})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	s0 := srv.CPU()
	u0, y0 := selfUserSys()
	start := time.Now()
	out, err := sw.Run(context.Background(), context.Background())
	wall := time.Since(start)
	s1 := srv.CPU()
	u1, y1 := selfUserSys()
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if out.Users.SignedIn != users {
		b.Fatalf("%d of %d users signed in", out.Users.SignedIn, users)
	}
	h := rec.Histogram(reports.OpSignIn)
	b.ReportMetric(float64(s1-s0)/float64(users)/1e3, "server-cpu-µs/signin")
	b.ReportMetric(float64(u1-u0+y1-y0)/float64(users)/1e3, "swarm-cpu-µs/signin")
	if n := rec.Counters()[reports.CounterNotices]; n > 0 {
		b.ReportMetric(float64(n)/float64(users), "notices/signin")
	}
	b.ReportMetric(1e9*float64(users)/float64(s1-s0), "signins/server-cpu-s")
	b.ReportMetric(float64(users)/(wall.Seconds()-0.1), "signins/s")
	b.ReportMetric(float64(h.ValueAtQuantile(99))/1e3, "p99-ms")
}
