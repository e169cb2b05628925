package sipnet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

type txShard struct {
	mu sync.Mutex
	m  map[uint64]*ClientTx
}

// ClientTx is a request in flight: its responses, and for an INVITE the
// means to CANCEL it.
type ClientTx struct {
	ep     *Endpoint
	conn   *Conn
	key    uint64 // branch id << 1, | 1 for a CANCEL
	Branch Branch
	Method string
	inv    *inviteInfo

	raw      []byte // kept for retransmission over UDP
	timer    timerEntry
	start    time.Time
	mu       sync.Mutex
	interval time.Duration
	provis   bool
	finished bool
	resp     chan *Message
	status   StatusFunc // the hot path's callback
	pooled   bool       // an async transaction on a reliable transport: no timer, recycled
	// the dialog and CSeq of an in-dialog request sent on the hot path:
	// what a signed answer echoes (security.go)
	dlg   *Dialog
	dcseq uint32
	done  chan struct{}
	final *Message
	err   error
}

// inviteInfo keeps what an INVITE's ACK (non-2xx) and CANCEL repeat.
type inviteInfo struct {
	ruri, via, from, to, callID string
	cseq                        uint32
	routes                      []string
}

func (ep *Endpoint) shard(key uint64) *txShard { return &ep.shards[key%uint64(len(ep.shards))] }

// NewBranch allocates a Via branch for a request the caller renders itself.
func (ep *Endpoint) NewBranch() Branch {
	return Branch{prefix: ep.prefix, id: ep.nextID.Add(1)}
}

func (ep *Endpoint) parseBranch(b string) (uint64, bool) {
	if !strings.HasPrefix(b, ep.prefix) {
		return 0, false
	}
	id, err := strconv.ParseUint(b[len(ep.prefix):], 16, 64)
	return id, err == nil
}

// Begin sends req on c as a new client transaction. The endpoint sets the
// topmost Via (transport, local address, a fresh branch) and
// Content-Length; the caller sets everything else.
func (ep *Endpoint) Begin(c *Conn, req *sip.Request) (*ClientTx, error) {
	br := ep.NewBranch()
	req.RemoveHeader("Via")
	via := &sip.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: c.transport,
		Host: c.local.Addr().String(), Port: int(c.local.Port()), Params: sip.NewParams(),
	}
	via.Params.Add("branch", br.String())
	req.PrependHeader(via)
	if req.ContentLength() == nil {
		req.SetBody(req.Body())
	}
	if req.MaxForwards() == nil {
		mf := sip.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
	}
	raw := c.signRaw([]byte(req.String()))
	tx := ep.newClientTx(c, br, string(req.Method), true)
	if req.Method == sip.INVITE {
		tx.inv = &inviteInfo{
			ruri: req.Recipient.String(), via: via.Value(), from: req.From().Value(), to: req.To().Value(),
			callID: req.CallID().Value(), cseq: req.CSeq().SeqNo,
		}
		for _, h := range req.GetHeaders("Route") {
			tx.inv.routes = append(tx.inv.routes, h.Value())
		}
	}
	if err := ep.start(tx, raw); err != nil {
		return nil, err
	}
	return tx, nil
}

// Do sends req and waits for its final response.
func (ep *Endpoint) Do(ctx context.Context, c *Conn, req *sip.Request) (*Message, error) {
	tx, err := ep.Begin(c, req)
	if err != nil {
		return nil, err
	}
	return tx.Wait(ctx)
}

// Send is the hot path: render writes the whole request (with the given
// branch in its topmost Via) into the connection's output buffer, and cb
// (may be nil) gets the final status or an error, later, on an endpoint
// goroutine. Exactly one of the two reports a failure: when Send returns
// an error, cb is not called. On TCP no goroutine, channel or timer is
// created, and the transaction is recycled.
func (ep *Endpoint) Send(c *Conn, method string, render func(dst []byte, br Branch) []byte, cb StatusFunc) error {
	return ep.sendIn(c, nil, method, render, cb, nil, 0)
}

