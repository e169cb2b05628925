package refserver_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/sipelog"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipauth/sipae"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// rawPeer is a hand-driven TCP peer: it sends bytes as given and reads
// every message the server sends, answering the server's INFOs 200 the way
// SIPE does.
type rawPeer struct {
	t     *testing.T
	nc    net.Conn
	rd    *bufio.Reader
	resps []*sipnet.Message // responses to our requests, in arrival order
	infos []*sipnet.Message // INFOs the server sent us

	// after an NTLM sign-in: each user's association (by address), what
	// signs the peer's messages and verifies the server's
	sas      map[string]*sipae.ClientSA
	verified int
	sigErrs  []string
}

// sign inserts the Authorization header signing raw, a message of the
// user at uri, when that user signed in with NTLM.
func (p *rawPeer) sign(raw []byte, uri string) []byte {
	sa := p.sas[strings.ToLower(uri)]
	if sa == nil {
		return raw
	}
	m, err := sipnet.Scan(raw)
	if err != nil {
		p.t.Fatal(err)
	}
	var f sipae.Fields
	m.SignedFields(&f)
	end := bytes.Index(raw, []byte("\r\n\r\n")) + 2
	line := append([]byte("Authorization: "), sa.Sign(nil, &f)...)
	line = append(line, "\r\n"...)
	return append(append(append([]byte(nil), raw[:end]...), line...), raw[end:]...)
}

// verify checks the server's signature on m, a message to the user at
// uri (its responses and its requests after the sign-in must carry one).
func (p *rawPeer) verify(m *sipnet.Message, uri string) {
	sa := p.sas[strings.ToLower(uri)]
	if sa == nil {
		return
	}
	var f sipae.Fields
	f.SetMessage(m, m.StatusCode) // read from the headers, as SIPE does
	if err := sa.Verify(m.AuthInfo, &f); err != nil {
		p.sigErrs = append(p.sigErrs, m.Short()+": "+err.Error())
		return
	}
	p.verified++
}

func newRawPeer(t *testing.T, addr string) *rawPeer {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawPeer{t: t, nc: nc, rd: bufio.NewReader(nc)}
}

func (p *rawPeer) send(b []byte) {
	p.t.Helper()
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatal(err)
	}
}

// readOne reads one message (skipping keep-alive CRLFs), answering server
// INFOs with 200 as SIPE does.
func (p *rawPeer) readOne(deadline time.Time) (*sipnet.Message, error) {
	_ = p.nc.SetReadDeadline(deadline)
	var head bytes.Buffer
	for {
		line, err := p.rd.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		if head.Len() == 0 && (string(line) == "\r\n" || string(line) == "\n") {
			continue
		}
		head.Write(line)
		if string(line) == "\r\n" {
			break
		}
	}
	n := 0
	for _, l := range strings.Split(head.String(), "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(p.rd, body); err != nil {
		return nil, err
	}
	m, err := sipnet.Scan(append(head.Bytes(), body...))
	if err != nil {
		return nil, err
	}
	if m.Method == "INFO" {
		to, _ := sipnet.AOR(m.To)
		p.verify(m, to)
		p.infos = append(p.infos, m)
		p.answer(m)
	} else if !m.IsRequest() {
		if from, _ := sipnet.AOR(m.From); m.StatusCode >= 200 && m.StatusCode != 401 {
			p.verify(m, from)
		}
		p.resps = append(p.resps, m)
	}
	return m, nil
}

// answer sends SIPE's 200 to a server INFO: Via, From, To, Call-ID, CSeq
// copied.
func (p *rawPeer) answer(m *sipnet.Message) {
	var b strings.Builder
	b.WriteString("SIP/2.0 200 OK\r\n")
	for _, v := range m.Headers("Via") {
		b.WriteString("Via: " + v + "\r\n")
	}
	b.WriteString("From: " + m.From + "\r\nTo: " + m.To + "\r\nCall-ID: " + m.CallID + "\r\n")
	b.WriteString("CSeq: " + strconv.FormatUint(uint64(m.CSeq), 10) + " INFO\r\nContent-Length: 0\r\n\r\n")
	to, _ := sipnet.AOR(m.To)
	p.send(p.sign([]byte(b.String()), to))
}

// waitResponse reads until a final response to (callID, cseq, method).
func (p *rawPeer) waitResponse(callID string, cseq uint32, method string) *sipnet.Message {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for i, r := range p.resps {
			if r.CallID == callID && r.CSeq == cseq && r.CSeqMethod == method && r.StatusCode >= 200 {
				p.resps = append(p.resps[:i], p.resps[i+1:]...)
				return r
			}
		}
		if _, err := p.readOne(deadline); err != nil {
			p.t.Fatalf("waiting for the answer to %s %d %s: %v", callID, cseq, method, err)
		}
	}
}

