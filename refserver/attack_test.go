package refserver_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/store/sqlite"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipclient/sipclienttest"
	"github.com/gcload/gcload/xccos"
)

// The tests here attack the reference server from loopback as a hostile
// client would, each with what made it misbehave before it was hardened.

// syncBuffer is a log destination the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
	}
}

// deliveries collects a client's deliveries and refusals until stop.
type deliveries struct {
	mu       sync.Mutex
	texts    []string
	rejected map[uint64]sipclient.Event
}

func listen(t *testing.T, c *sipclient.Client) *deliveries {
	d := &deliveries{rejected: map[uint64]sipclient.Event{}}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case e := <-c.Events():
				d.mu.Lock()
				switch e.Kind {
				case sipclient.Delivery:
					d.texts = append(d.texts, e.Chat.Text)
				case sipclient.Rejected:
					d.rejected[e.EnvID] = e
				}
				d.mu.Unlock()
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return d
}

func (d *deliveries) got() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.texts...)
}

func (d *deliveries) refusal(envid uint64) (sipclient.Event, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.rejected[envid]
	return e, ok
}

func postBody(envid uint64, text string) []byte {
	return []byte(`<xccos ver="1" envid="` + strconv.FormatUint(envid, 10) + `" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1" chanUri="` + room1 +
		`" author="sip:alice@example.com" ts="2026-11-21T21:42:34Z"><chat>` + text + `</chat></grpchat></xccos>`)
}

// TestAttackInvalidCharacters: a post holding bytes that are not UTF-8 or
// a control character is refused (rpl:grpchat 400 naming its envid), not
// stored and not delivered; a user address or a room name with them is
// refused too, so nothing the server sends can carry them.
func TestAttackInvalidCharacters(t *testing.T) {
	t.Parallel()
	alice, bob := "sip:alice@example.com", "sip:bob@example.com"
	srv := refservertest.Start(t, refserver.WithRooms(refservertest.Room("room1", alice, bob)))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), alice, sipclient.FlowClient)
	b := sipclienttest.Connect(t, srv.TCPAddr(), bob, sipclient.FlowClient)
	for _, c := range []*sipclient.Client{a, b} {
		if _, err := c.Join(ctx, room1); err != nil {
			t.Fatal(err)
		}
	}
	got := listen(t, b)
	for i, bad := range []string{"\xff\xfe\xc0\xaf", "bell \x01", "not a character \xef\xbf\xbe"} {
		envid := uint64(900 + i)
		res, rpl, err := a.RawCommand(ctx, envid, postBody(envid, bad))
		if err != nil || res.StatusCode != 200 || rpl == nil || rpl.Name != "grpchat" || rpl.Reply.Code != 400 || !strings.Contains(rpl.Reply.Text, "XML") && !strings.Contains(rpl.Reply.Text, "UTF-8") {
			t.Fatalf("post %q: %v, reply %+v, %v; want 200 then rpl:grpchat 400 naming the bad byte", bad, res, rpl, err)
		}
	}
	if _, err := a.Post(ctx, room1, "a good one"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "bob got the good post", func() bool { return len(got.got()) > 0 })
	if texts := got.got(); len(texts) != 1 || texts[0] != "a good one" {
		t.Fatalf("bob received %q, want only the good post", texts)
	}
	h, err := b.History(ctx, room1, 10)
	if err != nil || len(h) != 1 || h[0].Text != "a good one" {
		t.Fatalf("history %+v %v, want only the good post", h, err)
	}
	// a user address with such bytes cannot sign in: it would go into
	// every roster and author attribute
	p := newRawPeer(t, srv.TCPAddr())
	p.send([]byte("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKu1\r\nFrom: <sip:ev\x01l@example.com>;tag=1\r\nTo: <sip:ev\x01l@example.com>\r\nCall-ID: u1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"))
	if r := p.waitResponse("u1", 1, "REGISTER"); r.StatusCode != 400 {
		t.Fatalf("REGISTER of an address with a control character: %d, want 400", r.StatusCode)
	}
	if _, err := srv.Hub().CreateRoom(ctx, store.Room{ID: "r2", Name: "bad \x02 name"}); err == nil {
		t.Fatal("a room name with a control character was accepted")
	}
}

