package sipnet

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/gcload/gcload/sipauth/sipae"
)

// Asynchronous client transactions on reliable transports (the fan-out's
// deliveries) take no timer and are recycled: they are found by branch in
// the endpoint's shards, and each connection keeps a queue of the keys it
// sent with their deadlines, which a sweeper walks a few times a second to
// time out what was never answered. Whoever removes a transaction from its
// shard owns it, completes it and recycles it; the queue holds keys, not
// pointers, so a recycled transaction cannot be reached from it.

var txPool = sync.Pool{New: func() any { return new(ClientTx) }}

func releaseTx(tx *ClientTx) {
	*tx = ClientTx{}
	txPool.Put(tx)
}

type pendEntry struct {
	key      uint64
	deadline int64 // unix ns
}

// sweepEvery is how often unanswered asynchronous transactions are looked
// for; a timeout fires between Timeout and Timeout+sweepEvery.
const sweepEvery = 250 * time.Millisecond

// asyncTx registers a recycled transaction for a request about to be
// rendered on c (in dialog d with CSeq cseq; d may be nil).
func (ep *Endpoint) asyncTx(c *Conn, br Branch, method string, cb StatusFunc, d *Dialog, cseq uint32) *ClientTx {
	tx := txPool.Get().(*ClientTx)
	tx.ep, tx.conn, tx.key, tx.Branch, tx.Method, tx.status, tx.pooled = ep, c, br.id<<1, br, method, cb, true
	tx.dlg, tx.dcseq = d, cseq
	sh := ep.shard(tx.key)
	sh.mu.Lock()
	sh.m[tx.key] = tx
	sh.mu.Unlock()
	deadline := time.Now().Add(ep.opts.Timeout).UnixNano()
	c.pendMu.Lock()
	c.pend = append(c.pend, pendEntry{tx.key, deadline})
	first := len(c.pend) == 1
	c.pendMu.Unlock()
	if first {
		ep.pendMu.Lock()
		ep.pendConns[c] = struct{}{}
		ep.pendMu.Unlock()
	}
	return tx
}

// dropAsync forgets an asynchronous transaction, registered under key,
// whose request was not sent, and recycles it. It reports false when the
// transaction was no longer registered: whoever took it (a closing
// connection failing its transactions) completes it, and may already have
// recycled it, so tx must not be read then; key is the registration's own
// (branch IDs are never reused), so it cannot match another sender's.
func (ep *Endpoint) dropAsync(tx *ClientTx, key uint64) bool {
	sh := ep.shard(key)
	sh.mu.Lock()
	mine := sh.m[key] == tx
	if mine {
		delete(sh.m, key)
	}
	sh.mu.Unlock()
	if mine {
		releaseTx(tx) // its queue entry finds no transaction and is dropped
	}
	return mine
}

// sweep times out the asynchronous transactions no answer came for.
func (ep *Endpoint) sweep() {
	now := time.Now().UnixNano()
	ep.pendMu.Lock()
	conns := make([]*Conn, 0, len(ep.pendConns))
	for c := range ep.pendConns {
		conns = append(conns, c)
	}
	ep.pendMu.Unlock()
	var dead []*ClientTx
	for _, c := range conns {
		c.pendMu.Lock()
		i := 0
		for ; i < len(c.pend); i++ {
			e := c.pend[i]
			sh := ep.shard(e.key)
			sh.mu.Lock()
			tx, live := sh.m[e.key]
			if live && e.deadline > now {
				sh.mu.Unlock()
				break // the oldest live one is not due: neither are the rest
			}
			if live {
				delete(sh.m, e.key)
				dead = append(dead, tx)
			}
			sh.mu.Unlock()
		}
		if i > 0 {
			n := copy(c.pend, c.pend[i:])
			clear(c.pend[n:])
			c.pend = c.pend[:n]
			if cap(c.pend) > 1024 && n < cap(c.pend)/4 {
				c.pend = append([]pendEntry(nil), c.pend...)
			}
		}
		empty := len(c.pend) == 0
		c.pendMu.Unlock()
		if empty {
			ep.pendMu.Lock()
			c.pendMu.Lock()
			if len(c.pend) == 0 {
				delete(ep.pendConns, c)
			}
			c.pendMu.Unlock()
			ep.pendMu.Unlock()
		}
	}
	for _, tx := range dead {
		ep.timedOutTx(tx.key)
		tx.complete(nil, fmt.Errorf("%w: %s after %s", ErrTimeout, tx.Method, ep.opts.Timeout))
	}
	ep.wheel.schedule(&ep.sweepTimer, sweepEvery, ep.sweepFn)
}

