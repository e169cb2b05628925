package check

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipauth"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipauth/digest"
	"github.com/gcload/gcload/sipauth/sipae"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipnet"
)

// wire is a raw SIP connection: the probes that need requests no
// well-behaved client library sends (no Via branch, an unknown dialog, a
// bare keep-alive, an unsigned or badly signed request, a request From
// another user) write them byte for byte. It signs in as its user with
// the target's credentials (NTLM or digest) and, after an NTLM sign-in,
// signs what it sends unless told not to.
type wire struct {
	s     *suite
	c     net.Conn
	r     *bufio.Reader
	user  string // sip:user@domain
	local string // host:port
	tr    string // the Via transport: TCP or TLS
	cseq  int
	sa    *sipae.ClientSA // after an NTLM sign-in
}

func (s *suite) dialWire(ctx context.Context, user string) (*wire, error) {
	d := net.Dialer{Timeout: s.o.Timeout}
	c, err := d.DialContext(ctx, "tcp", s.setup.Addr)
	if err != nil {
		return nil, err
	}
	tr := "TCP"
	if s.setup.Transport == sipnet.TLS {
		cfg := s.setup.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(s.setup.Addr)
		}
		tc := tls.Client(c, cfg)
		hctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, err
		}
		c, tr = tc, "TLS"
	}
	aor, _ := sipnet.AOR(user)
	return &wire{s: s, c: c, r: bufio.NewReader(c), user: aor, local: c.LocalAddr().String(), tr: tr}, nil
}

func (w *wire) Close() error { return w.c.Close() }

// Signing of a wire request.
const (
	signed   = iota // with the association, after an NTLM sign-in
	unsigned        // no Authorization header
	tampered        // a signature with one digit changed
)

// req is a request to write.
type req struct {
	method, ruri string
	branch       bool // with a Via branch
	callID       string
	fromTag      string
	toTag        string
	from         string // default the wire's user
	to           string // default the user
	ctype        string
	body         string
	extra        []string
	auth         string // an Authorization value to send (sign-in)
	sign         int    // signed, unsigned, tampered
}