// waitInfo reads until the server sent an INFO whose envelope satisfies f.
func (p *rawPeer) waitInfo(what string, f func(callID string, e *xccos.Envelope) bool) *xccos.Envelope {
	p.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	seen := 0
	for {
		for ; seen < len(p.infos); seen++ {
			m := p.infos[seen]
			e, err := xccos.Parse(m.Body)
			if err != nil {
				p.t.Fatalf("server INFO with a bad envelope: %v\n%s", err, m.Raw)
			}
			if f(m.CallID, e) {
				p.infos = append(p.infos[:seen], p.infos[seen+1:]...)
				return e
			}
		}
		if _, err := p.readOne(deadline); err != nil {
			p.t.Fatalf("waiting for %s: %v", what, err)
		}
	}
}

// TestReplaySIPESession replays every request of the real SIPE client's
// session, in order, over one TCP connection, and checks each is answered
// so that the client would go on. The log's server tags (from the mock
// server) are replaced by the tags this server hands out.
func TestReplaySIPESession(t *testing.T) { t.Parallel(); replaySIPE(t, false) }

// TestReplaySIPESessionNTLM replays the same session against a server
// that signs users in with NTLM, as the SIPE 1.25 client was seen to do
// it against a challenging registrar (ROUND2.md): each REGISTER of the
// log is sent three times, without credentials (answered with the NTLM
// offer), asking for the CHALLENGE, then with the AUTHENTICATE made with
// the sign-in address and an empty domain, SIPE's login when none is set;
// every later message of the log (and the answers to the server's INFOs)
// carries an Authorization signed over its own fields as SIPE writes them
// (no Via branch in dialogs, epid parameters, SIPE's tags), and every
// signature the server sends verifies, read from its headers as SIPE
// reads them.
func TestReplaySIPESessionNTLM(t *testing.T) { t.Parallel(); replaySIPE(t, true) }