// TestAttackIdleConnections: connections that never sign in are capped per
// address and in all (the rest are reset at once and logged once, not once
// each) and closed after the sign-in timeout; meanwhile users from another
// address still sign in and the admin API answers.
func TestAttackIdleConnections(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	srv := refservertest.Start(t,
		refserver.WithLogger(slog.New(slog.NewTextHandler(logs, nil))),
		refserver.WithLimits(refserver.Limits{MaxConnsPerAddr: 40, MaxConns: 60, SignInTimeout: 5 * time.Second}))
	const attempts = 300
	var idle []net.Conn
	refused := 0
	for range attempts {
		nc, err := net.DialTimeout("tcp", srv.TCPAddr(), 5*time.Second)
		if err != nil {
			refused++
			continue
		}
		idle = append(idle, nc)
	}
	t.Cleanup(func() {
		for _, nc := range idle {
			nc.Close()
		}
	})
	waitFor(t, 10*time.Second, "the server counted every refusal", func() bool {
		return srv.Stats().SIP.Refused == attempts-40
	})
	if n := srv.Stats().Conns; n != 40 {
		t.Fatalf("%d connections held, want the per-address cap of 40", n)
	}
	// sign-in from another address, and the admin API, still answer
	p := rawPeerFrom(t, srv.TCPAddr(), "127.0.0.2")
	p.send([]byte(registerReq("sip:alice@example.com", "legit", 1)))
	if r := p.waitResponse("legit", 1, "REGISTER"); r.StatusCode != 200 {
		t.Fatalf("sign-in during the attack: %d", r.StatusCode)
	}
	if code := adminGet(t, srv, "/api/stats"); code != 200 {
		t.Fatalf("admin API during the attack: %d", code)
	}
	if n := strings.Count(logs.String(), "connection refused"); n != 1 {
		t.Fatalf("%d log lines for %d refused connections, want 1:\n%s", n, attempts-40, logs)
	}
	// the idle ones are closed after the sign-in timeout; the user stays
	waitFor(t, 15*time.Second, "the idle connections were closed", func() bool { return srv.Stats().Conns == 1 })
	if st := srv.Stats(); st.SIP.SignInTimeouts != 40 || st.Registered != 1 {
		t.Fatalf("sign-in timeouts %d (want 40), registered %d", st.SIP.SignInTimeouts, st.Registered)
	}
	p.send([]byte(registerReq("sip:alice@example.com", "legit", 2)))
	if r := p.waitResponse("legit", 2, "REGISTER"); r.StatusCode != 200 {
		t.Fatalf("the signed-in connection after the timeout: %d", r.StatusCode)
	}
	t.Logf("%d of %d dials failed outright (reset before the dial completed)", refused, attempts)
}

// TestAttackHalfSentBodies: a request announcing a body over the message
// limit (the attack: Content-Length: 1048000 and most of the body, on many
// connections) is answered 413 from its header and its connection closed,
// so the server holds no body; a message left half-sent within the limit
// is closed after the message timeout.
func TestAttackHalfSentBodies(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t, refserver.WithLimits(refserver.Limits{MessageTimeout: 500 * time.Millisecond}))
	const conns = 20
	for i := range conns {
		p := newRawPeer(t, srv.TCPAddr())
		p.send([]byte(fmt.Sprintf("INFO sip:gcs1@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKb%d\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:gcs1@example.com>;tag=2\r\nCall-ID: big%d\r\nCSeq: 1 INFO\r\nContent-Type: text/plain\r\nContent-Length: 1048000\r\n\r\n", i, i)))
		// part of the body; the server may have closed already
		_, _ = p.nc.Write(bytes.Repeat([]byte("x"), 32<<10))
		if r := p.waitResponse("big"+strconv.Itoa(i), 1, "INFO"); r.StatusCode != 413 {
			t.Fatalf("connection %d: %d, want 413", i, r.StatusCode)
		}
		if _, err := p.readOne(time.Now().Add(5 * time.Second)); err == nil {
			t.Fatalf("connection %d: still open after the 413", i)
		}
	}
	if st := srv.Stats(); st.SIP.TooLarge != conns {
		t.Fatalf("TooLarge %d, want %d", st.SIP.TooLarge, conns)
	}
	// half a message within the limit, then nothing
	p := newRawPeer(t, srv.TCPAddr())
	p.send([]byte(registerReq("sip:alice@example.com", "half", 1)))
	if r := p.waitResponse("half", 1, "REGISTER"); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	p.send([]byte("OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKh\r\nContent-Length: 500\r\n\r\nonly this"))
	if _, err := p.readOne(time.Now().Add(10 * time.Second)); err == nil {
		t.Fatal("a half-sent message got an answer")
	}
	if st := srv.Stats(); st.SIP.MessageTimeouts != 1 {
		t.Fatalf("MessageTimeouts %d, want 1", st.SIP.MessageTimeouts)
	}
}

