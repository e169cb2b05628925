package refserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/refserver/store/sqlite"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipclient/sipclienttest"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

const room1 = "ma-chan://example.com/room1"

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// collect gathers a client's deliveries, keyed by text, in arrival order.
type collector struct {
	mu   sync.Mutex
	got  map[string][]string // user -> texts in order
	viol []string
}

func (c *collector) listen(user string, cl *sipclient.Client, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case e := <-cl.Events():
			c.mu.Lock()
			switch e.Kind {
			case sipclient.Delivery:
				c.got[user] = append(c.got[user], e.Chat.Text)
			case sipclient.Breach:
				c.viol = append(c.viol, e.Violation.Error())
			}
			c.mu.Unlock()
		case <-stop:
			return
		}
	}
}

// TestFanOut: members join a room and post; every member online receives
// every post exactly once, the author included, in posting order.
func TestFanOut(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 50} {
		t.Run(fmt.Sprintf("%d clients", n), func(t *testing.T) {
			users := refservertest.Users("example.com", n)
			srv := refservertest.Start(t, refserver.WithRooms(refservertest.Room("room1", users...)))
			ctx := ctxT(t)
			clients := make([]*sipclient.Client, n)
			for i, u := range users {
				flow := sipclient.FlowClient
				if i%2 == 1 {
					flow = sipclient.FlowCancel
				}
				clients[i] = sipclienttest.Connect(t, srv.TCPAddr(), u, flow)
				if _, err := clients[i].Join(ctx, room1); err != nil {
					t.Fatal(err)
				}
			}
			col := &collector{got: map[string][]string{}}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for i, cl := range clients {
				wg.Add(1)
				go col.listen(users[i], cl, stop, &wg)
			}
			// every client posts 3 times, concurrently; order is the server's
			const per = 3
			var pw sync.WaitGroup
			for i, cl := range clients {
				pw.Add(1)
				go func() {
					defer pw.Done()
					for k := 0; k < per; k++ {
						if _, err := cl.Post(ctx, room1, fmt.Sprintf("post %d.%d", i, k)); err != nil {
							t.Error(err)
						}
					}
				}()
			}
			pw.Wait()
			total := n * per
			deadline := time.Now().Add(10 * time.Second)
			for {
				col.mu.Lock()
				done := true
				for _, u := range users {
					if len(col.got[u]) < total {
						done = false
					}
				}
				col.mu.Unlock()
				if done || time.Now().After(deadline) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // let duplicates show
			close(stop)
			wg.Wait()
			ref := col.got[users[0]]
			for _, u := range users {
				got := col.got[u]
				if len(got) != total {
					t.Fatalf("%s received %d deliveries, want %d", u, len(got), total)
				}
				seen := map[string]bool{}
				for _, txt := range got {
					if seen[txt] {
						t.Fatalf("%s received %q twice", u, txt)
					}
					seen[txt] = true
				}
				for k := range got {
					if got[k] != ref[k] {
						t.Fatalf("%s saw posts in another order than %s at %d: %q vs %q", u, users[0], k, got[k], ref[k])
					}
				}
				// each author's own posts in the order it sent them
				for i := range users {
					last := -1
					for k, txt := range got {
						var a, s int
						fmt.Sscanf(txt, "post %d.%d", &a, &s)
						if a == i {
							if s != last+1 {
								t.Fatalf("%s: posts of %d out of order at %d", u, i, k)
							}
							last = s
						}
					}
				}
			}
			if len(col.viol) > 0 {
				t.Fatalf("violations: %v", col.viol)
			}
			h, err := clients[0].History(ctx, room1, 500)
			if err != nil {
				t.Fatal(err)
			}
			if len(h) != total {
				t.Fatalf("history has %d posts, want %d", len(h), total)
			}
			for k := range h {
				if h[k].Text != ref[k] {
					t.Fatalf("history order differs from delivery order at %d: %q vs %q", k, h[k].Text, ref[k])
				}
			}
		})
	}
}

