package check

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipnet"
)

// wire is a raw SIP connection: the probes that need requests no
// well-behaved client library sends (no Via branch, an unknown dialog, a
// bare keep-alive) write them byte for byte.
type wire struct {
	s     *suite
	c     net.Conn
	r     *bufio.Reader
	user  string // sip:user@domain
	local string // host:port
	cseq  int
}

func (s *suite) dialWire(ctx context.Context, user string) (*wire, error) {
	d := net.Dialer{Timeout: s.o.Timeout}
	c, err := d.DialContext(ctx, "tcp", s.t.Server())
	if err != nil {
		return nil, err
	}
	aor, _ := sipnet.AOR(user)
	return &wire{s: s, c: c, r: bufio.NewReader(c), user: aor, local: c.LocalAddr().String()}, nil
}

func (w *wire) Close() error { return w.c.Close() }

// req is a request to write.
type req struct {
	method, ruri string
	branch       bool // with a Via branch
	callID       string
	fromTag      string
	toTag        string
	to           string // default the user
	ctype        string
	body         string
	extra        []string
}

// send writes a request and returns its CSeq number and branch.
func (w *wire) send(r req) (cseq int, branch string, err error) {
	w.cseq++
	cseq = w.cseq
	via := "SIP/2.0/TCP " + w.local
	if r.branch {
		branch = "z9hG4bK" + sipnet.NewTag()
		via += ";branch=" + branch
	}
	to := r.to
	if to == "" {
		to = w.user
	}
	toTag := ""
	if r.toTag != "" {
		toTag = ";tag=" + r.toTag
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\nVia: %s\r\nMax-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContact: <sip:%s@%s;transport=tcp>\r\nUser-Agent: gcload-conform\r\n",
		r.method, r.ruri, via, w.user, r.fromTag, to, toTag, r.callID, cseq, r.method, sipnet.UserOf(w.user), w.local)
	for _, h := range r.extra {
		b.WriteString(h + "\r\n")
	}
	if r.ctype != "" {
		b.WriteString("Content-Type: " + r.ctype + "\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(r.body), r.body)
	_, err = io.WriteString(w.c, b.String())
	return cseq, branch, err
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
	regCall := newID()
	res, err := w.do(req{method: "REGISTER", ruri: "sip:" + s.t.Domain, branch: true, callID: regCall, fromTag: tag, extra: []string{"Expires: 300"}})
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