// TestAttackMalformedSIP: conflicting Content-Length headers get 400 and
// the connection is closed (the body's end is unknown); a request without
// Via is still answered 400.
func TestAttackMalformedSIP(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t)
	p := newRawPeer(t, srv.TCPAddr())
	p.send([]byte("OPTIONS sip:example.com SIP/2.0\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: novia\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"))
	// the answer has no Via either (there was none to copy): read it raw
	_ = p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var head []string
	for {
		l, err := p.rd.ReadString('\n')
		if err != nil {
			t.Fatalf("request without Via: no answer: %v", err)
		}
		if l == "\r\n" {
			break
		}
		head = append(head, strings.TrimSpace(l))
	}
	if !strings.HasPrefix(head[0], "SIP/2.0 400 ") || !slices.Contains(head, "Call-ID: novia") {
		t.Fatalf("request without Via: %q, want 400 with its Call-ID", head)
	}
	p.send([]byte("OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKcl\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: cl\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\nOPTIONS sip:smuggled SIP/2.0\r\n\r\n"))
	if r := p.waitResponse("cl", 1, "OPTIONS"); r.StatusCode != 400 {
		t.Fatalf("conflicting Content-Length: %d", r.StatusCode)
	}
	if _, err := p.readOne(time.Now().Add(5 * time.Second)); err == nil {
		t.Fatal("the connection stayed open after conflicting Content-Length headers")
	}
}

// TestAttackRegistrationsPerConnection: one connection cannot register
// users without bound.
func TestAttackRegistrationsPerConnection(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t, refserver.WithLimits(refserver.Limits{MaxUsersPerConn: 3}))
	p := newRawPeer(t, srv.TCPAddr())
	for i := range 5 {
		user := "sip:user" + strconv.Itoa(i) + "@example.com"
		p.send([]byte(registerReq(user, "reg"+strconv.Itoa(i), 1)))
		want := 200
		if i >= 3 {
			want = 403
		}
		if r := p.waitResponse("reg"+strconv.Itoa(i), 1, "REGISTER"); r.StatusCode != want {
			t.Fatalf("REGISTER %d: %d, want %d", i, r.StatusCode, want)
		}
	}
	// registering again, or after one left, is fine
	p.send([]byte(registerReq("sip:user0@example.com", "reg0", 2)))
	if r := p.waitResponse("reg0", 2, "REGISTER"); r.StatusCode != 200 {
		t.Fatalf("re-REGISTER: %d", r.StatusCode)
	}
	p.send([]byte(strings.Replace(registerReq("sip:user1@example.com", "reg1", 2), "Content-Length: 0", "Expires: 0\r\nContent-Length: 0", 1)))
	if r := p.waitResponse("reg1", 2, "REGISTER"); r.StatusCode != 200 {
		t.Fatalf("unREGISTER: %d", r.StatusCode)
	}
	p.send([]byte(registerReq("sip:user3@example.com", "reg3", 2)))
	if r := p.waitResponse("reg3", 2, "REGISTER"); r.StatusCode != 200 {
		t.Fatalf("REGISTER after one left: %d", r.StatusCode)
	}
	if st := srv.Stats(); st.Registered != 3 || st.RegisterLimited != 2 {
		t.Fatalf("registered %d (want 3), refused %d (want 2)", st.Registered, st.RegisterLimited)
	}
}