// sendIn is Send as part of a batch (b may be nil); d and cseq name the
// dialog and CSeq of an in-dialog request (nil, 0 otherwise).
func (ep *Endpoint) sendIn(c *Conn, b *Batch, method string, render func(dst []byte, br Branch) []byte, cb StatusFunc, d *Dialog, cseq uint32) error {
	br := ep.NewBranch()
	if !c.Reliable() {
		tx := ep.newClientTx(c, br, method, false)
		tx.status = cb
		raw := render(nil, br)
		tx.raw = raw
		ep.track(tx)
		if err := c.Write(raw); err != nil {
			ep.untrack(tx)
			return err
		}
		return nil
	}
	tx := ep.asyncTx(c, br, method, cb, d, cseq)
	if b != nil {
		b.hold(c)
	}
	dst, err := c.begin()
	if err == nil {
		before := len(dst)
		err = c.end(render(dst, br), before)
	}
	if err != nil && !ep.dropAsync(tx, br.id<<1) {
		return nil // a closing connection took the transaction first: cb reports the error
	}
	return err
}

// untrack forgets a transaction whose request could not be sent, without
// calling its callback (Send reports the error to its caller instead).
func (ep *Endpoint) untrack(tx *ClientTx) {
	ep.forget(tx)
	ep.wheel.cancel(&tx.timer)
}

func (ep *Endpoint) newClientTx(c *Conn, br Branch, method string, sync bool) *ClientTx {
	tx := &ClientTx{ep: ep, conn: c, key: br.id << 1, Branch: br, Method: method, start: time.Now(), interval: ep.opts.T1}
	if method == "CANCEL" {
		tx.key |= 1
	}
	if sync {
		tx.resp = make(chan *Message, 4)
		tx.done = make(chan struct{})
	}
	return tx
}

// track registers tx and arms its first timer.
func (ep *Endpoint) track(tx *ClientTx) {
	sh := ep.shard(tx.key)
	sh.mu.Lock()
	sh.m[tx.key] = tx
	sh.mu.Unlock()
	d := ep.opts.Timeout
	if !tx.conn.Reliable() {
		d = ep.opts.T1
	}
	ep.wheel.schedule(&tx.timer, d, tx.onTimer)
}

func (ep *Endpoint) start(tx *ClientTx, raw []byte) error {
	if !tx.conn.Reliable() {
		tx.raw = raw
	}
	ep.track(tx)
	if err := tx.conn.Write(raw); err != nil {
		ep.abort(tx, err)
		return err
	}
	return nil
}

// abort completes tx with err if it is still pending.
func (ep *Endpoint) abort(tx *ClientTx, err error) {
	if ep.forget(tx) {
		ep.wheel.cancel(&tx.timer)
		tx.complete(nil, err)
	}
}

