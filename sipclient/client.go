package sipclient

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipauth/sipae"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/xccos"
)

// Flow is how a client asks the lookup service for a channel service.
type Flow int

// Lookup flows (protocol section 3).
const (
	// FlowClient is the real clients' flow: INVITE with SDP, 200, ACK, INFO
	// cmd:requri, INFO rpl:requri, BYE.
	FlowClient Flow = iota
	// FlowCancel is the console flow: INVITE whose body is cmd:requri, 183
	// carrying rpl:requri, CANCEL, 487.
	FlowCancel
)

func (f Flow) String() string {
	if f == FlowCancel {
		return "cancel"
	}
	return "client"
}

// DefaultEventBuffer is the size of the Events channel.
const DefaultEventBuffer = 1024

// UserAgent is sent in User-Agent headers.
const UserAgent = "gcload/0.1 (sipclient)"

// Config configures a client.
type Config struct {
	// User is the address of record, sip:alice@example.com.
	User string
	// Server is host:port of the server (a client's server setting).
	Server string
	// Transport is "TCP" (default) or "UDP".
	Transport string
	// Lookup is the lookup URI; default sip:ocschat@ the user's domain.
	Lookup string
	// Flow is the lookup flow of Connect.
	Flow Flow
	// Stay keeps the client on the server it signed in to when a channel
	// URI names another server of a pool (see OpenChannel): it INVITEs the
	// channel service over its connection, as SIPE does.
	Stay bool
	// Router and Conn share an endpoint and a connection among clients;
	// when Conn is nil the client dials its own on SignIn.
	Router *Router
	Conn   *sipnet.Conn
	// Dial, when set, gives the connection to another server that a
	// channel URI names (a pool's server, see OpenChannel): a swarm shares
	// its connections. Without it the client dials its own.
	Dial func(ctx context.Context, addr string) (*sipnet.Conn, error)
	// OnEvent, when set, receives events on endpoint goroutines (it must
	// not block) instead of the Events channel.
	OnEvent func(Event)
	// EventBuffer is the size of the Events channel (DefaultEventBuffer).
	EventBuffer int
	// Now is the clock (time.Now).
	Now func() time.Time

	// Login and Password answer the server's challenges (auth.go): Login
	// is "alice", `EXAMPLE\alice` or "alice@example.com", empty for the
	// address of User (what SIPE sends when no separate login is set).
	// Without a password a challenge fails the sign-in.
	Login, Password string
	// Auth restricts the schemes answered: AuthAny (NTLM when offered,
	// else digest), AuthNTLM or AuthDigest; DigestAlgorithm picks the
	// digest algorithm ("MD5", "SHA-256"; empty: the server's first).
	Auth, DigestAlgorithm string
	// ExpectChallenge makes a REGISTER without credentials that is
	// accepted at once a violation of ruleid.Challenge (the client was given
	// credentials for a server that authenticates).
	ExpectChallenge bool
	// SALifetime is how long the client assumes an NTLM security
	// association lasts (NTLM announces none; default 8 h): it signs in
	// again sipae.RenewBefore earlier, or halfway through a short one.
	SALifetime time.Duration
	// TLS configures the connection when Transport is "TLS" (nil: the
	// system roots, and the server's host name as SNI).
	TLS *tls.Config
}

// Client is one simulated user.
type Client struct {
	ownSA     atomic.Pointer[ownSA] // auth.go
	cfg       Config
	router    *Router
	ownRouter bool
	ep        *sipnet.Endpoint
	conn      *sipnet.Conn
	ownConn   bool
	aor       string
	domain    string
	lookupURI string
	epid      string
	envid     atomic.Uint64
	events    chan Event

	mu         sync.Mutex
	server     string // where the client is signed in (HOST:PORT)
	registered bool
	regCallID  string
	regCSeq    uint32
	regTag     string
	chanDlg    *sipnet.Dialog
	chanURI    string
	lookupDlg  *sipnet.Dialog
	lookupRpl  chan *xccos.Item
	pending    map[uint64]chan *xccos.Item
	answered   map[uint64]struct{}
	answeredQ  []uint64
	late       map[uint64]struct{} // commands given up on: their reply is late
	lateQ      []uint64
	violations []*Violation
	nviol      int
	closed     bool
	lost       bool

	sa       *sipae.ClientSA // the NTLM association (nil: none)
	renewing atomic.Bool
	renewals atomic.Int64
	bg       sync.WaitGroup // renewals in progress
	bgCtx    context.Context
	bgStop   context.CancelFunc
}