// TestAttackCommandFlood: one INFO with 380 bccontext commands (the attack
// took 200 MB) is refused whole with one reply; history queries in
// progress are bounded per connection, the others answered 503 at once;
// channel sessions per user are bounded.
func TestAttackCommandFlood(t *testing.T) {
	t.Parallel()
	alice := "sip:alice@example.com"
	gate := make(chan struct{})
	st := &slowHistory{gate: gate}
	st.Store = openStore(t, sqlite.Options{})
	srv := refservertest.Start(t, refserver.WithStore(st), refserver.WithRooms(refservertest.Room("room1", alice)),
		refserver.WithLimits(refserver.Limits{MaxConnQueries: 2, MaxSessionsPerUser: 1}))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), alice, sipclient.FlowClient)
	if _, err := a.Join(ctx, room1); err != nil {
		t.Fatal(err)
	}
	cmd := `<cmd id="cmd:bccontext" seqid="1"><data><chanib uri="` + room1 + `"/><bcq><last cnt="25"/></bcq></data></cmd>`
	body := []byte(`<xccos ver="1" envid="77" xmlns="urn:parlano:xml:ns:xccos">` + strings.Repeat(cmd, 380) + `</xccos>`)
	res, rpl, err := a.RawCommand(ctx, 77, body)
	if err != nil || res.StatusCode != 200 || rpl.Reply.Code != 400 || !strings.Contains(rpl.Reply.Text, "380") {
		t.Fatalf("380 commands in one envelope: %v %+v %v", res, rpl, err)
	}
	if n := st.calls(); n != 0 {
		t.Fatalf("%d history queries ran for the refused envelope", n)
	}
	// five queries at once (history stalled): two run, three are refused
	type result struct {
		code int
		err  error
	}
	results := make(chan result, 5)
	for i := range 5 {
		go func() {
			envid := uint64(100 + i)
			_, rpl, err := a.RawCommand(ctx, envid, []byte(`<xccos ver="1" envid="`+strconv.Itoa(int(envid))+`" xmlns="urn:parlano:xml:ns:xccos">`+cmd+`</xccos>`))
			if err != nil {
				results <- result{err: err}
				return
			}
			results <- result{code: rpl.Reply.Code}
		}()
	}
	busy := 0
	for range 3 {
		r := <-results
		if r.err != nil || r.code != 503 {
			t.Fatalf("with two queries in progress: %d %v, want 503", r.code, r.err)
		}
		busy++
	}
	waitFor(t, 5*time.Second, "two queries reached the store", func() bool { return st.calls() == 2 })
	close(gate)
	for range 2 {
		if r := <-results; r.err != nil || r.code != 200 {
			t.Fatalf("query after the store went on: %d %v", r.code, r.err)
		}
	}
	if s := srv.Stats(); s.Channel.Busy != uint64(busy) || s.Channel.Limited != 1 {
		t.Fatalf("busy %d (want %d), limited %d (want 1)", s.Channel.Busy, busy, s.Channel.Limited)
	}
	// a second channel session of alice on her connection is refused
	if err := a.OpenChannel(ctx, srv.ChannelURIs()[0]); err == nil {
		t.Fatal("a second channel session of one user on one connection was accepted over the limit of 1")
	}
}

// slowHistory is a store whose History waits for gate.
type slowHistory struct {
	store.Store
	gate <-chan struct{}
	mu   sync.Mutex
	n    int
}