// forget removes tx from its shard; false when it was no longer there (a
// response or a timeout took it first).
func (ep *Endpoint) forget(tx *ClientTx) bool {
	sh := ep.shard(tx.key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[tx.key] != tx {
		return false
	}
	delete(sh.m, tx.key)
	return true
}

func (tx *ClientTx) onTimer() {
	ep := tx.ep
	tx.mu.Lock()
	limit := ep.opts.Timeout
	if tx.Method == "INVITE" && tx.provis {
		limit = ep.opts.InviteTimeout
	}
	elapsed := time.Since(tx.start)
	if elapsed >= limit {
		tx.mu.Unlock()
		if ep.forget(tx) {
			ep.timedOutTx(tx.key)
			tx.complete(nil, fmt.Errorf("%w: %s after %s", ErrTimeout, tx.Method, limit))
		}
		return
	}
	resend := !tx.conn.Reliable() && !(tx.Method == "INVITE" && tx.provis)
	next := limit - elapsed
	if resend {
		if tx.Method == "INVITE" {
			tx.interval *= 2
		} else if tx.provis {
			tx.interval = ep.opts.T2
		} else {
			tx.interval = min(2*tx.interval, ep.opts.T2)
		}
		next = min(next, tx.interval)
	}
	raw := tx.raw
	tx.mu.Unlock()
	if resend && raw != nil {
		ep.stats.retransmits.Add(1)
		_ = tx.conn.Write(raw)
	}
	ep.wheel.schedule(&tx.timer, next, tx.onTimer)
}

func (ep *Endpoint) handleResponse(c *Conn, m *Message) {
	if m.StatusCode < len(ep.stats.byStatus) {
		ep.stats.byStatus[m.StatusCode].Add(1)
	}
	id, ok := ep.parseBranch(m.Branch)
	if !ok {
		ep.stray(c, m)
		return
	}
	key := id << 1
	if m.CSeqMethod == "CANCEL" {
		key |= 1
	}
	sh := ep.shard(key)
	if m.StatusCode >= 200 && c.Security() != nil {
		// only an answer to a live transaction is checked (a retransmitted
		// 2xx over UDP repeats a signature already seen); one refused is
		// dropped, and its transaction times out
		sh.mu.Lock()
		live := sh.m[key] != nil
		sh.mu.Unlock()
		if live && !ep.checkResponse(c, m) {
			return
		}
	}
	sh.mu.Lock()
	tx := sh.m[key]
	switch {
	case tx != nil && m.StatusCode >= 200:
		delete(sh.m, key)
	case tx != nil && tx.pooled:
		// a provisional answer to a recycled transaction: nothing to do
		// (its timeout is the sweeper's), and once the lock is released
		// the transaction is not ours to touch
		sh.mu.Unlock()
		return
	}
	sh.mu.Unlock()
	if tx == nil {
		if m.StatusCode >= 200 && ep.late(key) {
			ep.stats.lateResponses.Add(1)
		}
		ep.stray(c, m)
		return
	}
	if m.StatusCode < 200 {
		tx.provisional(m)
		return
	}
	if !tx.pooled {
		ep.wheel.cancel(&tx.timer)
	}
	if tx.inv != nil && m.StatusCode >= 300 {
		tx.ackNon2xx(m)
	}
	tx.complete(m, nil)
}

func (ep *Endpoint) stray(c *Conn, m *Message) {
	if m.CSeqMethod == "INVITE" && m.StatusCode >= 200 && m.StatusCode < 300 {
		ep.stxMu.Lock()
		a := ep.ackCache[m.Branch]
		ep.stxMu.Unlock()
		if a != nil {
			ep.stats.retransmits.Add(1)
			_ = a.conn.Write(a.raw) // 2xx retransmitted: ACK again
			return
		}
	}
	ep.stats.strays.Add(1)
}

func (tx *ClientTx) provisional(m *Message) {
	tx.mu.Lock()
	first := !tx.provis
	tx.provis = true
	if tx.resp != nil && !tx.finished {
		select {
		case tx.resp <- m:
		default:
		}
	}
	tx.mu.Unlock()
	if first && tx.Method == "INVITE" {
		// Stop retransmitting; wait for the final answer up to InviteTimeout.
		tx.ep.wheel.schedule(&tx.timer, tx.ep.opts.InviteTimeout-time.Since(tx.start), tx.onTimer)
	}
}

func (tx *ClientTx) complete(m *Message, err error) {
	tx.mu.Lock()
	if tx.finished {
		tx.mu.Unlock()
		return
	}
	tx.finished = true
	tx.final, tx.err = m, err
	if tx.resp != nil {
		if m != nil {
			select {
			case tx.resp <- m:
			default:
			}
		}
		close(tx.resp)
	}
	status, pooled := tx.status, tx.pooled
	tx.mu.Unlock()
	if tx.done != nil {
		close(tx.done)
	}
	if status != nil {
		code := 0
		if m != nil {
			code = m.StatusCode
		}
		status(code, err)
	}
	if pooled {
		releaseTx(tx)
	}
}

// Responses yields provisional responses and the final one; it is closed
// when the transaction ends.
func (tx *ClientTx) Responses() <-chan *Message { return tx.resp }

// Done is closed when the transaction ended.
func (tx *ClientTx) Done() <-chan struct{} { return tx.done }

// Wait returns the final response, or the error that ended the transaction.
func (tx *ClientTx) Wait(ctx context.Context) (*Message, error) {
	select {
	case <-tx.done:
		return tx.final, tx.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Result returns the final response and error once Done is closed.
func (tx *ClientTx) Result() (*Message, error) {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.final, tx.err
}

// Cancel sends a CANCEL for this INVITE (RFC 3261 9.1): it must follow a
// provisional response. The returned transaction carries the CANCEL's own
// answer; the INVITE's final answer (487) arrives on this one.
func (tx *ClientTx) Cancel() (*ClientTx, error) {
	if tx.inv == nil {
		return nil, errors.New("sipnet: only an INVITE can be cancelled")
	}
	i := tx.inv
	var b []byte
	b = append(b, "CANCEL "...)
	b = append(b, i.ruri...)
	b = append(b, " SIP/2.0\r\n"...)
	b = appendHeader(b, "Via", i.via)
	b = appendHeader(b, "Max-Forwards", "70")
	b = appendHeader(b, "From", i.from)
	b = appendHeader(b, "To", i.to)
	b = appendHeader(b, "Call-ID", i.callID)
	b = appendHeader(b, "CSeq", strconv.FormatUint(uint64(i.cseq), 10)+" CANCEL")
	for _, r := range i.routes {
		b = appendHeader(b, "Route", r)
	}
	b = append(b, "Content-Length: 0\r\n\r\n"...)
	b = tx.conn.signRaw(b)
	ctx := tx.ep.newClientTx(tx.conn, tx.Branch, "CANCEL", true)
	if err := tx.ep.start(ctx, b); err != nil {
		return nil, err
	}
	return ctx, nil
}

// ackNon2xx sends the ACK that ends an INVITE transaction answered with a
// failure (RFC 3261 17.1.1.3): same branch, To from the response.
func (tx *ClientTx) ackNon2xx(m *Message) {
	i := tx.inv
	var b []byte
	b = append(b, "ACK "...)
	b = append(b, i.ruri...)
	b = append(b, " SIP/2.0\r\n"...)
	b = appendHeader(b, "Via", i.via)
	b = appendHeader(b, "Max-Forwards", "70")
	b = appendHeader(b, "From", i.from)
	b = appendHeader(b, "To", m.To)
	b = appendHeader(b, "Call-ID", i.callID)
	b = appendHeader(b, "CSeq", strconv.FormatUint(uint64(i.cseq), 10)+" ACK")
	for _, r := range i.routes {
		b = appendHeader(b, "Route", r)
	}
	b = append(b, "Content-Length: 0\r\n\r\n"...)
	_ = tx.conn.Write(tx.conn.signRaw(b))
}

type ackEntry struct {
	conn  *Conn
	raw   []byte
	timer timerEntry
}

// rememberAck keeps the ACK of a 2xx over UDP so that a retransmitted 2xx
// is acknowledged again.
func (ep *Endpoint) rememberAck(c *Conn, inviteBranch string, raw []byte) {
	if c.Reliable() {
		return
	}
	a := &ackEntry{conn: c, raw: raw}
	ep.stxMu.Lock()
	ep.ackCache[inviteBranch] = a
	ep.stxMu.Unlock()
	ep.wheel.schedule(&a.timer, ep.opts.Timeout, func() {
		ep.stxMu.Lock()
		if ep.ackCache[inviteBranch] == a {
			delete(ep.ackCache, inviteBranch)
		}
		ep.stxMu.Unlock()
	})
}

// failConnTxs ends every transaction pending on a closed connection.
func (ep *Endpoint) failConnTxs(c *Conn) {
	var dead []*ClientTx
	for i := range ep.shards {
		sh := &ep.shards[i]
		sh.mu.Lock()
		for k, tx := range sh.m {
			if tx.conn == c {
				delete(sh.m, k)
				dead = append(dead, tx)
			}
		}
		sh.mu.Unlock()
	}
	err := c.Err()
	if err == nil {
		err = ErrClosed
	} else {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	for _, tx := range dead {
		ep.wheel.cancel(&tx.timer)
		tx.complete(nil, err)
	}
}

// BeginRender starts a client transaction whose request the caller renders
// (with the given branch in its topmost Via); the result is waited on like
// Begin's.
func (ep *Endpoint) BeginRender(c *Conn, method string, render func(dst []byte, br Branch) []byte) (*ClientTx, error) {
	br := ep.NewBranch()
	tx := ep.newClientTx(c, br, method, true)
	if err := ep.start(tx, render(nil, br)); err != nil {
		return nil, err
	}
	return tx, nil
}
