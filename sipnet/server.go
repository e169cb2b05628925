package sipnet

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrAnswered is returned when a final response was already sent.
var ErrAnswered = errors.New("sipnet: request already answered")

// ServerTx is a received request and the means to answer it.
type ServerTx struct {
	Msg  *Message
	Conn *Conn

	ep       *Endpoint
	key      string // registration key, "" when not registered
	ackKey   string
	mu       sync.Mutex
	toTag    string
	final    int
	last     []byte // last response sent, for retransmissions
	onCancel func(cancel *ServerTx)
	acked    bool
	timer    timerEntry
	interval time.Duration
	started  time.Time
}

// Reply is a full response.
type Reply struct {
	Code        int
	Reason      string
	Headers     []Header
	ContentType string
	Body        []byte
}

// NewTag returns a random tag for From/To headers.
func NewTag() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ToTag returns the tag this transaction's responses carry: the request's
// own To tag, or one generated once for a request outside a dialog.
func (tx *ServerTx) ToTag() string {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.toTagLocked()
}

func (tx *ServerTx) toTagLocked() string {
	if tx.Msg.ToTag != "" {
		return tx.Msg.ToTag
	}
	if tx.toTag == "" {
		tx.toTag = NewTag()
	}
	return tx.toTag
}

// SetToTag fixes the To tag before the first response (a service that
// names its dialogs itself).
func (tx *ServerTx) SetToTag(tag string) {
	tx.mu.Lock()
	tx.toTag = tag
	tx.mu.Unlock()
}

// Final returns the final status sent, 0 before.
func (tx *ServerTx) Final() int {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.final
}

// OnCancel lets the application answer a CANCEL of this INVITE itself: f
// gets the CANCEL's transaction and must answer both. Without it the
// endpoint answers 200 to the CANCEL and 487 to the INVITE.
func (tx *ServerTx) OnCancel(f func(cancel *ServerTx)) {
	tx.mu.Lock()
	tx.onCancel = f
	tx.mu.Unlock()
}

// Respond answers with a status and optional extra headers, no body.
func (tx *ServerTx) Respond(code int, reason string, hdrs ...Header) error {
	return tx.Reply(Reply{Code: code, Reason: reason, Headers: hdrs})
}

// Reply sends a response. Several provisional responses may precede one
// final response; a second final response returns ErrAnswered.
func (tx *ServerTx) Reply(r Reply) error {
	if tx.Msg.Method == "ACK" {
		return errors.New("sipnet: ACK is not answered")
	}
	tx.mu.Lock()
	if tx.final != 0 {
		tx.mu.Unlock()
		return ErrAnswered
	}
	tag := ""
	if r.Code != 100 {
		tag = tx.toTagLocked()
	}
	if r.Code >= 200 {
		tx.final = r.Code
	}
	registered := tx.key != ""
	var out []byte
	if registered {
		out = appendResponse(nil, tx.Msg, r.Code, r.Reason, tag, r.Headers, r.ContentType, r.Body, tx.Conn)
		tx.last = out
	}
	tx.mu.Unlock()

	var err error
	if registered {
		err = tx.Conn.Write(out)
	} else {
		var dst []byte
		if dst, err = tx.Conn.begin(); err == nil {
			before := len(dst)
			err = tx.Conn.end(appendResponse(dst, tx.Msg, r.Code, r.Reason, tag, r.Headers, r.ContentType, r.Body, tx.Conn), before)
		}
	}
	if registered && r.Code >= 200 {
		tx.afterFinal()
	}
	return err
}

// afterFinal arms the timers of a registered transaction once it answered.
func (tx *ServerTx) afterFinal() {
	ep := tx.ep
	if tx.Msg.Method != "INVITE" {
		// Timer J: absorb retransmissions, then forget.
		ep.wheel.schedule(&tx.timer, ep.opts.Timeout, tx.expire)
		return
	}
	tx.mu.Lock()
	tx.started = time.Now()
	tx.interval = ep.opts.T1
	acked := tx.acked
	tx.mu.Unlock()
	if acked {
		ep.wheel.schedule(&tx.timer, 0, tx.expire)
		return
	}
	if tx.Conn.Reliable() {
		ep.wheel.schedule(&tx.timer, ep.opts.Timeout, tx.expire)
		return
	}
	ep.wheel.schedule(&tx.timer, ep.opts.T1, tx.retransmitFinal)
}

// retransmitFinal re-sends the final answer of an INVITE over UDP until the
// ACK comes (Timer G for non-2xx, the UAS core's 2xx retransmission).
func (tx *ServerTx) retransmitFinal() {
	ep := tx.ep
	tx.mu.Lock()
	if tx.acked || time.Since(tx.started) >= ep.opts.Timeout {
		tx.mu.Unlock()
		tx.expire()
		return
	}
	last := tx.last
	tx.interval *= 2
	if tx.interval > ep.opts.T2 {
		tx.interval = ep.opts.T2
	}
	next := tx.interval
	tx.mu.Unlock()
	ep.stats.retransmits.Add(1)
	_ = tx.Conn.Write(last)
	ep.wheel.schedule(&tx.timer, next, tx.retransmitFinal)
}

