package lookup_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/internal/fronttest"
	"github.com/gcload/gcload/refserver/lookup"
	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// TestMain fails the package when the service's sweeper outlives Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	domain = "lookup.test"
	uri    = "sip:ocschat@" + domain
)

var channels = []string{"sip:gcs1@" + domain, "sip:gcs2@" + domain, "sip:gcs3@" + domain}

// service puts the lookup service behind the test front.
type service struct{ *lookup.Service }

func (service) Owns(target string) bool { return target == uri }

func (s service) HandleInvite(tx *sipnet.ServerTx, from, _ string) { s.Service.HandleInvite(tx, from) }

// start runs a lookup service with cfg's changes behind a SIP front on a
// loopback port and returns it with the front's address.
func start(t *testing.T, cfg func(*lookup.Config)) (*lookup.Service, string) {
	t.Helper()
	f := fronttest.New(t)
	c := lookup.Config{URI: uri, Channels: channels, Endpoint: f.Endpoint}
	if cfg != nil {
		cfg(&c)
	}
	s := lookup.New(c)
	t.Cleanup(s.Close)
	return s, f.Serve(service{s})
}

func signIn(t *testing.T, addr, user string) *sipclient.Client {
	t.Helper()
	c, err := sipclient.New(sipclient.Config{User: user, Server: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.SignIn(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLookups: both flows hand out the channel services in turn (the
// console flow ending with the CANCEL answered 200 and the INVITE 487,
// which the client holds the server to), or what a fault makes of them;
// the service counts its lookups and cancels and keeps no dialog open.
func TestLookups(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		flow      sipclient.Flow
		faults    fault.Set
		want      []string
		violation string // a rule the client must report
	}{
		{"client flow", sipclient.FlowClient, fault.Set{}, []string{channels[0], channels[1], channels[2], channels[0]}, ""},
		{"console flow", sipclient.FlowCancel, fault.Set{}, []string{channels[0], channels[1], channels[2], channels[0]}, ""},
		{"no-round-robin", sipclient.FlowClient, fault.Set{}.With(fault.NoRoundRobin), []string{channels[0], channels[0], channels[0], channels[0]}, ""},
		{"non-sip-channel-uri", sipclient.FlowCancel, fault.Set{}.With(fault.NonSIPChannelURI), nil, ruleid.LookupURI},
		{"ignore-cancel", sipclient.FlowCancel, fault.Set{}.With(fault.IgnoreCancel), nil, ruleid.Cancel487},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svc, addr := start(t, func(c *lookup.Config) { c.Faults = tc.faults; c.CancelWait = 500 * time.Millisecond })
			c := signIn(t, addr, "sip:alice@"+domain)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			n := max(len(tc.want), 1)
			var got []string
			for range n {
				u, err := c.Lookup(ctx, tc.flow)
				if tc.violation == "" && err != nil {
					t.Fatalf("lookup %d: %v", len(got), err)
				}
				got = append(got, u)
			}
			if tc.violation != "" {
				found := false
				for _, v := range c.Violations() {
					found = found || v.Rule == tc.violation
				}
				if !found {
					t.Fatalf("the client reported %v, want a violation of %s", c.Violations(), tc.violation)
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("handed out %v, want %v", got, tc.want)
			}
			if v := c.Violations(); len(v) > 0 {
				t.Fatalf("violations %v", v)
			}
			st := svc.Stats()
			cancels := uint64(0)
			if tc.flow == sipclient.FlowCancel {
				cancels = uint64(n)
			}
			if st.Lookups != uint64(n) || st.Cancels != cancels || st.Dialogs != 0 {
				t.Fatalf("stats %+v, want %d lookups, %d cancels, no dialog open", st, n, cancels)
			}
		})
	}
}

// raw sends requests the client library would not: INVITEs to the lookup
// URI that are never ended, on a connection of the test's.
type raw struct {
	ep   *sipnet.Endpoint
	conn *sipnet.Conn
	n    int
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	ep := sipnet.NewEndpoint(sipnet.Options{Handler: func(tx *sipnet.ServerTx) { _ = tx.Respond(200, "OK") }})
	t.Cleanup(func() { ep.Close() })
	conn, err := ep.DialTCP(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	return &raw{ep: ep, conn: conn}
}

// invite sends an INVITE from alice with body (SDP: the client flow;
// a cmd:requri envelope: the console flow) and returns its final answer.
func (r *raw) invite(t *testing.T, ctype string, body []byte) *sipnet.Message {
	t.Helper()
	r.n++
	var to sip.Uri
	_ = sip.ParseUri(uri, &to)
	req := sip.NewRequest(sip.INVITE, to)
	var from sip.Uri
	_ = sip.ParseUri("sip:alice@"+domain, &from)
	fh := &sip.FromHeader{Address: from, Params: sip.NewParams()}
	fh.Params.Add("tag", sipnet.NewTag())
	req.AppendHeader(fh)
	req.AppendHeader(&sip.ToHeader{Address: to, Params: sip.NewParams()})
	cid := sip.CallIDHeader(fmt.Sprintf("raw-%d-%s", r.n, sipnet.NewTag()))
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	req.AppendHeader(sip.NewHeader("Contact", "<sip:alice@"+r.conn.LocalAddr().String()+";transport=tcp>"))
	req.AppendHeader(sip.NewHeader("Content-Type", ctype))
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := r.ep.Do(ctx, r.conn, req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

const sdp = "application/sdp"

// TestDialogLimit: one user's lookup dialogs on one connection are
// bounded (a client needs one at a time); the INVITE over the bound is
// refused 403 and counted, and a closed connection's dialogs are
// forgotten.
func TestDialogLimit(t *testing.T) {
	t.Parallel()
	svc, addr := start(t, func(c *lookup.Config) { c.MaxDialogsPerUser = 2 })
	r := dialRaw(t, addr)
	for i, want := range []int{200, 200, 403, 403} {
		if res := r.invite(t, sdp, []byte("v=0\r\n")); res.StatusCode != want {
			t.Fatalf("INVITE %d answered %d, want %d", i+1, res.StatusCode, want)
		}
	}
	if st := svc.Stats(); st.Dialogs != 2 || st.Limited != 2 {
		t.Fatalf("stats %+v, want 2 dialogs open and 2 refused", st)
	}
	// another connection of the same user has its own bound
	if res := dialRaw(t, addr).invite(t, sdp, []byte("v=0\r\n")); res.StatusCode != 200 {
		t.Fatalf("another connection's INVITE answered %d", res.StatusCode)
	}
	r.conn.Close()
	for deadline := time.Now().Add(5 * time.Second); svc.Stats().Dialogs != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the closed connection's dialogs are still open: %+v", svc.Stats())
		}
	}
}

// TestConsoleFlowWithoutCancel: a console-flow INVITE whose client never
// CANCELs is ended 408 after CancelWait; a body that is not one cmd:requri
// is refused 400.
func TestConsoleFlowWithoutCancel(t *testing.T) {
	t.Parallel()
	svc, addr := start(t, func(c *lookup.Config) { c.CancelWait = 200 * time.Millisecond })
	r := dialRaw(t, addr)
	cmd := xccos.NewCommand(7, "requri", &xccos.Data{}).Marshal()
	if res := r.invite(t, "text/plain", cmd); res.StatusCode != 408 {
		t.Fatalf("a console lookup never cancelled: %d, want 408", res.StatusCode)
	}
	if res := r.invite(t, "text/plain", xccos.NewCommand(8, "join", &xccos.Data{}).Marshal()); res.StatusCode != 400 {
		t.Fatalf("a console INVITE with cmd:join: %d, want 400", res.StatusCode)
	}
	if st := svc.Stats(); st.Lookups != 1 || st.Cancels != 0 {
		t.Fatalf("stats %+v", st)
	}
}