func (s *slowHistory) History(ctx context.Context, room string, last int) ([]store.Message, error) {
	s.mu.Lock()
	s.n++
	s.mu.Unlock()
	select {
	case <-s.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return s.Store.History(ctx, room, last)
}

func (s *slowHistory) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func openStore(t *testing.T, o sqlite.Options) *sqlite.Store {
	t.Helper()
	st, err := sqlite.OpenWith(filepath.Join(t.TempDir(), "gc.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestAttackStoreStall: when the store's commits stall and its queue is
// full, posts are refused at once with 503 (busy) instead of blocking under
// the room's lock; the room (joins, parts), the poster's connection and
// other commands stay responsive (a join, which waits for its archive
// record, is refused busy at once), and the queued posts are acknowledged
// and delivered in order once the store goes on.
func TestAttackStoreStall(t *testing.T) {
	t.Parallel()
	alice, bob, carol := "sip:alice@example.com", "sip:bob@example.com", "sip:carol@example.com"
	gate := make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	stalled := make(chan struct{}, 1)
	var armed atomic.Bool // the joins before the stall commit
	st := openStore(t, sqlite.Options{QueueLen: 4, BeforeCommit: func() {
		if !armed.Load() {
			return
		}
		select {
		case stalled <- struct{}{}:
		default:
		}
		<-gate
	}})
	srv := refservertest.Start(t, refserver.WithStore(st), refserver.WithRooms(refservertest.Room("room1", alice, bob, carol)))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), alice, sipclient.FlowClient)
	b := sipclienttest.Connect(t, srv.TCPAddr(), bob, sipclient.FlowClient)
	c := sipclienttest.Connect(t, srv.TCPAddr(), carol, sipclient.FlowClient)
	t.Cleanup(release) // first of the cleanups: the server's Close waits for the store
	for _, cl := range []*sipclient.Client{a, b} {
		if _, err := cl.Join(ctx, room1); err != nil {
			t.Fatal(err)
		}
	}
	refusals := listen(t, a)
	bobGot := listen(t, b)
	armed.Store(true)
	const posts = 12
	envids := make(chan uint64, posts)
	errs := make(chan error, posts)
	for i := range posts {
		go func() {
			envid, err := a.Post(ctx, room1, "post "+strconv.Itoa(i))
			envids <- envid
			errs <- err
		}()
		if i == 0 {
			<-stalled // the writer holds the first post: the queue fills behind it
		}
	}
	// the ones that did not fit come back at once as 503 refusals, while
	// the commits still stall
	waitFor(t, 10*time.Second, "posts refused busy", func() bool { return srv.Stats().Channel.Busy >= posts-5 })
	// the room and alice's connection answer meanwhile: a join, which
	// needs its archive record, is refused busy at once
	var re *sipclient.ReplyError
	if _, err := c.Join(ctx, room1); !errors.As(err, &re) || re.Code != 503 {
		t.Fatalf("join during the stall: %v, want a 503 busy reply", err)
	}
	if err := c.Part(ctx, room1); err != nil {
		t.Fatalf("part during the stall: %v", err)
	}
	if _, err := a.ServerInfo(ctx); err != nil {
		t.Fatalf("the poster's connection during the stall: %v", err)
	}
	release()
	var taken []uint64
	for range posts {
		envid, err := <-envids, <-errs
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		taken = append(taken, envid)
	}
	busy := int(srv.Stats().Channel.Busy) - 1 // carol's join
	refused := func() (n int) {
		for _, envid := range taken {
			if e, ok := refusals.refusal(envid); ok {
				if e.Code != 503 || !strings.Contains(e.Text, "busy") {
					t.Fatalf("refusal %+v, want 503 busy", e)
				}
				n++
			}
		}
		return n
	}
	waitFor(t, 5*time.Second, "alice got every refusal", func() bool { return refused() == busy })
	stored := posts - busy
	if stored != 5 {
		t.Fatalf("%d posts stored, %d refused busy; want 5: the one being committed and the queue of 4", stored, busy)
	}
	waitFor(t, 10*time.Second, "bob got the stored posts", func() bool { return len(bobGot.got()) == stored })
	h, err := b.History(ctx, room1, 50)
	if err != nil || len(h) != stored {
		t.Fatalf("history %d %v, want %d", len(h), err, stored)
	}
	for i, m := range h {
		if got := bobGot.got()[i]; got != m.Text {
			t.Fatalf("delivery %d %q, history %q: not in the stored order", i, got, m.Text)
		}
	}
	// the room takes posts again
	if _, err := a.Post(ctx, room1, "after"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "bob got the post after the stall", func() bool { return len(bobGot.got()) == stored+1 })
}

// TestSecretRoomsAndDisabledSearch: to a non-member a secret room looks
// exactly like a room that does not exist (404, the same words) whatever
// the command; msgsrch naming a disabled room is refused 409, as bccontext
// is.
func TestSecretRoomsAndDisabledSearch(t *testing.T) {
	t.Parallel()
	alice, mallory := "sip:alice@example.com", "sip:mallory@example.com"
	secret := refservertest.Room("hush", alice)
	secret.Privacy = store.Secret
	off := refservertest.Room("off", alice)
	off.Disabled = true
	srv := refservertest.Start(t, refserver.WithRooms(secret, off))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), alice, sipclient.FlowClient)
	m := sipclienttest.Connect(t, srv.TCPAddr(), mallory, sipclient.FlowClient)
	hush, nosuch := "ma-chan://example.com/hush", "ma-chan://example.com/nosuch"
	same := func(what string, do func(room string) error) {
		t.Helper()
		var e1, e2 *sipclient.ReplyError
		err1, err2 := do(hush), do(nosuch)
		if !errors.As(err1, &e1) || !errors.As(err2, &e2) || e1.Code != 404 || e2.Code != 404 ||
			strings.ReplaceAll(e1.Text, "hush", "X") != strings.ReplaceAll(e2.Text, "nosuch", "X") {
			t.Fatalf("%s: secret room %v, unknown room %v; want the same 404", what, err1, err2)
		}
	}
	same("join", func(room string) error { _, err := m.Join(ctx, room); return err })
	same("bccontext", func(room string) error { _, err := m.History(ctx, room, 5); return err })
	same("msgsrch", func(room string) error {
		_, err := m.SearchMessages(ctx, xccos.MsgQuery{ChanURI: room, Keyword: "x"})
		return err
	})
	same("part", func(room string) error { return m.Part(ctx, room) })
	got := listen(t, m)
	for _, room := range []string{hush, nosuch} {
		envid, err := m.PostChat(ctx, xccos.Chat{ChanURI: room, TS: time.Now(), Text: "hello"})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the post to "+room+" was refused", func() bool { _, ok := got.refusal(envid); return ok })
		if e, _ := got.refusal(envid); e.Code != 404 {
			t.Fatalf("post to %s: %+v, want 404", room, e)
		}
	}
	if rooms, err := m.SearchRooms(ctx, ""); err != nil || len(rooms) != 0 {
		t.Fatalf("chansrch by a non-member: %+v %v", rooms, err)
	}
	// the member still sees and joins it
	if _, err := a.Join(ctx, hush); err != nil {
		t.Fatalf("member joining the secret room: %v", err)
	}
	var re *sipclient.ReplyError
	if _, err := a.SearchMessages(ctx, xccos.MsgQuery{ChanURI: "ma-chan://example.com/off"}); !errors.As(err, &re) || re.Code != 409 {
		t.Fatalf("msgsrch naming a disabled room: %v, want 409", err)
	}
	if _, err := a.History(ctx, "ma-chan://example.com/off", 5); !errors.As(err, &re) || re.Code != 409 {
		t.Fatalf("bccontext of a disabled room: %v, want 409", err)
	}
}