// New makes a client; nothing is sent until SignIn.
func New(cfg Config) (*Client, error) {
	aor, err := sipnet.AOR(cfg.User)
	if err != nil || !strings.Contains(aor, "@") {
		return nil, fmt.Errorf("sipclient: user %q: want sip:user@domain", cfg.User)
	}
	if cfg.Server == "" && cfg.Conn == nil {
		return nil, errors.New("sipclient: no server address")
	}
	switch strings.ToUpper(cfg.Transport) {
	case "", "TCP":
		cfg.Transport = sipnet.TCP
	case "UDP":
		cfg.Transport = sipnet.UDP
	case "TLS":
		cfg.Transport = sipnet.TLS
	default:
		return nil, fmt.Errorf("sipclient: transport %q: want TCP, TLS or UDP", cfg.Transport)
	}
	switch cfg.Auth {
	case AuthAny, AuthNTLM, AuthDigest:
	default:
		return nil, fmt.Errorf("sipclient: auth %q: want %q, %q or empty", cfg.Auth, AuthNTLM, AuthDigest)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = DefaultEventBuffer
	}
	c := &Client{cfg: cfg, aor: aor, pending: map[uint64]chan *xccos.Item{}, answered: map[uint64]struct{}{}, late: map[uint64]struct{}{}}
	c.bgCtx, c.bgStop = context.WithCancel(context.Background())
	_, c.domain, _ = strings.Cut(aor, "@")
	c.lookupURI = cfg.Lookup
	if c.lookupURI == "" {
		c.lookupURI = "sip:ocschat@" + c.domain
	}
	c.server = cfg.Server
	c.router = cfg.Router
	if c.router == nil {
		c.router = NewRouter(RouterOptions{})
		c.ownRouter = true
	}
	c.ep = c.router.ep
	c.conn = cfg.Conn
	if cfg.OnEvent == nil {
		c.events = make(chan Event, cfg.EventBuffer)
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	c.epid = hex.EncodeToString(b[:6])
	c.envid.Store(uint64(binary.LittleEndian.Uint32(b[6:10])))
	return c, nil
}

// User returns the client's address of record.
func (c *Client) User() string { return c.aor }

// ChannelURI returns the channel service the session is open with.
func (c *Client) ChannelURI() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.chanURI
}

// Events yields deliveries, notices, rejections and violations (nil when
// Config.OnEvent is set).
func (c *Client) Events() <-chan Event { return c.events }

// Violations returns the violations seen so far.
func (c *Client) Violations() []*Violation {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Violation(nil), c.violations...)
}

func (c *Client) emit(e Event) {
	if c.cfg.OnEvent != nil {
		c.cfg.OnEvent(e)
		return
	}
	select {
	case c.events <- e:
	default: // the reader is behind: drop rather than block the endpoint
	}
}

func (c *Client) violate(rule, detail string, msg []byte) *Violation {
	v := &Violation{Rule: rule, Detail: detail, Msg: msg}
	c.mu.Lock()
	c.nviol++
	if len(c.violations) < 1000 {
		c.violations = append(c.violations, v)
	}
	c.mu.Unlock()
	c.emit(Event{Kind: Breach, At: c.cfg.Now(), Violation: v})
	return v
}

func (c *Client) nextEnvID() uint64 { return c.envid.Add(1) }

// Connect signs in, looks up a channel service with the configured flow
// and opens the channel session.
func (c *Client) Connect(ctx context.Context) error {
	if err := c.SignIn(ctx); err != nil {
		return err
	}
	uri, err := c.Lookup(ctx, c.cfg.Flow)
	if err != nil {
		return err
	}
	return c.OpenChannel(ctx, uri)
}

func (c *Client) dial(ctx context.Context) error {
	if c.conn != nil {
		return nil
	}
	conn, err := c.dialAddr(ctx, c.cfg.Server)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.conn, c.ownConn = conn, true
	c.mu.Unlock()
	return nil
}

// dialAddr opens a connection of the client's own to the server at addr
// over the configured transport.
func (c *Client) dialAddr(ctx context.Context, addr string) (*sipnet.Conn, error) {
	switch c.cfg.Transport {
	case sipnet.UDP:
		return c.ep.DialUDP(ctx, addr)
	case sipnet.TLS:
		return c.ep.DialTLS(ctx, addr, c.cfg.TLS)
	}
	return c.ep.DialTCP(ctx, addr)
}

func (c *Client) contactURI() string {
	return "sip:" + sipnet.UserOf(c.aor) + "@" + c.conn.LocalAddr().String() + ";transport=" + strings.ToLower(c.conn.Transport())
}