func replaySIPE(t *testing.T, ntlm bool) {
	opts := []refserver.Option{refserver.WithRooms(store.Room{
		ID: "room1", Name: "Room One", Topic: "test topic",
		Members: []string{"sip:alice@example.com", "sip:bob@example.com"},
	})}
	if ntlm {
		opts = append(opts, refserver.WithAuth(refserver.AuthNTLM), refserver.WithAccounts(
			accounts.Credential{URI: "sip:alice@example.com", Password: "alice-secret"},
			accounts.Credential{URI: "sip:bob@example.com", Password: "bob-secret"}))
	}
	srv := refservertest.Start(t, opts...)
	p := newRawPeer(t, srv.TCPAddr())
	p.sas = map[string]*sipae.ClientSA{}
	tags := map[string]string{} // mock server tag -> ours
	var logBlocks = sipelog.Blocks()
	// the mock server's To tags, by Call-ID, from its answers
	mockTag := map[string]string{}
	for _, b := range logBlocks {
		if b.Dir == sipelog.ServerToClient {
			m, err := sipnet.Scan(b.Msg)
			if err != nil {
				t.Fatal(err)
			}
			if !m.IsRequest() && m.ToTag != "" && m.CSeqMethod == "INVITE" {
				mockTag[m.CallID] = m.ToTag
			}
		}
	}
	for _, b := range sipelog.Client() {
		m, err := sipnet.Scan(b.Msg)
		if err != nil {
			t.Fatal(err)
		}
		if !m.IsRequest() {
			continue // SIPE's answers to the mock's INFOs: rawPeer answers ours
		}
		raw := b.Msg
		for mock, ours := range tags {
			raw = bytes.ReplaceAll(raw, []byte("tag="+mock), []byte("tag="+ours))
		}
		step := fmt.Sprintf("line %d: %s", b.Line, m.Method)
		from, _ := sipnet.AOR(m.From)
		if ntlm && m.Method == "REGISTER" && p.sas[strings.ToLower(from)] == nil {
			login := strings.TrimPrefix(from, "sip:") // alice@example.com
			name, _, _ := strings.Cut(login, "@")
			p.sas[strings.ToLower(from)] = p.signInNTLM(raw, m, login, name+"-secret")
			continue // the sign-in's last REGISTER was the log's
		}
		p.send(p.sign(raw, from))
		switch m.Method {
		case "ACK":
			continue
		case "REGISTER":
			r := p.waitResponse(m.CallID, m.CSeq, m.Method)
			if r.StatusCode != 200 {
				t.Fatalf("%s: %d %s", step, r.StatusCode, r.Reason)
			}
			if v, _ := r.Header("Expires"); v == "" || v == "0" {
				t.Fatalf("%s: Expires %q", step, v)
			}
			supported := r.Headers("Supported")
			if !contains(supported, "msrtc-event-categories") {
				t.Fatalf("%s: Supported headers %q lack a line msrtc-event-categories", step, supported)
			}
			if v, _ := r.Header("Allow-Events"); v != "vnd-microsoft-provisioning-v2" {
				t.Fatalf("%s: Allow-Events %q", step, v)
			}
			if v, _ := r.Header("Server"); v != "RTC/3.5" {
				t.Fatalf("%s: Server %q", step, v)
			}
		case "SUBSCRIBE":
			r := p.waitResponse(m.CallID, m.CSeq, m.Method)
			if r.StatusCode != 200 || !bytes.Contains(r.Body, []byte("<provisionGroupList")) || !bytes.Contains(r.Body, []byte("sip:ocschat@example.com")) {
				t.Fatalf("%s: %d with body %q", step, r.StatusCode, r.Body)
			}
			if v, _ := r.Header("ms-piggyback-cseq"); v != "1" {
				t.Fatalf("%s: ms-piggyback-cseq %q", step, v)
			}
		case "INVITE":
			r := p.waitResponse(m.CallID, m.CSeq, m.Method)
			if r.StatusCode != 200 || r.ToTag == "" {
				t.Fatalf("%s: %d to-tag %q", step, r.StatusCode, r.ToTag)
			}
			tags[mockTag[m.CallID]] = r.ToTag
		case "BYE":
			if r := p.waitResponse(m.CallID, m.CSeq, m.Method); r.StatusCode != 200 {
				t.Fatalf("%s: %d", step, r.StatusCode)
			}
		case "INFO":
			r := p.waitResponse(m.CallID, m.CSeq, m.Method)
			if r.StatusCode != 200 || len(r.Body) != 0 {
				t.Fatalf("%s: %d with a %d-byte body", step, r.StatusCode, len(r.Body))
			}
			env, err := xccos.Parse(m.Body)
			if err != nil {
				t.Fatal(err)
			}
			it := env.Items[0]
			if it.Kind == xccos.KindChat {
				// the post reaches its author (echo) and bob, in their channel dialogs
				for _, who := range []string{"the author (echo)", "bob"} {
					p.waitInfo("delivery to "+who, func(_ string, e *xccos.Envelope) bool {
						c := e.Items[0].Chat
						return e.Items[0].Kind == xccos.KindChat && c.Text == it.Chat.Text && c.Author == "sip:alice@example.com" && c.ChanURI == "ma-chan://example.com/room1"
					})
				}
				continue
			}
			rpl := p.waitInfo("rpl:"+it.Name, func(callID string, e *xccos.Envelope) bool {
				return callID == m.CallID && e.Items[0].Kind == xccos.KindReply && e.Items[0].Reply.CommandEnvID == env.EnvID
			}).Items[0]
			if rpl.Name != it.Name || rpl.Reply.Code != 200 || rpl.Reply.Text != "SUCCESS_OK" {
				t.Fatalf("%s cmd:%s: reply rpl:%s %d %s", step, it.Name, rpl.Name, rpl.Reply.Code, rpl.Reply.Text)
			}
			switch it.Name {
			case "requri":
				if rpl.Data == nil || len(rpl.Data.Users) != 1 || rpl.Data.Users[0].URI != "sip:gcs1@example.com" {
					t.Fatalf("%s: rpl:requri data %+v", step, rpl.Data)
				}
			case "bjoin":
				if rpl.Data == nil || len(rpl.Data.Channels) != 1 || rpl.Data.Channels[0].URI != "ma-chan://example.com/room1" || rpl.Data.Channels[0].Name != "Room One" {
					t.Fatalf("%s: rpl:bjoin data %+v", step, rpl.Data)
				}
				me := strings.TrimSuffix(strings.TrimPrefix(m.From, "<"), ">")
				me = me[:strings.IndexByte(me, '>')]
				found := false
				for _, u := range rpl.Data.Users {
					found = found || u.URI == me
				}
				if !found {
					t.Fatalf("%s: rpl:bjoin does not list the joiner %s: %+v", step, me, rpl.Data.Users)
				}
				if strings.Contains(me, "bob") {
					p.waitInfo("ntc:join of bob to alice", func(_ string, e *xccos.Envelope) bool {
						n := e.Items[0]
						return n.Kind == xccos.KindNotice && n.Name == "join" && n.Data != nil && len(n.Data.Users) == 1 && n.Data.Users[0].URI == "sip:bob@example.com"
					})
				}
			case "getinv":
				if rpl.Data == nil {
					t.Fatalf("%s: rpl:getinv without data", step)
				}
			case "bccontext":
				if rpl.Data == nil || len(rpl.Data.Channels) != 1 || rpl.Data.Channels[0].URI != "ma-chan://example.com/room1" {
					t.Fatalf("%s: rpl:bccontext data %+v", step, rpl.Data)
				}
			}
		default:
			t.Fatalf("%s: unexpected method in the log", step)
		}
	}
	if st := srv.Stats(); st.Channel.Posts != 1 || st.Channel.Deliveries != 2 || st.Registered != 2 {
		t.Fatalf("server stats after the replay: %+v", st)
	}
	if !ntlm {
		return
	}
	if len(p.sigErrs) > 0 || p.verified < 20 {
		t.Fatalf("%d server signatures verified, %d did not: %v", p.verified, len(p.sigErrs), p.sigErrs)
	}
	if st := srv.Stats().Auth; st.SignIns != 2 || st.Unsigned+st.BadSignatures+st.Impersonations != 0 || srv.Stats().SIP.ResponsesRefused != 0 {
		t.Fatalf("server auth stats %+v, answers refused %d", st, srv.Stats().SIP.ResponsesRefused)
	}
}

