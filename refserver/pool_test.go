package refserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/pgtest"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/lookup"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/postgres"
	"github.com/gcload/gcload/sipclient"
)

// fastPool makes a pool notice a dead server within a second.
var fastPool = refserver.WithPool(refserver.PoolOptions{Heartbeat: 100 * time.Millisecond, TTL: 600 * time.Millisecond, CatchUp: 500 * time.Millisecond})

// startPool starts n servers on one fresh PostgreSQL database with the
// pool options pool, the first provisioning rooms, and waits until each
// lists all n as live.
func startPool(t *testing.T, n int, pool refserver.Option, rooms ...store.Room) (string, []*refserver.Server) {
	t.Helper()
	url := pgtest.Shared(t).NewDatabase(t)
	var srvs []*refserver.Server
	for i := 0; i < n; i++ {
		opts := []refserver.Option{refserver.WithPostgres(url), pool}
		if i == 0 {
			opts = append(opts, refserver.WithRooms(rooms...))
		}
		srvs = append(srvs, refservertest.Start(t, opts...))
	}
	waitLive(t, srvs, n)
	return url, srvs
}

// waitLive waits until every server lists n live servers.
func waitLive(t *testing.T, srvs []*refserver.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range srvs {
		for len(s.PoolServers()) != n {
			if time.Now().After(deadline) {
				t.Fatalf("server %s lists %+v, want %d live servers", s.PoolID(), s.PoolServers(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// poll waits until ok holds, failing with what() after 20 s.
func poll(t *testing.T, what func() string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !ok(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(what())
		}
	}
}

// TestPoolFanOut: three servers on one PostgreSQL. Clients sign in to the
// three in turn; the lookup services hand out channel services of all
// three, and the clients move to the server their channel URI names. They
// all join one room and post at once: every member, whichever server it
// is on, receives every post exactly once, all in the same order, the
// order of the room's history.
func TestPoolFanOut(t *testing.T) {
	// (no catch-up from the table within the test: the notifications
	// must do it)
	o := refserver.PoolOptions{Heartbeat: 100 * time.Millisecond, TTL: 600 * time.Millisecond, CatchUp: time.Hour}
	t.Run("carried", func(t *testing.T) { poolFanOut(t, refserver.WithPool(o), true) })
	// the others read each post from the table
	o.NoCarry = true
	t.Run("read", func(t *testing.T) { poolFanOut(t, refserver.WithPool(o), false) })
}

func poolFanOut(t *testing.T, pool refserver.Option, carried bool) {
	users := refservertest.Users("example.com", 12)
	url, srvs := startPool(t, 3, pool, refservertest.Room("room1", users...))
	ctx := ctxT(t)
	clients := make([]*sipclient.Client, len(users))
	at := map[string]int{}
	for i, u := range users {
		flow := sipclient.FlowClient
		if i%2 == 1 {
			flow = sipclient.FlowCancel
		}
		c, err := sipclient.New(sipclient.Config{User: u, Server: srvs[i%3].TCPAddr(), Flow: flow})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		if err := c.Connect(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Join(ctx, room1); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
		at[c.Server()]++
	}
	for _, s := range srvs {
		if at[s.TCPAddr()] == 0 {
			t.Fatalf("no client's channel service is on %s: %v", s.TCPAddr(), at)
		}
		if got := s.Stats().Channel.Sessions; got != at[s.TCPAddr()] {
			t.Fatalf("server %s has %d sessions, %d clients say they are on it", s.TCPAddr(), got, at[s.TCPAddr()])
		}
	}
	col := &collector{got: map[string][]string{}}
	stop := make(chan struct{})
	var lwg sync.WaitGroup
	for i, c := range clients {
		lwg.Add(1)
		go col.listen(users[i], c, stop, &lwg)
	}
	defer func() { close(stop); lwg.Wait() }()
	const per = 8
	var pwg sync.WaitGroup
	errs := make(chan error, len(clients)*per)
	for i, c := range clients {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			for k := 0; k < per; k++ {
				if _, err := c.Post(ctx, room1, fmt.Sprintf("u%d p%d", i, k)); err != nil {
					errs <- err
				}
			}
		}()
	}
	pwg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := len(clients) * per
	poll(t, func() string {
		col.mu.Lock()
		defer col.mu.Unlock()
		n := map[string]int{}
		for u, got := range col.got {
			n[u] = len(got)
		}
		return fmt.Sprintf("deliveries by user %v, want %d each", n, total)
	}, func() bool {
		col.mu.Lock()
		defer col.mu.Unlock()
		for _, u := range users {
			if len(col.got[u]) < total {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond) // a duplicate would come now
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hist, err := st.History(ctx, "room1", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for i, m := range hist {
		if m.Seq != uint64(i+1) {
			t.Fatalf("history row %d has seq %d", i, m.Seq)
		}
		order = append(order, m.Text)
	}
	if len(order) != total {
		t.Fatalf("%d posts stored, want %d", len(order), total)
	}
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, u := range users {
		if !slices.Equal(col.got[u], order) {
			t.Fatalf("%s received %d posts in another order than the history's (or twice):\n got %v\nwant %v", u, len(col.got[u]), col.got[u], order)
		}
	}
	if len(col.viol) > 0 {
		t.Fatalf("violations: %v", col.viol)
	}
	var posts, deliveries, got, read uint64
	for _, s := range srvs {
		cs := s.Stats().Channel
		posts += cs.Posts
		deliveries += cs.Deliveries
		got += cs.PoolCarried
		read += cs.PoolRead
	}
	if posts != uint64(total) || deliveries != uint64(total*len(users)) {
		t.Fatalf("servers counted %d posts and %d deliveries, want %d and %d", posts, deliveries, total, total*len(users))
	}
	// each post reached the two other servers, in its notification or
	// from the table (a read may also take one of the server's own posts
	// that waits for an earlier one, before its commit is acknowledged)
	if got+read < uint64(2*total) || (carried && got < uint64(total)) || (!carried && got != 0) {
		t.Fatalf("the other servers got %d posts in notifications and read %d from the table (carried %v; %d posts)", got, read, carried, total)
	}
}

// TestPoolLookup: each server's lookup service hands out the channel
// services of every live server, round-robin or to the least loaded, and
// stops handing out a server's once it stopped.
func TestPoolLookup(t *testing.T) {
	users := refservertest.Users("example.com", 30)
	for _, policy := range []string{"round-robin", "least-loaded"} {
		t.Run(policy, func(t *testing.T) {
			url := pgtest.Shared(t).NewDatabase(t)
			p, err := lookupPolicy(policy)
			if err != nil {
				t.Fatal(err)
			}
			var srvs []*refserver.Server
			for i := 0; i < 3; i++ {
				opts := []refserver.Option{refserver.WithPostgres(url), fastPool, refserver.WithChannels(2), p}
				if i == 0 {
					opts = append(opts, refserver.WithRooms(refservertest.Room("room1", users...)))
				}
				srvs = append(srvs, refservertest.Start(t, opts...))
			}
			waitLive(t, srvs, 3)
			ctx := ctxT(t)
			handed := map[string]int{}
			lookup := func(i int, via *refserver.Server) string {
				c, err := sipclient.New(sipclient.Config{User: users[i], Server: via.TCPAddr()})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close(context.Background())
				if err := c.SignIn(ctx); err != nil {
					t.Fatal(err)
				}
				uri, err := c.Lookup(ctx, sipclient.FlowClient)
				if err != nil {
					t.Fatal(err)
				}
				return uri
			}
			// from the first server only: the URIs of all three
			for i := 0; i < 12; i++ {
				handed[lookup(i, srvs[0])]++
			}
			var want []string
			for _, s := range srvs {
				want = append(want, s.ChannelURIs()...)
			}
			sort.Strings(want)
			got := slices.Sorted(mapsKeys(handed))
			if policy == "round-robin" {
				if !slices.Equal(got, want) {
					t.Fatalf("handed %v, want every channel service %v", handed, want)
				}
				for u, n := range handed {
					if n != 2 {
						t.Fatalf("handed %v: want each twice (12 lookups, 6 services)", handed)
					}
					_ = u
				}
			} else {
				// no server has a session: each server in turn, as the
				// handed-out sessions count until the next heartbeat
				servers := map[string]int{}
				for u, n := range handed {
					addr, _ := sipclient.ServerOf(u)
					servers[addr] += n
				}
				if len(servers) != 3 {
					t.Fatalf("least-loaded handed %v: want all three servers", handed)
				}
				// a loaded server is skipped: 6 sessions on the first
				for i := 12; i < 18; i++ {
					c, err := sipclient.New(sipclient.Config{User: users[i], Server: srvs[0].TCPAddr()})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { c.Close(context.Background()) })
					if err := c.SignIn(ctx); err != nil {
						t.Fatal(err)
					}
					if err := c.OpenChannel(ctx, srvs[0].ChannelURIs()[0]); err != nil {
						t.Fatal(err)
					}
				}
				poll(t, func() string { return fmt.Sprintf("loads %+v", srvs[1].PoolServers()) }, func() bool {
					for _, s := range srvs[1].PoolServers() {
						if s.ID == srvs[0].PoolID() {
							return s.Load == 6
						}
					}
					return false
				})
				for i := 18; i < 22; i++ {
					if addr, _ := sipclient.ServerOf(lookup(i, srvs[1])); addr == srvs[0].TCPAddr() {
						t.Fatalf("least-loaded handed the server with 6 sessions (the others have none)")
					}
				}
			}
			// a stopped server is no longer handed out
			srvs[2].Close()
			waitLive(t, srvs[:2], 2)
			for i := 22; i < 30; i++ {
				if addr, _ := sipclient.ServerOf(lookup(i, srvs[0])); addr == srvs[2].TCPAddr() {
					t.Fatalf("handed out %s after it stopped", addr)
				}
			}
		})
	}
}

func mapsKeys(m map[string]int) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestPoolNoticesAndRooms: join and part notices cross servers, join
// replies list the members on the other servers, and room changes made
// through one server (membership, disabling) apply on the others.
func TestPoolNoticesAndRooms(t *testing.T) {
	users := refservertest.Users("example.com", 3)
	_, srvs := startPool(t, 3, fastPool, refservertest.Room("room1", users...))
	ctx := ctxT(t)
	clients := make([]*sipclient.Client, 3)
	for i, u := range users {
		c, err := sipclient.New(sipclient.Config{User: u, Server: srvs[i].TCPAddr()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		if err := c.SignIn(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.OpenChannel(ctx, srvs[i].ChannelURIs()[0]); err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	// user0 on server 0 and user1 on server 1 are in the room
	for i := 0; i < 2; i++ {
		if _, err := clients[i].Join(ctx, room1); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(c *sipclient.Client, kind sipclient.EventKind, user string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case e := <-c.Events():
				if e.Kind == kind && e.User == user {
					return
				}
			case <-deadline:
				t.Fatalf("%s got no %s of %s from another server", c.User(), kind, user)
			}
		}
	}
	wait(clients[0], sipclient.Joined, users[1])
	// user2 joins on server 2: the reply lists both others; both hear of it
	// (once server 2 heard of both: presence crosses asynchronously)
	poll(t, func() string { return "server 2 does not count the 2 users online on the others" }, func() bool {
		online, _ := srvs[2].Hub().Online("room1")
		return len(online) == 2
	})
	res, err := clients[2].Join(ctx, room1)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, u := range res.Users {
		listed = append(listed, u.URI)
	}
	sort.Strings(listed)
	if !slices.Equal(listed, users) {
		t.Fatalf("join reply on server 2 lists %v, want %v", listed, users)
	}
	wait(clients[0], sipclient.Joined, users[2])
	wait(clients[1], sipclient.Joined, users[2])
	if online, err := srvs[0].Hub().Online("room1"); err != nil || len(online) != 3 {
		t.Fatalf("server 0 counts online %v %v, want 3", online, err)
	}
	// user1 leaves: the others hear of it
	if err := clients[1].Part(ctx, room1); err != nil {
		t.Fatal(err)
	}
	wait(clients[0], sipclient.Parted, users[1])
	wait(clients[2], sipclient.Parted, users[1])
	// server 1 takes user2 out of the room: server 2 evicts the session
	if err := srvs[1].Hub().SetRole(ctx, "room1", store.Member, users[:2]); err != nil {
		t.Fatal(err)
	}
	wait(clients[2], sipclient.Parted, users[2])
	var rerr *sipclient.ReplyError
	poll(t, func() string { return "user2 still posts in room1 on server 2" }, func() bool {
		_, err := clients[2].Post(ctx, room1, "still here?")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-clients[2].Events():
			return e.Kind == sipclient.Rejected && e.Code == 403
		case <-time.After(500 * time.Millisecond):
			return false
		}
	})
	_ = rerr
	// server 2 disables the room: user0 on server 0 is put out
	if err := srvs[2].Hub().SetDisabled(ctx, "room1", true); err != nil {
		t.Fatal(err)
	}
	wait(clients[0], sipclient.Parted, users[0])
	poll(t, func() string { return "server 1 still lets user1 join the room disabled on server 2" }, func() bool {
		_, err := clients[1].Join(ctx, room1)
		return errors.As(err, &rerr) && rerr.Code == 409
	})
	// a room created on server 1 can be joined at once on server 0
	if _, err := srvs[1].Hub().CreateRoom(ctx, refservertest.Room("fresh", users...)); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[0].Join(ctx, "ma-chan://example.com/fresh"); err != nil {
		t.Fatalf("join a room just created on another server: %v", err)
	}
	// an invitation made on server 2 is listed on server 0
	if _, err := srvs[2].Hub().Invite(ctx, "fresh", users[1], users[2]); err != nil {
		t.Fatal(err)
	}
	poll(t, func() string { return "the invitation made on server 2 is not listed on server 1" }, func() bool {
		rpl, err := clients[1].Command(ctx, "getinv", nil)
		return err == nil && rpl.Data != nil && len(rpl.Data.Invites) == 1 && strings.HasSuffix(rpl.Data.Invites[0].ChanURI, "/fresh")
	})
}

func lookupPolicy(name string) (refserver.Option, error) {
	p, err := lookup.ParsePolicy(name)
	if err != nil {
		return nil, err
	}
	return refserver.WithLookupPolicy(p), nil
}

// TestPoolServerKilled kills one server of three (SIGKILL) while clients
// on all three post: every acknowledged post is in the database; the
// clients that stayed on the other two received every stored post exactly
// once, in the history's order; the others notice, sign in again through
// a live server and find every acknowledged post in the room's history;
// the live servers drop the dead one from lookup and tell their members
// its users left.
func TestPoolServerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns server processes")
	}
	url := pgtest.Shared(t).NewDatabase(t)
	var kids []*refservertest.Child
	for i := 0; i < 3; i++ {
		kids = append(kids, refservertest.StartChild(t, poolEnv, url))
	}
	users := refservertest.Users("example.com", 6)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type member struct {
		c    *sipclient.Client
		srv  int
		mu   sync.Mutex
		got  []string
		gone []string // users announced as parted
	}
	members := make([]*member, len(users))
	for i, u := range users {
		m := &member{srv: i % 3}
		c, err := sipclient.New(sipclient.Config{User: u, Server: kids[m.srv].Addr, OnEvent: func(e sipclient.Event) {
			m.mu.Lock()
			defer m.mu.Unlock()
			switch e.Kind {
			case sipclient.Delivery:
				m.got = append(m.got, e.Chat.Text)
			case sipclient.Parted:
				m.gone = append(m.gone, e.User)
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		if err := c.SignIn(ctx); err != nil {
			t.Fatal(err)
		}
		if err := c.OpenChannel(ctx, "sip:gcs1@"+kids[m.srv].Addr); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Join(ctx, room1); err != nil {
			t.Fatal(err)
		}
		m.c = c
		members[i] = m
	}
	// wait until every server knows all six are in the room
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	poll(t, func() string { return "presence of the six users not written" }, func() bool {
		on, _ := st.Online(ctx, "")
		return len(on) == 6
	})
	// handed returns the servers of n channel services the lookup service
	// of the server at via hands out, one sign-in each
	handed := func(via string, n int) map[string]int {
		got := map[string]int{}
		for range n {
			c, err := sipclient.New(sipclient.Config{User: "sip:looker@example.com", Server: via})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.SignIn(ctx); err != nil {
				t.Fatal(err)
			}
			uri, err := c.Lookup(ctx, sipclient.FlowClient)
			if err != nil {
				t.Fatal(err)
			}
			c.Close(ctx)
			addr, ok := sipclient.ServerOf(uri)
			if !ok {
				t.Fatalf("lookup handed out %s, which names no server", uri)
			}
			got[addr]++
		}
		return got
	}
	// (once the first server has read the other two's registrations)
	poll(t, func() string { return "before the kill, three lookups never handed out all three servers" }, func() bool {
		return len(handed(kids[0].Addr, 3)) == 3
	})
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 40; k++ {
				text := fmt.Sprintf("u%d p%d", i, k)
				pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
				_, err := m.c.Post(pctx, room1, text)
				pcancel()
				if err != nil {
					return // its server is gone
				}
				mu.Lock()
				acked[text] = true
				mu.Unlock()
				time.Sleep(15 * time.Millisecond)
			}
		}()
	}
	time.Sleep(250 * time.Millisecond)
	if err := kids[1].Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// the live servers drop the dead one and say its users left
	for _, i := range []int{0, 2} {
		m := members[i]
		poll(t, func() string { return users[i] + " was not told that the dead server's users left" }, func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return slices.Contains(m.gone, users[1]) && slices.Contains(m.gone, users[4])
		})
	}
	// the live servers' lookup services stop handing out the dead one
	// once its heartbeat is overdue (the TTL), and hand out the others
	for _, via := range []string{kids[0].Addr, kids[2].Addr} {
		poll(t, func() string { return "the lookup service of " + via + " still hands out the dead server" }, func() bool {
			return handed(via, 3)[kids[1].Addr] == 0
		})
		if got := handed(via, 6); got[kids[1].Addr] != 0 || got[kids[0].Addr] != 3 || got[kids[2].Addr] != 3 {
			t.Fatalf("after the kill, the lookup service of %s handed out %v: want %s and %s three times each", via, got, kids[0].Addr, kids[2].Addr)
		}
	}
	// the users of the dead server sign in again through a live one
	for _, i := range []int{1, 4} {
		c, err := sipclient.New(sipclient.Config{User: users[i], Server: kids[0].Addr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		poll(t, func() string { return users[i] + " cannot sign in again through a live server" }, func() bool {
			if err := c.Connect(ctx); err != nil {
				c.Close(ctx)
				if c, err = sipclient.New(sipclient.Config{User: users[i], Server: kids[0].Addr}); err != nil {
					t.Fatal(err)
				}
				return false
			}
			return true
		})
		if addr := c.Server(); addr == kids[1].Addr {
			t.Fatalf("%s was sent to the dead server", users[i])
		}
		if _, err := c.Join(ctx, room1); err != nil {
			t.Fatal(err)
		}
		members[i].c = c
	}
	hist, err := st.History(ctx, "room1", 10000)
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	inDB := map[string]bool{}
	for _, m := range hist {
		stored = append(stored, m.Text)
		inDB[m.Text] = true
	}
	mu.Lock()
	nacked := len(acked)
	for text := range acked {
		if !inDB[text] {
			t.Errorf("acknowledged post %q is not in the database", text)
		}
	}
	mu.Unlock()
	if nacked < 20 {
		t.Fatalf("only %d posts acknowledged", nacked)
	}
	// the clients that stayed got every stored post once, in order
	for _, i := range []int{0, 2, 3, 5} {
		m := members[i]
		poll(t, func() string {
			m.mu.Lock()
			defer m.mu.Unlock()
			return fmt.Sprintf("%s (stayed on its server) received %d posts, %d are stored", users[i], len(m.got), len(stored))
		}, func() bool {
			m.mu.Lock()
			defer m.mu.Unlock()
			return len(m.got) >= len(stored)
		})
		m.mu.Lock()
		if !slices.Equal(m.got, stored) {
			t.Errorf("%s received, in order:\n%v\nthe history is\n%v", users[i], m.got, stored)
		}
		m.mu.Unlock()
	}
	// everyone's history holds every acknowledged post
	for i, m := range members {
		h, err := m.c.History(ctx, room1, len(stored))
		if err != nil {
			t.Fatalf("history of %s: %v", users[i], err)
		}
		seen := map[string]bool{}
		for _, ch := range h {
			seen[ch.Text] = true
		}
		mu.Lock()
		for text := range acked {
			if !seen[text] {
				t.Errorf("%s's history lacks acknowledged post %q", users[i], text)
			}
		}
		mu.Unlock()
	}
	live, err := st.Servers(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range live {
		if s.Addr == kids[1].Addr {
			t.Fatalf("the dead server %s is still registered", s.Addr)
		}
	}
	t.Logf("%d posts acknowledged, %d stored", nacked, len(stored))
}

// TestPoolCategories: a category changed on one server of a pool applies
// on the others: a user it now allows joins a room below it there, and
// is put out of it there when it allows them no more.
func TestPoolCategories(t *testing.T) {
	users := refservertest.Users("example.com", 2)
	r := refservertest.Room("room1", users[0])
	r.Category = "cat"
	_, srvs := startPool(t, 2, fastPool, r)
	ctx := ctxT(t)
	c, err := sipclient.New(sipclient.Config{User: users[1], Server: srvs[0].TCPAddr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	if err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.OpenChannel(ctx, srvs[0].ChannelURIs()[0]); err != nil {
		t.Fatal(err)
	}
	var rerr *sipclient.ReplyError
	if _, err := c.Join(ctx, room1); !errors.As(err, &rerr) || rerr.Code != 403 {
		t.Fatalf("user1 joins room1 before any category allows them: %v, want 403", err)
	}
	if _, err := srvs[1].Hub().PutCategory(ctx, store.Category{ID: "cat", Name: "Cat", Members: []string{users[1]}}); err != nil {
		t.Fatal(err)
	}
	poll(t, func() string { return "server 0 does not let user1 in after server 1 made the category allow them" }, func() bool {
		_, err := c.Join(ctx, room1)
		return err == nil
	})
	if _, err := srvs[1].Hub().PutCategory(ctx, store.Category{ID: "cat", Name: "Cat"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-c.Events():
			if e.Kind == sipclient.Parted && e.User == users[1] {
				if cats := srvs[0].Hub().Categories(); len(cats) != 1 || len(cats[0].Members) != 0 {
					t.Fatalf("server 0's categories: %+v", cats)
				}
				return
			}
		case <-deadline:
			t.Fatal("user1 was not put out of room1 on server 0 when the category on server 1 no longer allowed them")
		}
	}
}

// TestPoolFilesFolder: servers of a pool that share one files folder
// serve each other's files (uploaded through one, downloaded through the
// other); servers that do not share it find out (each lists the other in
// files.unshared_servers) and say so.
func TestPoolFilesFolder(t *testing.T) {
	users := []string{"sip:alice@example.com", "sip:bob@example.com"}
	for _, shared := range []bool{true, false} {
		t.Run(map[bool]string{true: "shared", false: "apart"}[shared], func(t *testing.T) {
			url := pgtest.Shared(t).NewDatabase(t)
			dir := t.TempDir()
			var srvs []*refserver.Server
			for i := range 2 {
				d := dir
				if !shared {
					d = t.TempDir()
				}
				opts := []refserver.Option{refserver.WithPostgres(url), fastPool, refserver.WithFiles(refserver.Files{Listen: "127.0.0.1:0", Dir: d})}
				if i == 0 {
					opts = append(opts, refserver.WithRooms(refservertest.Room("room1", users...)))
				}
				srvs = append(srvs, refservertest.Start(t, opts...))
			}
			waitLive(t, srvs, 2)
			for i, s := range srvs {
				other := srvs[1-i].PoolID()
				poll(t, func() string {
					return fmt.Sprintf("server %d lists %v as not sharing its files folder (shared %v)", i, s.Stats().Files.UnsharedServers, shared)
				}, func() bool {
					got := s.Stats().Files.UnsharedServers
					if shared {
						return len(got) == 0
					}
					return slices.Equal(got, []string{other})
				})
			}
			if !shared {
				return
			}
			ctx := ctxT(t)
			clients := make([]*sipclient.Client, 2)
			for i, u := range users {
				c, err := sipclient.New(sipclient.Config{User: u, Server: srvs[i].TCPAddr()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close(context.Background()) })
				if err := c.SignIn(ctx); err != nil {
					t.Fatal(err)
				}
				if err := c.OpenChannel(ctx, srvs[i].ChannelURIs()[0]); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Join(ctx, room1); err != nil {
					t.Fatal(err)
				}
				clients[i] = c
			}
			data := []byte(strings.Repeat("shared folder ", 1000))
			tok, err := clients[0].UploadToken(ctx, room1, "pool.txt")
			if err != nil {
				t.Fatal(err)
			}
			if err := sipclient.UploadFile(ctx, http.DefaultClient, tok, bytes.NewReader(data), int64(len(data))); err != nil {
				t.Fatal(err)
			}
			var post *sipclient.Event
			for deadline := time.After(10 * time.Second); post == nil; {
				select {
				case e := <-clients[1].Events():
					if e.Kind == sipclient.Delivery && e.Chat.File != nil {
						post = &e
					}
				case <-deadline:
					t.Fatal("bob, on the other server, got no file post")
				}
			}
			if !strings.HasPrefix(post.Chat.File.FileURL, srvs[1].FilesURL()) {
				t.Fatalf("the file post on server 1 names %s, not its own web service %s", post.Chat.File.FileURL, srvs[1].FilesURL())
			}
			dt, err := clients[1].DownloadToken(ctx, room1, post.Chat.File.FileURL)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if _, _, err := sipclient.DownloadFile(ctx, http.DefaultClient, dt, &got); err != nil || !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("download through the other server: %d bytes, %v", got.Len(), err)
			}
		})
	}
}