// newRequest builds an out-of-dialog request from this user, rendered
// straight into bytes by sipnet (no sipgo message per request).
func (c *Client) newRequest(method, ruri, to, callID, fromTag string, cseq uint32) *sipnet.OutRequest {
	r := &sipnet.OutRequest{
		Method: method, URI: ruri,
		From:   "<" + c.aor + ">;tag=" + fromTag + ";epid=" + c.epid,
		To:     "<" + to + ">",
		CallID: callID, CSeq: cseq,
	}
	r.Headers = append(make([]sipnet.Header, 0, 12), sipnet.Header{Name: "User-Agent", Value: UserAgent})
	return r
}

// addHeader appends a header to an out-of-dialog request.
func addHeader(r *sipnet.OutRequest, name, value string) {
	r.Headers = append(r.Headers, sipnet.Header{Name: name, Value: value})
}

// SignIn dials (unless given a connection), registers and fetches the
// provisioning document, as SIPE does before group chat.
func (c *Client) SignIn(ctx context.Context) error {
	if err := c.dial(ctx); err != nil {
		return err
	}
	res, sa, err := c.signInAuth(ctx)
	if err != nil {
		return err
	}
	c.checkRegister(res)
	if sa != nil {
		c.verifyFinal(res, sa)
		c.mu.Lock()
		c.sa = sa
		c.mu.Unlock()
		c.router.securityOf(c.conn).add(c, sa)
		c.scheduleRenewal(sa)
	}
	// provisioning
	sub := c.newRequest("SUBSCRIBE", c.aor, c.aor, newCallID(), sipnet.NewTag(), 1)
	sub.Headers = append(sub.Headers, provisioningHeaders...)
	addHeader(sub, "Contact", "<"+c.contactURI()+">;proxy=replace")
	sub.ContentType = "application/vnd-microsoft-roaming-provisioning-v2+xml"
	sub.Body = provisioningBody
	res, err = c.ep.DoRequest(ctx, c.conn, sub)
	if err != nil {
		return fmt.Errorf("sipclient: provisioning SUBSCRIBE: %w", err)
	}
	if res.StatusCode != 200 {
		return &StatusError{Method: "SUBSCRIBE", Code: res.StatusCode, Reason: res.Reason}
	}
	c.checkProvisioning(res)
	c.mu.Lock()
	c.registered = true
	c.mu.Unlock()
	return nil
}

// provisioningHeaders are the constant headers of the provisioning
// SUBSCRIBE, as SIPE sends them.
var provisioningHeaders = []sipnet.Header{
	{Name: "Event", Value: "vnd-microsoft-provisioning-v2"},
	{Name: "Accept", Value: "application/vnd-microsoft-roaming-provisioning-v2+xml"},
	{Name: "Supported", Value: "com.microsoft.autoextend"},
	{Name: "Supported", Value: "ms-benotify"},
	{Name: "Proxy-Require", Value: "ms-benotify"},
	{Name: "Supported", Value: "ms-piggyback-first-notify"},
	{Name: "Expires", Value: "0"},
}

// provisioningBody is the provisioning SUBSCRIBE's body.
var provisioningBody = []byte(`<provisioningGroupList xmlns="http://schemas.microsoft.com/2006/09/sip/provisioninggrouplist"> <provisioningGroup name="ServerConfiguration"/> <provisioningGroup name="meetingPolicy"/> <provisioningGroup name="persistentChatConfiguration"/> <provisioningGroup name="ucPolicy"/></provisioningGroupList>`)

// checkRegister holds the REGISTER 200 to what SIPE needs (section 2).
func (c *Client) checkRegister(res *sipnet.Message) {
	c.router.checks.registers.Add(1)
	var probs []string
	if v, ok := res.Header("Expires"); !ok || strings.TrimSpace(v) == "0" || strings.TrimSpace(v) == "" {
		probs = append(probs, "no positive Expires")
	}
	hasEC := false
	for _, v := range res.Headers("Supported") {
		if strings.TrimSpace(v) == "msrtc-event-categories" {
			hasEC = true
		}
	}
	if !hasEC {
		probs = append(probs, "no Supported header whose whole value is msrtc-event-categories")
	}
	ok := false
	for _, v := range res.Headers("Allow-Events") {
		for _, e := range strings.Split(v, ",") {
			if e == "vnd-microsoft-provisioning-v2" {
				ok = true
			}
		}
	}
	if !ok {
		probs = append(probs, "no Allow-Events vnd-microsoft-provisioning-v2 (without spaces after commas)")
	}
	if len(probs) > 0 {
		c.violate(ruleid.Register, strings.Join(probs, "; "), res.Raw)
	}
}

func (c *Client) checkProvisioning(res *sipnet.Message) {
	c.router.checks.provision.Add(1)
	if !strings.Contains(string(res.Body), "provisionGroupList") {
		c.violate(ruleid.Provisioning, "provisioning 200 has no provisionGroupList body", res.Raw)
	}
}