// signInNTLM sends the log's REGISTER raw three times (MS-SIPAE 4.1, as
// SIPE does), with login (the sign-in address, empty domain) and
// password, and returns the association, once the 200's signature
// verified.
func (p *rawPeer) signInNTLM(raw []byte, m *sipnet.Message, login, password string) *sipae.ClientSA {
	p.t.Helper()
	with := func(auth string) *sipnet.Message {
		msg := raw
		if auth != "" {
			end := bytes.Index(raw, []byte("\r\n\r\n")) + 2
			msg = append(append(append([]byte(nil), raw[:end]...), "Authorization: "+auth+"\r\n"...), raw[end:]...)
		}
		p.send(msg)
		return p.waitResponse(m.CallID, m.CSeq, m.Method)
	}
	r := with("")
	offer, err := sipae.FindNTLM(r.Headers("WWW-Authenticate"))
	if r.StatusCode != 401 || err != nil {
		p.t.Fatalf("REGISTER without credentials: %d %v", r.StatusCode, err)
	}
	cli := sipae.NewClient(sipae.ClientConfig{User: login, Password: password})
	step2, err := cli.Begin(offer)
	if err != nil {
		p.t.Fatal(err)
	}
	r = with(step2)
	ch, err := sipae.FindNTLM(r.Headers("WWW-Authenticate"))
	if r.StatusCode != 401 || err != nil {
		p.t.Fatalf("REGISTER asking for the challenge: %d %v", r.StatusCode, err)
	}
	step3, sa, err := cli.Continue(ch, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	r = with(step3)
	if r.StatusCode != 200 {
		p.t.Fatalf("REGISTER with the AUTHENTICATE: %d %s", r.StatusCode, r.Reason)
	}
	var f sipae.Fields
	f.SetMessage(r, 200)
	if err := sa.Verify(r.AuthInfo, &f); err != nil {
		p.t.Fatalf("the REGISTER 200's signature: %v", err)
	}
	return sa
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestMalformedSIP: garbage and malformed requests get 400 (when they can
// be answered at all); the connection and the server stay up.
func TestMalformedSIP(t *testing.T) {
	t.Parallel()
	srv := refservertest.Start(t)
	p := newRawPeer(t, srv.TCPAddr())
	reg := func(cseq int) string {
		return "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKm" + strconv.Itoa(cseq) +
			"\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\nCall-ID: mal\r\nCSeq: " + strconv.Itoa(cseq) +
			" REGISTER\r\nContact: <sip:alice@127.0.0.1:1>\r\nContent-Length: 0\r\n\r\n"
	}
	p.send([]byte("this is not SIP\r\n\r\n"))
	p.send([]byte("INFO sip:gcs1@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKbad\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:gcs1@example.com>\r\nCall-ID: bad\r\nCSeq: x INFO\r\nContent-Length: 0\r\n\r\n"))
	_ = p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, err := p.rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "SIP/2.0 400 ") {
		t.Fatalf("malformed CSeq: %q %v", status, err)
	}
	for { // the rest of the 400, which repeats the bad CSeq as received
		l, err := p.rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	p.send([]byte("INVITE sip:ocschat@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:1;branch=z9hG4bKnoreg\r\nFrom: <sip:alice@example.com>;tag=2\r\nTo: <sip:ocschat@example.com>\r\nCall-ID: noreg\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"))
	if r := p.waitResponse("noreg", 1, "INVITE"); r.StatusCode != 403 {
		t.Fatalf("INVITE before REGISTER: %d", r.StatusCode)
	}
	p.send([]byte(reg(1)))
	if r := p.waitResponse("mal", 1, "REGISTER"); r.StatusCode != 200 {
		t.Fatalf("REGISTER after garbage: %d", r.StatusCode)
	}
	if st := srv.Stats(); st.SIP.Malformed != 2 || st.Registered != 1 {
		t.Fatalf("stats %+v", st.SIP)
	}
}