// fastResponse handles a final answer to an asynchronous transaction
// straight from the read buffer: it reads the status, the topmost Via's
// branch and nothing else, allocates nothing, and reports false for any
// message it does not handle (which then goes the full way).
//
// On a connection with a Security the response is scanned (into the
// reader's scratch message, still without allocating) and checked first;
// one the check refuses is dropped here.
func (ep *Endpoint) fastResponse(c *Conn, b []byte) bool {
	if len(b) < 12 || string(b[:8]) != "SIP/2.0 " {
		return false
	}
	code := 0
	for _, ch := range b[8:11] {
		if ch < '0' || ch > '9' {
			return false
		}
		code = code*10 + int(ch-'0')
	}
	if code < 200 || code >= len(ep.stats.byStatus) {
		return false
	}
	if sec := c.sec.Load(); sec != nil {
		return ep.fastChecked(c, sec, b, code)
	}
	id, ok := ep.parseBranch(topBranch(b))
	if !ok {
		return false
	}
	key := id << 1
	sh := ep.shard(key)
	sh.mu.Lock()
	tx := sh.m[key]
	if tx == nil || !tx.pooled {
		sh.mu.Unlock()
		return false // not ours
	}
	delete(sh.m, key)
	sh.mu.Unlock()
	ep.stats.byStatus[code].Add(1)
	tx.completeStatus(code)
	return true
}

// fastChecked is fastResponse on a connection with a Security: the
// answer's signature is checked before its transaction completes. An
// answer to an in-dialog request is first checked as echoing the request
// (its fields are the dialog's and the request's CSeq, which a correct
// peer copies into its answer), from the Authorization header alone; when
// that fails (another shape, a peer that signed other fields, a bad
// signature) the answer is scanned in full (into the reader's scratch
// message) and checked as any response: the Security decides.
func (ep *Endpoint) fastChecked(c *Conn, sec *securityBox, b []byte, code int) bool {
	id, ok := ep.parseBranch(topBranch(b))
	if !ok {
		return false
	}
	key := id << 1
	sh := ep.shard(key)
	sh.mu.Lock()
	tx := sh.m[key]
	if tx == nil || !tx.pooled {
		sh.mu.Unlock()
		return false // not ours
	}
	// read under the lock: once it is released the sweeper may time the
	// transaction out and recycle it
	d, cseq, method := tx.dlg, tx.dcseq, tx.Method
	sh.mu.Unlock()
	checked := false
	if d != nil {
		if auth, ok := authorizationOf(b); ok {
			f := &c.rf
			*f = sipae.Fields{
				CallID: d.CallID, CSeqMethod: method,
				FromURI: d.localAddr, FromTag: d.LocalTag, ToURI: d.remoteAddr, ToTag: d.RemoteTag, Status: code,
			}
			f.CSeqNum = unsafe.String(unsafe.SliceData(c.rnum[:]), len(strconv.AppendUint(c.rnum[:0], uint64(cseq), 10)))
			if sec.d != nil {
				checked = sec.d.CheckDialogAnswer(auth, f, &d.memo) == nil
			} else {
				checked = sec.s.CheckAnswer(auth, f) == nil
			}
			*f = sipae.Fields{}
		}
	}
	if !checked {
		m := &c.rmsg
		*m = Message{}
		if m.scan(b) != nil {
			*m = Message{}
			return false // the full path refuses it
		}
		ok := ep.checkResponse(c, m)
		*m = Message{} // keep no view of the read buffer
		if !ok {
			return true // dropped: its transaction times out
		}
	}
	sh.mu.Lock()
	if sh.m[key] != tx { // timed out meanwhile (keys are never reused)
		sh.mu.Unlock()
		return true
	}
	delete(sh.m, key)
	sh.mu.Unlock()
	ep.stats.byStatus[code].Add(1)
	tx.completeStatus(code)
	return true
}

// authorizationOf finds the Authorization header of a message in its
// header block, as written by the usual clients ("\r\nAuthorization: "),
// unfolded; ok false otherwise (the full scan finds any other form). It
// looks for the name from its first letter (a search from "\r" would stop
// at every line).
func authorizationOf(b []byte) (string, bool) {
	const name = "Authorization: "
	s := unsafe.String(unsafe.SliceData(b), len(b))
	for from := 0; ; {
		k := strings.Index(s[from:], name)
		if k < 0 {
			return "", false
		}
		i := from + k
		if i < 2 || s[i-2] != '\r' || s[i-1] != '\n' {
			from = i + 1 // inside another name or a value
			continue
		}
		if strings.Contains(s[:i], "\r\n\r\n") {
			return "", false // in the body
		}
		v := s[i+len(name):]
		j := strings.IndexByte(v, '\r')
		if j < 0 || j+1 >= len(v) || v[j+1] != '\n' || (j+2 < len(v) && (v[j+2] == ' ' || v[j+2] == '\t')) {
			return "", false // cut short, a bare CR, or folded
		}
		return v[:j], true
	}
}

// topBranch returns the branch parameter of the first Via header of a
// message (the string views b, which must not change while it is used).
func topBranch(b []byte) string {
	s := unsafe.String(unsafe.SliceData(b), len(b))
	nl := strings.IndexByte(s, '\n')
	if nl < 0 {
		return ""
	}
	for pos := nl + 1; ; {
		name, val, _, next, ok := nextHeader(s, pos)
		if !ok {
			return ""
		}
		if headerKind(name) == hVia {
			_, br := viaSentByBranch(val)
			return br
		}
		pos = next
	}
}

// completeStatus ends an asynchronous transaction answered on the fast
// path, and recycles it.
func (tx *ClientTx) completeStatus(code int) {
	if f := tx.status; f != nil {
		f(code, nil)
	}
	releaseTx(tx)
}