func newCallID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func sdpOffer(conn *sipnet.Conn) []byte {
	ip := conn.LocalAddr().Addr().String()
	return []byte("v=0\r\no=- 0 0 IN IP4 " + ip + "\r\ns=session\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=message 5061 sip null\r\na=accept-types:text/plain\r\n")
}

// invite sends a dialog-creating INVITE.
func (c *Client) invite(target string, body []byte, ctype string) (*sipnet.ClientTx, error) {
	callID, tag := newCallID(), sipnet.NewTag()
	req := c.newRequest("INVITE", target, target, callID, tag, 1)
	addHeader(req, "Supported", "ms-sender")
	addHeader(req, "Contact", "<"+c.contactURI()+">;proxy=replace")
	req.ContentType, req.Body = ctype, body
	return c.ep.BeginRequest(c.conn, req)
}

// establish waits for an INVITE's final answer and confirms the dialog.
func (c *Client) establish(ctx context.Context, tx *sipnet.ClientTx, target string) (*sipnet.Dialog, error) {
	res, err := tx.Wait(ctx)
	if err != nil {
		return nil, fmt.Errorf("sipclient: INVITE %s: %w", target, err)
	}
	if res.StatusCode != 200 {
		return nil, &StatusError{Method: "INVITE", Code: res.StatusCode, Reason: res.Reason}
	}
	remote := target
	if ct, ok := res.Header("Contact"); ok {
		if u, err := sipnet.URIOf(ct); err == nil {
			remote = u
		}
	}
	d := sipnet.NewDialog(c.conn, res.CallID, "<"+c.aor+">", res.FromTag, "<"+target+">", res.ToTag, remote, res.CSeq)
	c.router.add(d.ID(), c)
	if err := d.Ack(c.ep, res.CSeq, res.Branch); err != nil {
		c.router.remove(d.ID())
		return nil, err
	}
	return d, nil
}

// Lookup asks the lookup service for a channel service URI.
func (c *Client) Lookup(ctx context.Context, flow Flow) (string, error) {
	c.mu.Lock()
	reg := c.registered
	c.mu.Unlock()
	if !reg {
		return "", ErrNotSignedIn
	}
	if flow == FlowCancel {
		return c.lookupCancel(ctx)
	}
	tx, err := c.invite(c.lookupURI, sdpOffer(c.conn), "application/sdp")
	if err != nil {
		return "", err
	}
	d, err := c.establish(ctx, tx, c.lookupURI)
	if err != nil {
		return "", err
	}
	defer func() {
		c.router.remove(d.ID())
		c.mu.Lock()
		c.lookupDlg, c.lookupRpl = nil, nil
		c.mu.Unlock()
	}()
	wait := make(chan *xccos.Item, 1)
	c.mu.Lock()
	c.lookupDlg, c.lookupRpl = d, wait
	c.mu.Unlock()
	envid := c.nextEnvID()
	res, err := d.Do(ctx, c.ep, "INFO", "text/plain", xccos.NewCommand(envid, "requri", &xccos.Data{}).Marshal())
	if err != nil {
		return "", fmt.Errorf("sipclient: INFO cmd:requri: %w", err)
	}
	c.checkInfoAnswer(res)
	if res.StatusCode != 200 {
		return "", &StatusError{Method: "INFO", Code: res.StatusCode, Reason: res.Reason}
	}
	var rpl *xccos.Item
	select {
	case rpl = <-wait:
	case <-ctx.Done():
		c.mu.Lock()
		c.lookupRpl = nil
		c.mu.Unlock()
		c.giveUp(envid, "requri", wait)
		return "", fmt.Errorf("%w: rpl:requri: %w", ErrReplyTimeout, ctx.Err())
	}
	if rpl.Reply.CommandEnvID != envid {
		c.violate(ruleid.CommandID, fmt.Sprintf("rpl:requri names envid %d, the command was %d", rpl.Reply.CommandEnvID, envid), nil)
	}
	if bye, err := d.Do(ctx, c.ep, "BYE", "", nil); err != nil {
		return "", fmt.Errorf("sipclient: BYE to the lookup service: %w", err)
	} else if bye.StatusCode != 200 {
		return "", &StatusError{Method: "BYE", Code: bye.StatusCode, Reason: bye.Reason}
	}
	return c.requriResult(rpl, nil)
}