// TestReplyDelay: WithReplyDelay holds every command reply without holding
// the connection: a post sent after a command is delivered before the
// command's reply, and a join's reply still comes before any post of the
// room.
func TestReplyDelay(t *testing.T) {
	t.Parallel()
	alice, bob := "sip:alice@example.com", "sip:bob@example.com"
	const delay = 400 * time.Millisecond
	srv := refservertest.Start(t, refserver.WithReplyDelay(delay), refserver.WithRooms(refservertest.Room("room1", alice, bob)))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), alice, sipclient.FlowClient)
	b := sipclienttest.Connect(t, srv.TCPAddr(), bob, sipclient.FlowClient)
	start := time.Now()
	if _, err := a.Join(ctx, room1); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < delay {
		t.Fatalf("join answered after %s, want at least %s", d, delay)
	}
	// bob's join is held; alice posts meanwhile
	joined := make(chan error, 1)
	go func() { _, err := b.Join(ctx, room1); joined <- err }()
	infoDone := make(chan time.Time, 1)
	go func() {
		_, _ = a.ServerInfo(ctx)
		infoDone <- time.Now()
	}()
	waitFor(t, 5*time.Second, "the commands reached the server", func() bool { return srv.Stats().Channel.Commands >= 3 })
	if _, err := a.Post(ctx, room1, "during"); err != nil {
		t.Fatal(err)
	}
	delivered := waitEvent(t, a, sipclient.Delivery)
	select {
	case at := <-infoDone:
		t.Fatalf("the command's reply (at %s) came before the post's delivery (%s): the connection was held", at, delivered.At)
	default:
	}
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
	<-infoDone
	// bob joined after the post: he must not have it
	select {
	case e := <-b.Events():
		if e.Kind == sipclient.Delivery {
			t.Fatalf("bob got %q, posted before his join was answered", e.Chat.Text)
		}
	default:
	}
}

// rawPeerFrom is newRawPeer from a given local address.
func rawPeerFrom(t *testing.T, addr, from string) *rawPeer {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc, rd: bufio.NewReader(nc)}
}

func registerReq(user, callID string, cseq int) string {
	return "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK" + callID + strconv.Itoa(cseq) +
		"\r\nFrom: <" + user + ">;tag=1\r\nTo: <" + user + ">\r\nCall-ID: " + callID + "\r\nCSeq: " + strconv.Itoa(cseq) +
		" REGISTER\r\nContact: <sip:x@127.0.0.1:1>\r\nContent-Length: 0\r\n\r\n"
}