// TestHistorySurvivesRestart: posts acknowledged before a restart are all
// in the history after it.
func TestHistorySurvivesRestart(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "restart.db")
	users := []string{"sip:alice@example.com"}
	srv := refservertest.Start(t, refserver.WithDB(db), refserver.WithRooms(refservertest.Room("room1", users...)))
	ctx := ctxT(t)
	c := sipclienttest.Connect(t, srv.TCPAddr(), users[0], sipclient.FlowClient)
	if _, err := c.Join(ctx, room1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		if _, err := c.Post(ctx, room1, fmt.Sprintf("before restart %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close(ctx)
	srv.Close()
	srv2 := refservertest.Start(t, refserver.WithDB(db))
	c2 := sipclienttest.Connect(t, srv2.TCPAddr(), users[0], sipclient.FlowClient)
	h, err := c2.History(ctx, room1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 40 {
		t.Fatalf("history after restart: %d posts, want 40", len(h))
	}
	for i, m := range h {
		if m.Text != fmt.Sprintf("before restart %d", i) || m.Author != users[0] || m.TS.IsZero() {
			t.Fatalf("history[%d] = %+v", i, m)
		}
	}
	// the room's sequence continues after the restart
	if _, err := c2.Join(ctx, room1); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Post(ctx, room1, "after restart"); err != nil {
		t.Fatal(err)
	}
	h, _ = c2.History(ctx, room1, 100)
	if len(h) != 41 || h[40].Text != "after restart" {
		t.Fatalf("after restart: %d posts", len(h))
	}
}

// TestLookupRoundRobin: two channel services share the clients in turn,
// through both lookup flows; the console flow ends in 487 and the client
// reaches its channel.
func TestLookupRoundRobin(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t, refserver.WithChannels(2), refserver.WithRooms(refservertest.Room("room1", refservertest.Users("example.com", 8)...)))
	ctx := ctxT(t)
	counts := map[string]int{}
	for i, u := range refservertest.Users("example.com", 8) {
		flow := sipclient.FlowClient
		if i >= 4 {
			flow = sipclient.FlowCancel
		}
		c := sipclienttest.Connect(t, srv.TCPAddr(), u, flow)
		want := fmt.Sprintf("sip:gcs%d@example.com", i%2+1)
		if got := c.ChannelURI(); got != want {
			t.Fatalf("client %d (%s flow) got %s, want %s", i, flow, got, want)
		}
		counts[c.ChannelURI()]++
		if _, err := c.Join(ctx, room1); err != nil {
			t.Fatalf("client %d on %s: join: %v", i, c.ChannelURI(), err)
		}
		if v := c.Violations(); len(v) > 0 {
			t.Fatalf("violations: %v", v)
		}
	}
	if counts["sip:gcs1@example.com"] != 4 || counts["sip:gcs2@example.com"] != 4 {
		t.Fatalf("spread %v", counts)
	}
	if st := srv.Stats(); st.Lookup.Cancels != 4 || st.Lookup.Lookups != 8 || st.Lookup.Dialogs != 0 {
		t.Fatalf("lookup stats %+v", st.Lookup)
	}
}

// TestCrossServiceFanOut: members connected to different channel services
// of one pool see each other's posts.
func TestCrossServiceFanOut(t *testing.T) {
	t.Parallel()
	users := refservertest.Users("example.com", 2)
	srv := refservertest.Start(t, refserver.WithChannels(2), refserver.WithRooms(refservertest.Room("room1", users...)))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), users[0], sipclient.FlowClient)
	b := sipclienttest.Connect(t, srv.TCPAddr(), users[1], sipclient.FlowClient)
	if a.ChannelURI() == b.ChannelURI() {
		t.Fatal("both on one service")
	}
	for _, c := range []*sipclient.Client{a, b} {
		if _, err := c.Join(ctx, room1); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Post(ctx, room1, "across"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*sipclient.Client{a, b} {
		e := waitEvent(t, c, sipclient.Delivery)
		if e.Chat.Text != "across" {
			t.Fatalf("%s got %q", c.User(), e.Chat.Text)
		}
	}
}

func waitEvent(t *testing.T, c *sipclient.Client, kind sipclient.EventKind) sipclient.Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case e := <-c.Events():
			if e.Kind == kind {
				return e
			}
			if e.Kind == sipclient.Breach {
				t.Fatalf("%s: %v", c.User(), e.Violation)
			}
		case <-timeout:
			t.Fatalf("%s: no %s event", c.User(), kind)
		}
	}
}