func (c *Client) requriResult(rpl *xccos.Item, raw []byte) (string, error) {
	c.router.checks.lookups.Add(1)
	if rpl.Reply.Code != 200 {
		return "", &ReplyError{Command: "requri", Code: rpl.Reply.Code, Text: rpl.Reply.Text}
	}
	if rpl.Data == nil || len(rpl.Data.Users) == 0 || rpl.Data.Users[0].URI == "" {
		c.violate(ruleid.LookupURI, "rpl:requri has no data/uib@uri", raw)
		return "", fmt.Errorf("%w: rpl:requri without a channel URI", ErrUnexpected)
	}
	u := rpl.Data.Users[0].URI
	if a, err := sipnet.AOR(u); err != nil || !strings.HasPrefix(strings.ToLower(u), "sip:") || !strings.Contains(a, "@") {
		c.violate(ruleid.LookupURI, fmt.Sprintf("rpl:requri names %q, not a sip: URI of a channel service", u), raw)
		return "", fmt.Errorf("%w: channel URI %q", ErrUnexpected, u)
	}
	return u, nil
}

// lookupCancel is the console flow: the 183 carries rpl:requri; CANCEL;
// the INVITE ends 487.
func (c *Client) lookupCancel(ctx context.Context) (string, error) {
	envid := c.nextEnvID()
	tx, err := c.invite(c.lookupURI, xccos.NewCommand(envid, "requri", &xccos.Data{}).Marshal(), "text/plain")
	if err != nil {
		return "", err
	}
	var early *sipnet.Message
	for early == nil {
		select {
		case m, ok := <-tx.Responses():
			if !ok {
				fin, err := tx.Result()
				if err != nil {
					return "", fmt.Errorf("sipclient: lookup INVITE: %w", err)
				}
				return "", fmt.Errorf("%w: lookup INVITE answered %d %s before any 183 (console flow)", ErrUnexpected, fin.StatusCode, fin.Reason)
			}
			if m.StatusCode == 183 && len(m.Body) > 0 {
				early = m
			} else if m.StatusCode >= 200 {
				if m.StatusCode == 200 {
					// The service answered as in the client flow: end that dialog.
					d := sipnet.NewDialog(c.conn, m.CallID, "<"+c.aor+">", m.FromTag, "<"+c.lookupURI+">", m.ToTag, c.lookupURI, m.CSeq)
					_ = d.Ack(c.ep, m.CSeq, m.Branch)
					_, _ = d.Do(ctx, c.ep, "BYE", "", nil)
				}
				return "", fmt.Errorf("%w: lookup INVITE answered %d %s, want 183 then 487 (console flow)", ErrUnexpected, m.StatusCode, m.Reason)
			}
		case <-ctx.Done():
			return "", fmt.Errorf("sipclient: waiting for the lookup 183: %w", ctx.Err())
		}
	}
	env, err := xccos.Parse(early.Body)
	var rpl *xccos.Item
	if err == nil {
		for i := range env.Items {
			if env.Items[i].Kind == xccos.KindReply && env.Items[i].Name == "requri" {
				rpl = &env.Items[i]
			}
		}
	}
	// the 183's answer is checked first, the CANCEL then
	var uri string
	var uerr error
	if rpl == nil {
		c.violate(ruleid.LookupURI, "the lookup 183 carries no rpl:requri envelope", early.Raw)
		uerr = fmt.Errorf("%w: 183 without rpl:requri", ErrUnexpected)
	} else {
		c.router.checks.replies.Add(1)
		if rpl.Reply.CommandEnvID != envid {
			c.violate(ruleid.CommandID, fmt.Sprintf("rpl:requri names envid %d, the command was %d", rpl.Reply.CommandEnvID, envid), early.Raw)
		}
		uri, uerr = c.requriResult(rpl, early.Raw)
	}
	ctx2, err := tx.Cancel()
	if err != nil {
		return "", err
	}
	cres, err := ctx2.Wait(ctx)
	c.router.checks.cancels.Add(1)
	switch {
	case err != nil:
		c.violate(ruleid.Cancel487, "the CANCEL of the pending lookup INVITE got no answer: "+err.Error(), nil)
		return "", fmt.Errorf("sipclient: CANCEL of the lookup INVITE: %w", err)
	case cres.StatusCode != 200:
		c.violate(ruleid.Cancel487, fmt.Sprintf("the CANCEL of the pending lookup INVITE was answered %d %s, want 200", cres.StatusCode, cres.Reason), cres.Raw)
		return "", &StatusError{Method: "CANCEL", Code: cres.StatusCode, Reason: cres.Reason}
	}
	fin, err := tx.Wait(ctx)
	switch {
	case err != nil:
		c.violate(ruleid.Cancel487, "the cancelled lookup INVITE got no final answer (want 487): "+err.Error(), nil)
		return "", fmt.Errorf("sipclient: lookup INVITE after CANCEL: %w", err)
	case fin.StatusCode != 487:
		c.violate(ruleid.Cancel487, fmt.Sprintf("the cancelled lookup INVITE was answered %d %s, want 487", fin.StatusCode, fin.Reason), fin.Raw)
		return "", fmt.Errorf("%w: cancelled lookup INVITE answered %d %s, want 487", ErrUnexpected, fin.StatusCode, fin.Reason)
	}
	return uri, uerr
}