// send writes a request and returns its CSeq number and branch.
func (w *wire) send(r req) (cseq int, branch string, err error) {
	w.cseq++
	cseq = w.cseq
	via := "SIP/2.0/" + w.tr + " " + w.local
	if r.branch {
		branch = "z9hG4bK" + sipnet.NewTag()
		via += ";branch=" + branch
	}
	from := r.from
	if from == "" {
		from = w.user
	}
	to := r.to
	if to == "" {
		to = from
	}
	toTag := ""
	if r.toTag != "" {
		toTag = ";tag=" + r.toTag
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:%s@%s;transport=%s>\r\nUser-Agent: gcload-conform\r\n",
		r.method, r.ruri, via, from, r.fromTag, to, toTag, r.callID, cseq, r.method, sipnet.UserOf(w.user), w.local, strings.ToLower(w.tr))
	for _, h := range r.extra {
		b.WriteString(h + "\r\n")
	}
	if r.auth != "" {
		b.WriteString("Authorization: " + r.auth + "\r\n")
	} else if w.sa != nil && r.sign != unsigned {
		b.WriteString(w.signature(b.String(), r))
	}
	if r.ctype != "" {
		b.WriteString("Content-Type: " + r.ctype + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(r.body), r.body)
	_, err = io.WriteString(w.c, b.String())
	return cseq, branch, err
}

// signature is the Authorization line that signs a request whose headers
// so far are head (the signed fields are all in them).
func (w *wire) signature(head string, r req) string {
	m, err := sipnet.Scan([]byte(head + "Content-Length: 0\r\n\r\n"))
	if err != nil {
		return ""
	}
	var f sipae.Fields
	m.SignedFields(&f)
	v := w.sa.Sign(nil, &f)
	if r.sign == tampered {
		i := len(v) - 2 // the last digit of the response
		v[i] = "10"[v[i]&1]
	}
	return "Authorization: " + string(v) + "\r\n"
}

// register sends a REGISTER (with an Authorization value, or none).
func (w *wire) register(tag, callID, auth string) (*sipnet.Message, error) {
	return w.do(req{method: "REGISTER", ruri: "sip:" + w.s.t.Domain, branch: true, callID: callID, fromTag: tag, extra: []string{"Expires: 300"}, auth: auth})
}

// signIn registers the wire's user, answering the server's challenges
// with the target's credentials as a client does (NTLM, else digest).
// The first answer (to a REGISTER without credentials) is returned too,
// for the challenge rule.
func (w *wire) signIn(tag string) (first, final *sipnet.Message, err error) {
	callID := newID()
	res, err := w.register(tag, callID, "")
	if err != nil {
		return nil, nil, err
	}
	first = res
	if res.StatusCode != 401 && res.StatusCode != 407 {
		return first, res, nil
	}
	cred, ok, err := w.s.setup.Credential(w.user)
	if err != nil || !ok {
		return first, res, fmt.Errorf("REGISTER answered %d and the target has no credentials for %s (%v)", res.StatusCode, w.user, err)
	}
	challenges := res.Headers("WWW-Authenticate")
	if offer, err := sipae.FindNTLM(challenges); err == nil && w.s.setup.Auth != sipclient.AuthDigest {
		user, domain := sipae.SplitLogin(loginOf(cred))
		cli := sipae.NewClient(sipae.ClientConfig{User: user, Domain: domain, Password: cred.Password})
		step2, err := cli.Begin(offer)
		if err != nil {
			return first, res, err
		}
		if res, err = w.register(tag, callID, step2); err != nil {
			return first, res, err
		}
		ch, err := sipae.FindNTLM(res.Headers("WWW-Authenticate"))
		if err != nil {
			return first, res, fmt.Errorf("the second REGISTER answered %d without an NTLM challenge: %w", res.StatusCode, err)
		}
		step3, sa, err := cli.Continue(ch, nil)
		if err != nil {
			return first, res, err
		}
		if res, err = w.register(tag, callID, step3); err != nil {
			return first, res, err
		}
		if res.StatusCode == 200 {
			w.sa = sa
		}
		return first, res, nil
	}
	for _, v := range challenges {
		f, err := sipauth.Parse(v)
		if err != nil {
			continue
		}
		ch, err := digest.ParseChallenge(f)
		if err != nil {
			continue
		}
		cr, err := digest.Respond(ch, "REGISTER", "sip:"+w.s.t.Domain, loginOf(cred), cred.Password, 1, sipnet.NewTag())
		if err != nil {
			return first, res, err
		}
		res, err = w.register(tag, callID, cr.Field().String())
		return first, res, err
	}
	return first, res, fmt.Errorf("REGISTER answered %d with no challenge the suite answers (%q)", res.StatusCode, challenges)
}

// loginOf is the user name a credential signs in with: its login, or
// its address (user@host).
func loginOf(c accounts.Credential) string {
	if c.User != "" {
		return c.User
	}
	return strings.TrimPrefix(strings.ToLower(c.URI), "sip:")
}

// errClosed: the server closed the connection.
var errClosed = errors.New("the server closed the connection")

// read reads one message.
func (w *wire) read(deadline time.Time) (*sipnet.Message, error) {
	_ = w.c.SetReadDeadline(deadline)
	var head bytes.Buffer
	for {
		line, err := w.r.ReadBytes('\n')
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
				return nil, errClosed
			}
			return nil, err
		}
		if head.Len() == 0 && (string(line) == "\r\n" || string(line) == "\n") {
			continue // keep-alive
		}
		head.Write(line)
		if string(line) == "\r\n" {
			break
		}
	}
	n := 0
	for _, l := range strings.Split(head.String(), "\r\n") {
		name, val, ok := strings.Cut(l, ":")
		if ok && (strings.EqualFold(strings.TrimSpace(name), "Content-Length") || strings.TrimSpace(name) == "l") {
			n, _ = strconv.Atoi(strings.TrimSpace(val))
		}
	}
	raw := head.Bytes()
	if n > 0 {
		body := make([]byte, n)
		if _, err := io.ReadFull(w.r, body); err != nil {
			return nil, err
		}
		raw = append(raw, body...)
	}
	return sipnet.Scan(raw)
}

// final waits for the final response to the request with callID and
// cseq, checking that each response to it carries the request's branch,
// Call-ID and CSeq (sip/transaction-match). Requests from the server are
// answered 200 (ACK: nothing).
func (w *wire) final(callID string, cseq int, method, branch string) (*sipnet.Message, error) {
	deadline := time.Now().Add(w.s.o.Timeout)
	for {
		m, err := w.read(deadline)
		if err != nil {
			return nil, err
		}
		if m.IsRequest() {
			continue
		}
		if m.CallID != callID {
			continue
		}
		switch {
		case m.CSeq != uint32(cseq) || !strings.EqualFold(m.CSeqMethod, method):
			w.s.fail(ruleid.TxMatch, fmt.Sprintf("the %d answering %s (CSeq %d %s) carries CSeq %d %s", m.StatusCode, method, cseq, method, m.CSeq, m.CSeqMethod), m.Raw)
		case branch != "" && m.Branch != branch:
			w.s.fail(ruleid.TxMatch, fmt.Sprintf("the %d answering %s carries Via branch %q, the request's was %q", m.StatusCode, method, m.Branch, branch), m.Raw)
		default:
			w.s.ok(ruleid.TxMatch)
		}
		if m.StatusCode >= 200 {
			return m, nil
		}
	}
}

// do sends a request and waits for its final response.
func (w *wire) do(r req) (*sipnet.Message, error) {
	cseq, branch, err := w.send(r)
	if err != nil {
		return nil, err
	}
	return w.final(r.callID, cseq, r.method, branch)
}