// TestAccess: a non-member of a closed room gets 403 on join and on post;
// a disabled room refuses joins with 409 and keeps its history; there is
// no way to delete a room.
func TestAccess(t *testing.T) {
	t.Parallel()
	alice, mallory := "sip:alice@example.com", "sip:mallory@example.com"
	srv := refservertest.Start(t, refserver.WithRooms(refservertest.Room("room1", alice)))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), alice, sipclient.FlowClient)
	m := sipclienttest.Connect(t, srv.TCPAddr(), mallory, sipclient.FlowClient)
	if _, err := a.Join(ctx, room1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Post(ctx, room1, "kept"); err != nil {
		t.Fatal(err)
	}
	var re *sipclient.ReplyError
	if _, err := m.Join(ctx, room1); !errors.As(err, &re) || re.Code != 403 {
		t.Fatalf("non-member join: %v", err)
	}
	envid, err := m.Post(ctx, room1, "let me in")
	if err != nil {
		t.Fatal(err)
	}
	e := waitEvent(t, m, sipclient.Rejected)
	if e.Code != 403 || e.EnvID != envid {
		t.Fatalf("non-member post: %+v", e)
	}
	if h, err := m.History(ctx, room1, 10); !errors.As(err, &re) || re.Code != 403 || len(h) != 0 {
		t.Fatalf("non-member history: %v %v", h, err)
	}
	// mallory cannot find the closed room's content but can find the room;
	rooms, err := m.SearchRooms(ctx, "")
	if err != nil || len(rooms) != 1 {
		t.Fatalf("search: %v %v", rooms, err)
	}
	// disable: alice is taken out of the room, joins get 409, history stays
	if code := httpDo(t, srv, "POST", "/api/rooms/room1/disable", ""); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	waitEvent(t, a, sipclient.Parted)
	if _, err := a.Join(ctx, room1); !errors.As(err, &re) || re.Code != 409 {
		t.Fatalf("join of a disabled room: %v", err)
	}
	if rooms, _ := a.SearchRooms(ctx, ""); len(rooms) != 0 {
		t.Fatalf("a disabled room is found: %v", rooms)
	}
	if code := httpDo(t, srv, "DELETE", "/api/rooms/room1", ""); code != http.StatusMethodNotAllowed {
		t.Fatalf("DELETE answered %d, want 405", code)
	}
	if code := httpDo(t, srv, "POST", "/api/rooms/room1/enable", ""); code != 200 {
		t.Fatalf("enable: %d", code)
	}
	h, err := a.History(ctx, room1, 10)
	if err != nil || len(h) != 1 || h[0].Text != "kept" {
		t.Fatalf("history after disable/enable: %v %v", h, err)
	}
	if _, err := a.Join(ctx, room1); err != nil {
		t.Fatalf("join after enable: %v", err)
	}
	// membership via the admin API lets mallory in
	if code := httpDo(t, srv, "PUT", "/api/rooms/room1/members", `{"users": ["sip:alice@example.com", "sip:mallory@example.com"]}`); code != 200 {
		t.Fatalf("set members: %d", code)
	}
	if _, err := m.Join(ctx, room1); err != nil {
		t.Fatalf("join after being made a member: %v", err)
	}
}