// OpenChannel INVITEs the channel service and confirms the session. A
// channel URI whose host part names a server by address and port
// (sip:gcs1@HOST:PORT, as the servers of a pool name their channel
// services) other than the one the client is signed in to makes the client
// move there first: it signs in to that server, over Config.Dial's
// connection or one of its own, and closes its own connection to the first
// (docs/protocol.md, "Pools"); with Config.Stay it stays, and the server
// it is on serves that channel service.
func (c *Client) OpenChannel(ctx context.Context, channelURI string) error {
	c.mu.Lock()
	reg, at := c.registered, c.server
	c.mu.Unlock()
	if !reg {
		return ErrNotSignedIn
	}
	if addr, ok := ServerOf(channelURI); ok && !c.cfg.Stay && !sameServer(addr, at, c.conn) {
		if err := c.moveTo(ctx, addr); err != nil {
			return err
		}
	}
	tx, err := c.invite(channelURI, sdpOffer(c.conn), "application/sdp")
	if err != nil {
		return err
	}
	d, err := c.establish(ctx, tx, channelURI)
	if err != nil {
		return err
	}
	c.mu.Lock()
	old := c.chanDlg
	c.chanDlg, c.chanURI, c.lost = d, channelURI, false
	c.mu.Unlock()
	if old != nil {
		c.router.remove(old.ID())
	}
	return nil
}

// ServerOf returns the HOST:PORT a channel URI's host part names, when it
// has a port (sip:gcs1@10.0.0.2:5061); a URI of a domain
// (sip:gcs1@example.com) names no server.
func ServerOf(uri string) (string, bool) {
	u, err := sipnet.URIOf(uri)
	if err != nil {
		return "", false
	}
	_, rest, ok := strings.Cut(u, ":")
	if !ok {
		return "", false
	}
	if i := strings.IndexAny(rest, ";?"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	host, port, err := net.SplitHostPort(rest)
	if err != nil || host == "" || port == "" {
		return "", false
	}
	return net.JoinHostPort(host, port), true
}

// sameServer reports whether addr is the server the client is at: its
// configured address, or the address of its connection.
func sameServer(addr, at string, conn *sipnet.Conn) bool {
	if addr == at {
		return true
	}
	ap, err := netip.ParseAddrPort(addr)
	return err == nil && conn != nil && ap == conn.RemoteAddr()
}

// moveTo signs the client in to the server at addr and makes it the one it
// talks to; its own connection to the server it leaves is closed (that
// server then forgets it), a shared one is left to the others.
func (c *Client) moveTo(ctx context.Context, addr string) error {
	var nc *sipnet.Conn
	var err error
	own := c.cfg.Dial == nil
	if own {
		nc, err = c.dialAddr(ctx, addr)
	} else {
		nc, err = c.cfg.Dial(ctx, addr)
	}
	if err != nil {
		return fmt.Errorf("sipclient: connect to the channel server %s: %w", addr, err)
	}
	c.mu.Lock()
	old, oldOwn := c.conn, c.ownConn
	c.conn, c.ownConn, c.server = nc, own, addr
	c.registered, c.regCallID, c.regCSeq = false, "", 0
	c.mu.Unlock()
	if oldOwn && old != nil {
		old.Close()
	}
	return c.SignIn(ctx)
}

// SignInAt signs the client in again through the server at addr, over a
// new connection (Config.Dial's, or its own): after its connection was
// lost, as a client whose server went away does. Lookup and OpenChannel
// then open a new channel session; the old one is forgotten.
func (c *Client) SignInAt(ctx context.Context, addr string) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClosed
	}
	return c.moveTo(ctx, addr)
}

// Server returns the HOST:PORT of the server the client talks to: the one
// it was given, or the pool's server it moved to.
func (c *Client) Server() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.server
}

// usesConn reports whether conn is the client's connection.
func (c *Client) usesConn(conn *sipnet.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn == conn
}

func (c *Client) channel() (*sipnet.Dialog, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.lost {
		return nil, ErrSessionEnded
	}
	if c.chanDlg == nil {
		return nil, ErrNoChannel
	}
	return c.chanDlg, nil
}