// adminGet GETs path on the server's admin API and returns the status.
func adminGet(t *testing.T, srv *refserver.Server, path string) int {
	t.Helper()
	return httpDo(t, srv, "GET", path, "")
}

// TestAttackAdminAPI: the admin API refuses requests without its token
// (401), bodies that are not JSON (415: a browser form can post text/plain
// cross-site) and requests from a foreign Origin (403: cross-site pages,
// DNS rebinding); it listens on loopback unless told otherwise, and the
// token it makes is written to a file only its owner can read.
func TestAttackAdminAPI(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "admin-token")
	logs := &syncBuffer{}
	srv, err := refserver.New(context.Background(), refserver.WithTCP("127.0.0.1:0"), refserver.WithDB(filepath.Join(dir, "gc.db")),
		refserver.WithAdmin(":0"), refserver.WithAdminTokenFile(tokenFile), refserver.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.AdminURL(), "http://127.0.0.1:") || srv.AdminExposed() {
		t.Fatalf("--admin :PORT listens on %s (exposed %v), want loopback", srv.AdminURL(), srv.AdminExposed())
	}
	b, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(b))
	if st, _ := os.Stat(tokenFile); token != srv.AdminToken() || len(token) < 32 || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file %q mode %v, server token %q", token, st.Mode().Perm(), srv.AdminToken())
	}
	do := func(method, path, auth, ctype, origin, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.AdminURL()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]string{"Authorization": auth, "Content-Type": ctype, "Origin": origin} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(res.Body)
		return res.StatusCode, out.String()
	}
	bearer := "Bearer " + token
	room := `{"id":"eng","name":"Engineering"}`
	self := strings.Replace(srv.AdminURL(), "127.0.0.1", "localhost", 1)
	for _, c := range []struct {
		what                                  string
		method, path, auth, ctype, origin, in string
		want                                  int
	}{
		{"health without a token", "GET", "/healthz", "", "", "", "", 200},
		{"stats without a token", "GET", "/api/stats", "", "", "", "", 401},
		{"create without a token", "POST", "/api/rooms", "", "application/json", "", room, 401},
		{"a wrong token", "GET", "/api/rooms", "Bearer " + strings.Repeat("x", len(token)), "", "", "", 401},
		{"the token without Bearer", "GET", "/api/rooms", token, "", "", "", 401},
		{"a text/plain body (a cross-site form)", "POST", "/api/rooms", bearer, "text/plain", "", room, 415},
		{"a form body", "POST", "/api/rooms", bearer, "application/x-www-form-urlencoded", "", "id=eng&name=x", 415},
		{"a body without Content-Type", "POST", "/api/rooms", bearer, "", "", room, 415},
		{"a foreign Origin", "POST", "/api/rooms", bearer, "application/json", "http://evil.example", room, 403},
		{"DNS rebinding (Origin of another name)", "GET", "/api/stats", bearer, "", "http://rebind.evil.example:" + strings.Split(srv.AdminURL(), ":")[2], "", 403},
		{"a foreign Origin on health", "GET", "/healthz", "", "", "http://evil.example", "", 403},
		{"the API's own origin", "GET", "/api/rooms", bearer, "", self, "", 200},
		{"create as gcload does", "POST", "/api/rooms", bearer, "application/json; charset=utf-8", "", room, 201},
		{"disable without a body", "POST", "/api/rooms/eng/disable", bearer, "", "", "", 200},
	} {
		if code, body := do(c.method, c.path, c.auth, c.ctype, c.origin, c.in); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.what, code, body, c.want)
		}
	}
	if rooms := srv.Hub().Rooms(); len(rooms) != 1 {
		t.Fatalf("%d rooms, want only the one created with the token", len(rooms))
	}
	// told to listen beyond loopback, it does, and warns
	exposed, err := refserver.New(context.Background(), refserver.WithTCP("127.0.0.1:0"), refserver.WithDB(filepath.Join(dir, "gc2.db")),
		refserver.WithAdmin("0.0.0.0:0"), refserver.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer exposed.Close()
	if !exposed.AdminExposed() || !strings.Contains(logs.String(), "beyond loopback") {
		t.Fatalf("admin on 0.0.0.0: exposed %v, log %q", exposed.AdminExposed(), logs)
	}
	if _, err := refserver.New(context.Background(), refserver.WithTCP("127.0.0.1:0"), refserver.WithDB(filepath.Join(dir, "gc3.db")),
		refserver.WithAdmin(":0"), refserver.WithAdminToken("short")); err == nil {
		t.Fatal("a 5-character admin token was accepted")
	}
}