// httpDo calls the admin API of srv as gcload's own client does: with its
// token, and a JSON body when there is one.
func httpDo(t *testing.T, srv *refserver.Server, method, path, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, srv.AdminURL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.AdminToken())
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestBadInput: malformed or unknown XCCOS and oversize posts get clear
// error replies; the session and the server stay up.
func TestBadInput(t *testing.T) {
	t.Parallel()
	alice := "sip:alice@example.com"
	srv := refservertest.Start(t, refserver.WithRooms(refservertest.Room("room1", alice)))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), alice, sipclient.FlowClient)
	if _, err := a.Join(ctx, room1); err != nil {
		t.Fatal(err)
	}
	var re *sipclient.ReplyError
	if _, err := a.Command(ctx, "nosuchcommand", nil); !errors.As(err, &re) || re.Code != 400 || !strings.Contains(re.Text, "unknown command") {
		t.Fatalf("unknown command: %v", err)
	}
	// malformed XML: 200 to the INFO, then an error reply naming its envid
	res, rpl, err := a.RawCommand(ctx, 77, []byte(`<xccos ver="1" envid="77" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:join" seqid="1"><data></cmd></xccos>`))
	if err != nil || res.StatusCode != 200 || rpl.Reply.Code != 400 || !strings.Contains(rpl.Reply.Text, "malformed XCCOS") {
		t.Fatalf("malformed XCCOS: %v %+v %v", res, rpl, err)
	}
	// a client sending a reply instead of a command
	res, rpl, err = a.RawCommand(ctx, 78, []byte(`<xccos ver="1" envid="78" xmlns="urn:parlano:xml:ns:xccos"><rpl id="rpl:join" seqid="1"><commandid seqid="1" envid="1"/><resp code="200">SUCCESS_OK</resp></rpl></xccos>`))
	if err != nil || res.StatusCode != 200 || rpl.Reply.Code != 400 {
		t.Fatalf("rpl from a client: %v %+v %v", res, rpl, err)
	}
	if res, err := a.SendRaw(ctx, "application/json", []byte(`{}`)); err != nil || res.StatusCode != 415 {
		t.Fatalf("wrong content type: %v %v", res, err)
	}
	for _, c := range []struct {
		name  string
		story bool
		n     int
		code  int
	}{
		{"message of 512", false, 512, 0},
		{"message of 513", false, 513, 413},
		{"story of 4096", true, 4096, 0},
		{"story of 4097", true, 4097, 413},
	} {
		text := strings.Repeat("é", c.n) // characters, not bytes
		var envid uint64
		if c.story {
			envid, err = a.PostStory(ctx, room1, text)
		} else {
			envid, err = a.Post(ctx, room1, text)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.code == 0 {
			if e := waitEvent(t, a, sipclient.Delivery); xccos.TextLen(e.Chat.Text) != c.n || e.Chat.Story != c.story {
				t.Fatalf("%s: delivered %d characters, story %v", c.name, xccos.TextLen(e.Chat.Text), e.Chat.Story)
			}
			continue
		}
		if e := waitEvent(t, a, sipclient.Rejected); e.Code != c.code || e.EnvID != envid {
			t.Fatalf("%s: %+v", c.name, e)
		}
	}
	// a post whose author is someone else is refused
	if _, err := a.PostChat(ctx, xccos.Chat{ChanURI: room1, Author: "sip:bob@example.com", TS: time.Now(), Text: "spoof"}); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, a, sipclient.Rejected); e.Code != 403 {
		t.Fatalf("spoofed author: %+v", e)
	}
	// the session still works
	if _, err := a.Post(ctx, room1, "still here"); err != nil {
		t.Fatal(err)
	}
	if e := waitEvent(t, a, sipclient.Delivery); e.Chat.Text != "still here" {
		t.Fatalf("after bad input: %q", e.Chat.Text)
	}
	if st := srv.Stats(); st.Channel.Rejected != 3 {
		t.Fatalf("rejected %d posts, want 3", st.Channel.Rejected)
	}
}