// checkInfoAnswer: every XCCOS INFO is answered 200 with no body.
func (c *Client) checkInfoAnswer(res *sipnet.Message) {
	c.router.checks.answers.Add(1)
	if res.StatusCode == 200 && len(res.Body) > 0 {
		c.violate(ruleid.Info200Empty, fmt.Sprintf("the 200 to an XCCOS INFO has a %d-byte body", len(res.Body)), res.Raw)
	}
}

// Command sends cmd:name with data and waits for its reply; a reply with a
// code other than 200 is a *ReplyError.
func (c *Client) Command(ctx context.Context, name string, data *xccos.Data) (*xccos.Item, error) {
	d, err := c.channel()
	if err != nil {
		return nil, err
	}
	envid := c.nextEnvID()
	wait := make(chan *xccos.Item, 1)
	c.mu.Lock()
	c.pending[envid] = wait
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, envid)
		c.mu.Unlock()
	}()
	res, err := d.Do(ctx, c.ep, "INFO", "text/plain", xccos.NewCommand(envid, name, data).Marshal())
	if err != nil {
		// the INFO may have reached the server, which may still reply:
		// that reply is late, not a reply to no command
		c.giveUp(envid, name, wait)
		return nil, fmt.Errorf("sipclient: INFO cmd:%s: %w", name, err)
	}
	c.checkInfoAnswer(res)
	if res.StatusCode != 200 {
		if res.StatusCode == 481 {
			c.markLost()
		}
		c.refused(res.StatusCode)
		return nil, &StatusError{Method: "INFO", Code: res.StatusCode, Reason: res.Reason}
	}
	select {
	case rpl := <-wait:
		if rpl.Reply.Code != 200 {
			return rpl, &ReplyError{Command: name, Code: rpl.Reply.Code, Text: rpl.Reply.Text}
		}
		return rpl, nil
	case <-ctx.Done():
		c.giveUp(envid, name, wait)
		return nil, fmt.Errorf("%w: rpl:%s: %w", ErrReplyTimeout, name, ctx.Err())
	}
}

// maxLate bounds the commands remembered as given up on.
const maxLate = 4096

// giveUp stops waiting for the reply to envid: a reply that comes later
// is late (a LateReply event), not a protocol violation. One that came
// in the meantime, too late to be taken, is late as well.
func (c *Client) giveUp(envid uint64, name string, wait chan *xccos.Item) {
	c.mu.Lock()
	delete(c.pending, envid)
	select {
	case <-wait:
		c.mu.Unlock()
		c.emit(Event{Kind: LateReply, At: c.cfg.Now(), EnvID: envid, Text: name})
		return
	default:
	}
	if len(c.lateQ) >= maxLate {
		delete(c.late, c.lateQ[0])
		c.lateQ = c.lateQ[1:]
	}
	c.late[envid] = struct{}{}
	c.lateQ = append(c.lateQ, envid)
	c.mu.Unlock()
}

// Post sends a grpchat to room and returns once the server answered its
// INFO 200 (the reference server does so only once the post is durable).
// A post the server refuses is answered by an rpl:grpchat error that
// arrives as a Rejected event naming the returned envid.
func (c *Client) Post(ctx context.Context, room, text string) (uint64, error) {
	return c.post(ctx, xccos.Chat{ChanURI: room, Author: c.aor, TS: c.cfg.Now(), Text: text})
}

// PostStory posts a story (a long post, up to the story size limit).
func (c *Client) PostStory(ctx context.Context, room, text string) (uint64, error) {
	return c.post(ctx, xccos.Chat{ChanURI: room, Author: c.aor, TS: c.cfg.Now(), Text: text, Story: true})
}

// PostChat sends a grpchat exactly as given (tests use it to send what a
// well-behaved client would not: a spoofed author, no timestamp).
func (c *Client) PostChat(ctx context.Context, ch xccos.Chat) (uint64, error) {
	return c.post(ctx, ch)
}

// chatBody renders the envelope of a post; a chat with a time and no
// timestamp text gets the time at second precision, as SIPE sends it.
func chatBody(envid uint64, ch *xccos.Chat) []byte {
	if !ch.TS.IsZero() && ch.TSRaw == "" {
		ch.TSRaw = ch.TS.UTC().Format("2006-01-02T15:04:05Z")
	}
	return xccos.AppendChat(make([]byte, 0, 256+len(ch.Text)), envid, ch)
}