// TestRepliesFitOneEnvelope: a history, message search, room search or
// invitation list larger than an envelope may be (64 KiB, which clients
// refuse beyond) is cut to what fits: the newest messages, the first rooms.
func TestRepliesFitOneEnvelope(t *testing.T) {
	t.Parallel()
	alice := "sip:alice@example.com"
	var rooms []store.Room
	long := strings.Repeat("a long description ", 50)
	for i := range 120 {
		r := refservertest.Room(fmt.Sprintf("r%03d", i), alice)
		r.Privacy, r.Description = store.Open, long
		rooms = append(rooms, r)
	}
	srv := refservertest.Start(t, refserver.WithRooms(rooms...))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), alice, sipclient.FlowClient)
	room := "ma-chan://example.com/r000"
	if _, err := a.Join(ctx, room); err != nil {
		t.Fatal(err)
	}
	const posts = 40
	story := strings.Repeat("x", xccos.StorySizeLimit-10)
	for i := range posts {
		if _, err := a.PostStory(ctx, room, fmt.Sprintf("%03d %s", i, story)); err != nil {
			t.Fatal(err)
		}
	}
	h, err := a.History(ctx, room, posts)
	if err != nil {
		t.Fatalf("history of %d stories: %v", posts, err)
	}
	if len(h) == 0 || len(h) >= posts || !strings.HasPrefix(h[len(h)-1].Text, fmt.Sprintf("%03d ", posts-1)) {
		t.Fatalf("history: %d messages, want fewer than %d ending with the newest", len(h), posts)
	}
	found, err := a.SearchMessages(ctx, xccos.MsgQuery{ChanURI: room, Keyword: "xxx"})
	if err != nil || len(found) == 0 || len(found) >= posts || !strings.HasPrefix(found[0].Text, fmt.Sprintf("%03d ", posts-1)) {
		t.Fatalf("message search: %d found (%v), want fewer than %d starting with the newest", len(found), err, posts)
	}
	all, err := a.SearchRooms(ctx, "")
	if err != nil || len(all) == 0 || len(all) >= len(rooms) {
		t.Fatalf("room search: %d rooms (%v), want fewer than %d", len(all), err, len(rooms))
	}
	if v := a.Violations(); len(v) != 0 {
		t.Fatalf("violations: %v", v)
	}
}

// TestAttackDialogsPerUser: one user cannot open lookup dialogs or channel
// sessions without bound on one connection (INVITEs never ended with BYE).
func TestAttackDialogsPerUser(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t, refserver.WithLimits(refserver.Limits{MaxSessionsPerUser: 2}))
	p := newRawPeer(t, srv.TCPAddr())
	p.send([]byte(registerReq("sip:alice@example.com", "r", 1)))
	if r := p.waitResponse("r", 1, "REGISTER"); r.StatusCode != 200 {
		t.Fatal(r.StatusCode)
	}
	for _, svc := range []string{"sip:ocschat@example.com", "sip:gcs1@example.com"} {
		for i := range 4 {
			callID := fmt.Sprintf("%s-%d", strings.TrimPrefix(svc, "sip:"), i)
			p.send([]byte("INVITE " + svc + " SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bK" + callID +
				"\r\nFrom: <sip:alice@example.com>;tag=a" + strconv.Itoa(i) + "\r\nTo: <" + svc + ">\r\nCall-ID: " + callID +
				"\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:1>\r\nContent-Length: 0\r\n\r\n"))
			want := 200
			if i >= 2 {
				want = 403
			}
			if r := p.waitResponse(callID, 1, "INVITE"); r.StatusCode != want {
				t.Fatalf("INVITE %d to %s: %d, want %d", i, svc, r.StatusCode, want)
			}
		}
	}
	if st := srv.Stats(); st.Lookup.Limited != 2 || st.Channel.Limited != 2 || st.Lookup.Dialogs != 2 || st.Channel.Sessions != 2 {
		t.Fatalf("lookup: %d refused, %d open; channel: %d refused, %d open; want 2 of each", st.Lookup.Limited, st.Lookup.Dialogs, st.Channel.Limited, st.Channel.Sessions)
	}
}