func newID() string { return sipnet.NewTag() + sipnet.NewTag() }

// probeWire: raw exchanges on one connection: REGISTER, OPTIONS, an INFO
// in an unknown dialog, a lookup INVITE/ACK/BYE without Via branches, and
// a CRLF keep-alive followed by a request.
func probeWire(ctx context.Context, s *suite, pr *probeRun) error {
	w, err := s.dialWire(ctx, s.t.Users[0])
	if err != nil {
		return err
	}
	defer w.Close()
	tag := sipnet.NewTag()
	_, res, err := w.signIn(tag)
	if err != nil {
		return fmt.Errorf("REGISTER: %w", err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("REGISTER answered %d %s", res.StatusCode, res.Reason)
	}
	if s.wants(ruleid.TxMatch) {
		if _, err := w.do(req{method: "OPTIONS", ruri: "sip:" + s.t.Domain, branch: true, callID: newID(), fromTag: tag}); err != nil {
			s.fail(ruleid.TxMatch, "OPTIONS got no answer: "+err.Error(), nil)
		}
	}
	if s.wants(ruleid.UnknownDialog) {
		res, err := w.do(req{method: "INFO", ruri: s.t.Lookup, branch: true, callID: newID(), fromTag: tag, toTag: sipnet.NewTag(), to: s.t.Lookup, ctype: "text/plain",
			body: `<xccos ver="1" envid="1" xmlns="urn:parlano:xml:ns:xccos"><cmd id="cmd:getserverinfo" seqid="1"><data/></cmd></xccos>`})
		switch {
		case err != nil:
			s.fail(ruleid.UnknownDialog, "an INFO in an unknown dialog got no answer: "+err.Error(), nil)
		case res.StatusCode != 481:
			s.fail(ruleid.UnknownDialog, fmt.Sprintf("an INFO in an unknown dialog was answered %d %s, want 481", res.StatusCode, res.Reason), res.Raw)
		default:
			s.ok(ruleid.UnknownDialog)
		}
	}
	if s.wants(ruleid.NoBranch) {
		if err := w.noBranchLookup(tag); err != nil {
			s.fail(ruleid.NoBranch, err.Error(), nil)
		} else {
			s.ok(ruleid.NoBranch)
		}
	}
	if s.wants(ruleid.KeepAlive) {
		if _, err := io.WriteString(w.c, "\r\n\r\n"); err != nil {
			s.fail(ruleid.KeepAlive, "writing the keep-alive: "+err.Error(), nil)
			return nil
		}
		// a server that closes on the keep-alive closes before it reads
		// the OPTIONS behind it: the read below sees the close
		res, err := w.do(req{method: "OPTIONS", ruri: "sip:" + s.t.Domain, branch: true, callID: newID(), fromTag: tag})
		switch {
		case errors.Is(err, errClosed):
			s.fail(ruleid.KeepAlive, "the server closed the connection after a CRLF CRLF keep-alive", nil)
		case err != nil:
			s.fail(ruleid.KeepAlive, "an OPTIONS after a CRLF CRLF keep-alive got no answer: "+err.Error(), nil)
		case res.StatusCode >= 300:
			s.fail(ruleid.KeepAlive, fmt.Sprintf("an OPTIONS after a CRLF CRLF keep-alive was answered %d %s", res.StatusCode, res.Reason), res.Raw)
		default:
			s.ok(ruleid.KeepAlive)
		}
	}
	return nil
}

// noBranchLookup runs SIPE's lookup INVITE, ACK and BYE without Via
// branches.
func (w *wire) noBranchLookup(fromTag string) error {
	call := newID()
	sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=session\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 5061 sip null\r\n"
	res, err := w.do(req{method: "INVITE", ruri: w.s.t.Lookup, callID: call, fromTag: fromTag, to: w.s.t.Lookup, ctype: "application/sdp", body: sdp, extra: []string{"Supported: ms-sender"}})
	if err != nil {
		return fmt.Errorf("an INVITE without Via branch got no final answer: %v", err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("an INVITE without Via branch (as SIPE sends it) was answered %d %s, want 200", res.StatusCode, res.Reason)
	}
	toTag := res.ToTag
	w.cseq-- // the ACK repeats the INVITE's CSeq number
	if _, _, err := w.send(req{method: "ACK", ruri: w.s.t.Lookup, callID: call, fromTag: fromTag, toTag: toTag, to: w.s.t.Lookup}); err != nil {
		return err
	}
	res, err = w.do(req{method: "BYE", ruri: w.s.t.Lookup, callID: call, fromTag: fromTag, toTag: toTag, to: w.s.t.Lookup})
	if err != nil {
		return fmt.Errorf("a BYE without Via branch got no answer: %v", err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("a BYE without Via branch was answered %d %s, want 200", res.StatusCode, res.Reason)
	}
	return nil
}