func (c *Client) post(ctx context.Context, ch xccos.Chat) (uint64, error) {
	d, err := c.channel()
	if err != nil {
		return 0, err
	}
	envid := c.nextEnvID()
	res, err := d.Do(ctx, c.ep, "INFO", "text/plain", chatBody(envid, &ch))
	if err != nil {
		return envid, fmt.Errorf("sipclient: INFO grpchat: %w", err)
	}
	c.checkInfoAnswer(res)
	if res.StatusCode != 200 {
		if res.StatusCode == 481 {
			c.markLost()
		}
		c.refused(res.StatusCode)
		return envid, &StatusError{Method: "INFO", Code: res.StatusCode, Reason: res.Reason}
	}
	return envid, nil
}

// SendRaw sends an arbitrary INFO body in the channel session and returns
// the SIP answer (tests of malformed input).
func (c *Client) SendRaw(ctx context.Context, contentType string, body []byte) (*sipnet.Message, error) {
	d, err := c.channel()
	if err != nil {
		return nil, err
	}
	return d.Do(ctx, c.ep, "INFO", contentType, body)
}

func (c *Client) markLost() {
	c.mu.Lock()
	c.lost = true
	c.mu.Unlock()
}

// Close ends the channel session (BYE), unregisters, and closes the
// connection and endpoint the client owns.
func (c *Client) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	d, lost, reg := c.chanDlg, c.lost, c.registered
	c.mu.Unlock()
	var errs []error
	if d != nil && !lost {
		if res, err := d.Do(ctx, c.ep, "BYE", "", nil); err != nil {
			errs = append(errs, fmt.Errorf("sipclient: BYE: %w", err))
		} else if res.StatusCode != 200 {
			errs = append(errs, &StatusError{Method: "BYE", Code: res.StatusCode, Reason: res.Reason})
		}
		c.router.remove(d.ID())
	}
	if reg && c.conn != nil {
		if _, _, err := c.registerAuth(ctx, true); err != nil && !errors.Is(err, sipnet.ErrClosed) {
			errs = append(errs, fmt.Errorf("sipclient: unREGISTER: %w", err))
		}
	}
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.bgStop()
	c.bg.Wait()
	if c.conn != nil {
		if s, ok := c.conn.Security().(*security); ok {
			s.remove(c)
		}
	}
	if c.ownConn && c.conn != nil {
		c.conn.Close()
	}
	if c.ownRouter {
		c.router.Close()
	}
	return errors.Join(errs...)
}

func (c *Client) connLost() {
	c.mu.Lock()
	had := c.chanDlg != nil && !c.lost && !c.closed
	c.lost = true
	c.mu.Unlock()
	if had {
		c.emit(Event{Kind: Ended, At: c.cfg.Now(), Text: "connection closed"})
	}
}

// RawCommand sends body, an envelope the caller wrote (possibly malformed),
// as an INFO in the channel session, and waits for the reply that names
// envid. It returns the SIP answer and the reply.
func (c *Client) RawCommand(ctx context.Context, envid uint64, body []byte) (*sipnet.Message, *xccos.Item, error) {
	d, err := c.channel()
	if err != nil {
		return nil, nil, err
	}
	wait := make(chan *xccos.Item, 1)
	c.mu.Lock()
	c.pending[envid] = wait
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, envid)
		c.mu.Unlock()
	}()
	res, err := d.Do(ctx, c.ep, "INFO", "text/plain", body)
	if err != nil {
		c.giveUp(envid, "", wait) // as in Command
		return nil, nil, err
	}
	if res.StatusCode != 200 {
		return res, nil, nil
	}
	select {
	case rpl := <-wait:
		return res, rpl, nil
	case <-ctx.Done():
		c.giveUp(envid, "", wait)
		return res, nil, fmt.Errorf("%w: envid %d: %w", ErrReplyTimeout, envid, ctx.Err())
	}
}

// NextEnvID allocates the envid of an envelope the caller is about to send
// with SendChatBatch.
func (c *Client) NextEnvID() uint64 { return c.nextEnvID() }

// SendChatBatch posts without waiting: the envelope of envid (from
// NextEnvID) holding ch is sent in the channel session as part of a batch
// of writes (b may be nil: at once; else when the batch is flushed), and cb
// gets the SIP answer's status later, or the error that ended the
// transaction (a timeout, the connection closing), on an endpoint
// goroutine; when SendChatBatch returns an error, cb is not called. It is
// the load engine's post: no goroutine waits on it.
func (c *Client) SendChatBatch(b *sipnet.Batch, envid uint64, ch xccos.Chat, cb sipnet.StatusFunc) error {
	d, err := c.channel()
	if err != nil {
		return err
	}
	return d.SendBatch(c.ep, b, "INFO", "text/plain", chatBody(envid, &ch), func(status int, err error) {
		if status == 481 {
			c.markLost()
		}
		c.refused(status)
		if cb != nil {
			cb(status, err)
		}
	})
}