// TestInvitations: an admin invitation is listed by getinv until the user
// joins the room, across restarts (the server reloads the outstanding ones
// from its store).
func TestInvitations(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "inv.db")
	users := []string{"sip:alice@example.com", "sip:bob@example.com"}
	srv := refservertest.Start(t, refserver.WithDB(db), refserver.WithRooms(refservertest.Room("room1", users...), refservertest.Room("room2", users...)))
	ctx := ctxT(t)
	invite := func(srv *refserver.Server, room, user string) {
		t.Helper()
		if code := httpDo(t, srv, "POST", "/api/rooms/"+room+"/invitations", `{"user": "`+user+`", "by": "sip:admin@example.com"}`); code != http.StatusCreated {
			t.Fatalf("invite %s to %s: %d", user, room, code)
		}
	}
	rooms := func(c *sipclient.Client) []string {
		t.Helper()
		invs, err := c.Invitations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, inv := range invs {
			if inv.Author != "sip:admin@example.com" || inv.InviteID == "" {
				t.Fatalf("invitation %+v", inv)
			}
			out = append(out, inv.ChanURI)
		}
		return out
	}
	room2 := "ma-chan://example.com/room2"
	invite(srv, "room1", users[0])
	invite(srv, "room2", users[0])
	a := sipclienttest.Connect(t, srv.TCPAddr(), users[0], sipclient.FlowClient)
	b := sipclienttest.Connect(t, srv.TCPAddr(), users[1], sipclient.FlowClient)
	if got := rooms(a); !slices.Equal(got, []string{room1, room2}) {
		t.Fatalf("alice's invitations %v", got)
	}
	if got := rooms(b); len(got) != 0 {
		t.Fatalf("bob's invitations %v", got)
	}
	if _, err := a.Join(ctx, room1); err != nil {
		t.Fatal(err)
	}
	if got := rooms(a); !slices.Equal(got, []string{room2}) {
		t.Fatalf("after joining room1, alice's invitations %v", got)
	}
	a.Close(ctx)
	b.Close(ctx)
	srv.Close()

	// restarted: room2's invitation is still out, room1's is not
	srv2 := refservertest.Start(t, refserver.WithDB(db))
	a2 := sipclienttest.Connect(t, srv2.TCPAddr(), users[0], sipclient.FlowClient)
	if got := rooms(a2); !slices.Equal(got, []string{room2}) {
		t.Fatalf("after a restart, alice's invitations %v", got)
	}
	if _, err := a2.Join(ctx, room2); err != nil {
		t.Fatal(err)
	}
	if got := rooms(a2); len(got) != 0 {
		t.Fatalf("after joining room2, alice's invitations %v", got)
	}
}

// TestStoreAndTraceOptions: WithStore serves from a store the caller
// opened (the rooms provisioned land in it, and the server closes it);
// WithTrace sees every message in and out.
func TestStoreAndTraceOptions(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "given.db")
	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[sipnet.Direction][]string{}
	srv := refservertest.Start(t, refserver.WithStore(st), refserver.WithRooms(refservertest.Room("given", "sip:alice@example.com")),
		refserver.WithTrace(func(d sipnet.Direction, _ *sipnet.Conn, b []byte) {
			mu.Lock()
			seen[d] = append(seen[d], string(b[:bytes.IndexByte(b, '\r')]))
			mu.Unlock()
		}))
	c := sipclienttest.Connect(t, srv.TCPAddr(), "sip:alice@example.com", sipclient.FlowClient)
	if _, err := c.Join(ctxT(t), "ma-chan://example.com/given"); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	mu.Lock()
	in, out := strings.Join(seen[sipnet.In], "\n"), strings.Join(seen[sipnet.Out], "\n")
	mu.Unlock()
	if !strings.Contains(in, "REGISTER sip:example.com") || !strings.Contains(out, "SIP/2.0 200") {
		t.Fatalf("trace in:\n%s\nout:\n%s", in, out)
	}
	again, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	rooms, err := again.Rooms(context.Background())
	if err != nil || len(rooms) != 1 || rooms[0].ID != "given" {
		t.Fatalf("the given store holds %+v (%v)", rooms, err)
	}
}
