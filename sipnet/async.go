package sipnet

import (
	"bytes"
	"fmt"
	"sync"
	"time"
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
// rendered on c.
func (ep *Endpoint) asyncTx(c *Conn, br Branch, method string, cb StatusFunc) *ClientTx {
	tx := txPool.Get().(*ClientTx)
	tx.ep, tx.conn, tx.key, tx.Branch, tx.Method, tx.status, tx.pooled = ep, c, br.id<<1, br, method, cb, true
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

// dropAsync forgets an asynchronous transaction whose request was not sent.
func (ep *Endpoint) dropAsync(tx *ClientTx) {
	if ep.forget(tx) {
		releaseTx(tx) // its queue entry finds no transaction and is dropped
	}
}

// endAsync finishes sending: on error the transaction is dropped.
func (ep *Endpoint) endAsync(tx *ClientTx, err error) error {
	if err != nil {
		ep.dropAsync(tx)
	}
	return err
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
		ep.stats.timeouts.Add(1)
		tx.complete(nil, fmt.Errorf("%w: %s after %s", ErrTimeout, tx.Method, ep.opts.Timeout))
	}
	ep.wheel.schedule(&ep.sweepTimer, sweepEvery, ep.sweepFn)
}

// fastResponse handles a final answer to an asynchronous transaction
// straight from the read buffer: it reads the status, the topmost Via's
// branch and nothing else, allocates nothing, and reports false for any
// message it does not handle (which then goes the full way).
func (ep *Endpoint) fastResponse(b []byte) bool {
	if len(b) < 12 || string(b[:8]) != "SIP/2.0 " {
		return false
	}
	code := 0
	for _, c := range b[8:11] {
		if c < '0' || c > '9' {
			return false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code >= len(ep.stats.byStatus) {
		return false
	}
	br := topBranch(b)
	if len(br) <= len(ep.prefix) || string(br[:len(ep.prefix)]) != ep.prefix {
		return false
	}
	var id uint64
	for _, c := range br[len(ep.prefix):] {
		switch {
		case '0' <= c && c <= '9':
			id = id<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			id = id<<4 | uint64(c-'a'+10)
		default:
			return false
		}
	}
	key := id << 1
	sh := ep.shard(key)
	sh.mu.Lock()
	tx := sh.m[key]
	if tx == nil || !tx.pooled || tx.cb != nil {
		sh.mu.Unlock()
		return false // not ours, or its callback wants the whole answer
	}
	delete(sh.m, key)
	sh.mu.Unlock()
	ep.stats.byStatus[code].Add(1)
	tx.completeStatus(code)
	return true
}

// topBranch returns the branch parameter of the first Via header line.
func topBranch(b []byte) []byte {
	for pos := 0; pos < len(b); {
		nl := bytes.IndexByte(b[pos:], '\n')
		if nl < 0 {
			return nil
		}
		line := b[pos : pos+nl]
		pos += nl + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		if len(line) == 0 {
			return nil
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || headerKind(bytes.TrimSpace(line[:colon])) != hVia {
			continue
		}
		v := line[colon+1:]
		if comma := bytes.IndexByte(v, ','); comma >= 0 {
			v = v[:comma]
		}
		i := bytes.Index(v, []byte(";branch="))
		if i < 0 {
			return nil
		}
		v = v[i+len(";branch="):]
		if end := bytes.IndexAny(v, "; \t"); end >= 0 {
			v = v[:end]
		}
		return v
	}
	return nil
}

// completeStatus ends an asynchronous transaction answered on the fast
// path, and recycles it.
func (tx *ClientTx) completeStatus(code int) {
	if f := tx.status; f != nil {
		f(code, nil)
	}
	releaseTx(tx)
}
