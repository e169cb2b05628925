package sipclient

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipnet"
)

// Router owns a SIP endpoint and hands each request the server sends to
// the client whose dialog it belongs to. Many clients share one Router in
// a swarm; a client made without one gets its own.
type Router struct {
	ep *sipnet.Endpoint
	mu sync.RWMutex
	// dialogs from the client's side
	dialogs map[sipnet.DialogID]*Client
	stray   func(tx *sipnet.ServerTx)
	checks  checks
	secMu   sync.Mutex // makes each connection's security once
	chats   *chatMemos // deliveries parsed (chatmemo.go)
}

// checks counts the messages the per-message rules were applied to, by
// class of message (one atomic add per message, at most).
type checks struct {
	fast      atomic.Int64 // deliveries in the canonical form (ParseChatString)
	envelopes atomic.Int64 // other XCCOS INFOs, parsed in full
	chats     atomic.Int64 // grpchat items of those
	replies   atomic.Int64 // rpl items (and the console flow's rpl:requri)
	answers   atomic.Int64 // answers to the client's XCCOS INFOs
	registers atomic.Int64 // REGISTER 200s
	provision atomic.Int64 // provisioning 200s
	lookups   atomic.Int64 // rpl:requri results
	cancels   atomic.Int64 // console-flow CANCELs judged
	// server signatures checked after NTLM sign-ins
	signatures atomic.Int64
	// sign-ins that expected a challenge
	challenges atomic.Int64
}

// Checks returns, for each rule sipclient enforces on every message
// (ruleid.Register, ruleid.WellFormed, ...), how many messages it was
// checked on by the clients of this router. A rule with no check saw
// nothing it is about: it was not exercised.
func (r *Router) Checks() map[string]int64 {
	c := &r.checks
	infos := c.fast.Load() + c.envelopes.Load()
	return map[string]int64{
		ruleid.Register:         c.registers.Load(),
		ruleid.Provisioning:     c.provision.Load(),
		ruleid.LookupURI:        c.lookups.Load(),
		ruleid.Cancel487:        c.cancels.Load(),
		ruleid.Info200Empty:     c.answers.Load(),
		ruleid.InfoContentType:  infos,
		ruleid.WellFormed:       infos,
		ruleid.Namespace:        infos,
		ruleid.Version:          infos,
		ruleid.NoServerCommands: infos,
		ruleid.CommandID:        c.replies.Load(),
		ruleid.ReplyOnce:        c.replies.Load(),
		ruleid.ChatFields:       c.fast.Load() + c.chats.Load(),
		ruleid.ServerSignature:  c.signatures.Load(),
		ruleid.Challenge:        c.challenges.Load(),
	}
}

// RouterOptions configure a Router's endpoint.
type RouterOptions struct {
	// Timeout is the SIP transaction timeout (default 32 s).
	Timeout time.Duration
	// T1 is RFC 3261's T1 (default 500 ms), for UDP retransmissions.
	T1     time.Duration
	Logger *slog.Logger
	// Trace sees every message in and out (debugging).
	Trace func(sipnet.Direction, *sipnet.Conn, []byte)
	// Stray gets requests that belong to no client's dialog, after the
	// router answered them 481 (a checker records these).
	Stray func(tx *sipnet.ServerTx)
}

// NewRouter starts an endpoint for clients.
func NewRouter(o RouterOptions) *Router {
	r := &Router{dialogs: map[sipnet.DialogID]*Client{}, stray: o.Stray, chats: newChatMemos()}
	r.ep = sipnet.NewEndpoint(sipnet.Options{
		Handler: r.handle, Timeout: o.Timeout, T1: o.T1, Logger: o.Logger, Trace: o.Trace,
		OnConnClose: r.connClosed,
	})
	return r
}

// Endpoint returns the router's SIP endpoint.
func (r *Router) Endpoint() *sipnet.Endpoint { return r.ep }

// Close closes the endpoint and its connections.
func (r *Router) Close() error { return r.ep.Close() }

func (r *Router) add(key sipnet.DialogID, c *Client) {
	r.mu.Lock()
	r.dialogs[key] = c
	r.mu.Unlock()
}

func (r *Router) remove(key sipnet.DialogID) {
	r.mu.Lock()
	delete(r.dialogs, key)
	r.mu.Unlock()
}

func (r *Router) handle(tx *sipnet.ServerTx) {
	m := tx.Msg
	r.mu.RLock()
	c := r.dialogs[sipnet.DialogIDOf(m)]
	r.mu.RUnlock()
	if c == nil {
		if m.Method != "ACK" {
			// SIPE answers 487 to an INFO on a stale dialog; RFC 3261 says 481.
			_ = tx.Respond(481, "Call/Transaction Does Not Exist")
		}
		if r.stray != nil {
			r.stray(tx)
		}
		return
	}
	c.handle(tx)
}

func (r *Router) connClosed(conn *sipnet.Conn) {
	r.mu.RLock()
	var hit []*Client
	seen := map[*Client]bool{}
	for _, c := range r.dialogs {
		if !seen[c] && c.usesConn(conn) {
			seen[c] = true
			hit = append(hit, c)
		}
	}
	r.mu.RUnlock()
	for _, c := range hit {
		c.connLost()
	}
}