// gotAck stops retransmission of the final answer.
func (tx *ServerTx) gotAck() {
	tx.mu.Lock()
	tx.acked = true
	final := tx.final
	tx.mu.Unlock()
	if final == 0 {
		return
	}
	if tx.Conn.Reliable() {
		tx.ep.wheel.cancel(&tx.timer)
		tx.expire()
		return
	}
	// Timer I: absorb ACK retransmissions for a while.
	tx.ep.wheel.schedule(&tx.timer, 5*time.Second, tx.expire)
}

// retransmitted answers a retransmitted request with the last response.
func (tx *ServerTx) retransmitted() {
	tx.mu.Lock()
	last := tx.last
	tx.mu.Unlock()
	tx.ep.stats.absorbed.Add(1)
	if last != nil {
		_ = tx.Conn.Write(last)
	}
}

func (tx *ServerTx) expire() {
	ep := tx.ep
	ep.stxMu.Lock()
	if ep.serverTx[tx.key] == tx {
		delete(ep.serverTx, tx.key)
	}
	if tx.ackKey != "" && ep.ackIdx[tx.ackKey] == tx {
		delete(ep.ackIdx, tx.ackKey)
	}
	ep.stxMu.Unlock()
}

func (ep *Endpoint) serverKey(m *Message, method string, c *Conn) string {
	if strings.HasPrefix(m.Branch, "z9hG4bK") {
		return "b\x00" + m.Branch + "\x00" + m.SentBy + "\x00" + method
	}
	return "n\x00" + m.CallID + "\x00" + m.FromTag + "\x00" + strconv.FormatUint(uint64(m.CSeq), 10) + "\x00" + method + "\x00" + c.transport + c.remote.String()
}

func (ep *Endpoint) ackKeyOf(m *Message, c *Conn) string {
	return "a\x00" + m.CallID + "\x00" + m.FromTag + "\x00" + strconv.FormatUint(uint64(m.CSeq), 10) + "\x00" + c.transport + c.remote.String()
}

func (ep *Endpoint) findServerTx(key string) *ServerTx {
	ep.stxMu.Lock()
	defer ep.stxMu.Unlock()
	return ep.serverTx[key]
}

func (ep *Endpoint) handleRequest(c *Conn, m *Message) {
	switch m.Method {
	case "ACK":
		if tx := ep.findServerTx(ep.serverKey(m, "INVITE", c)); tx != nil && tx.Final() >= 300 {
			tx.gotAck() // ACK of a non-2xx answer: part of the INVITE transaction
			return
		}
		ep.stxMu.Lock()
		tx := ep.ackIdx[ep.ackKeyOf(m, c)]
		ep.stxMu.Unlock()
		if tx != nil {
			tx.gotAck()
		}
	case "CANCEL":
		key := ep.serverKey(m, "CANCEL", c)
		if !c.Reliable() {
			if old := ep.findServerTx(key); old != nil {
				old.retransmitted()
				return
			}
		}
		ctx := &ServerTx{Msg: m, Conn: c, ep: ep}
		if !c.Reliable() {
			ep.register(ctx, key, "")
		}
		inv := ep.findServerTx(ep.serverKey(m, "INVITE", c))
		if inv == nil {
			_ = ctx.Respond(481, "Call/Transaction Does Not Exist")
			return
		}
		inv.mu.Lock()
		f, final := inv.onCancel, inv.final
		inv.mu.Unlock()
		if f != nil {
			f(ctx)
			return
		}
		_ = ctx.Respond(200, "OK")
		if final == 0 {
			_ = inv.Respond(487, "Request Terminated")
		}
		return
	}
	tx := &m.stx // one allocation for the message and its transaction
	tx.Msg, tx.Conn, tx.ep = m, c, ep
	if m.Method == "INVITE" || (!c.Reliable() && m.Method != "ACK") {
		key := ep.serverKey(m, m.Method, c)
		if old := ep.findServerTx(key); old != nil {
			old.retransmitted()
			return
		}
		ack := ""
		if m.Method == "INVITE" {
			ack = ep.ackKeyOf(m, c)
		}
		ep.register(tx, key, ack)
	}
	if ep.opts.Handler == nil {
		if m.Method != "ACK" {
			_ = tx.Respond(501, "Not Implemented")
		}
		return
	}
	ep.opts.Handler(tx)
}

func (ep *Endpoint) register(tx *ServerTx, key, ackKey string) {
	tx.key, tx.ackKey = key, ackKey
	ep.stxMu.Lock()
	ep.serverTx[key] = tx
	if ackKey != "" {
		ep.ackIdx[ackKey] = tx
	}
	ep.stxMu.Unlock()
	// Forget a transaction the application never answers.
	life := 2 * ep.opts.Timeout
	if tx.Msg.Method == "INVITE" {
		life += ep.opts.InviteTimeout
	}
	ep.wheel.schedule(&tx.timer, life, tx.expire)
}
