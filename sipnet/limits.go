package sipnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// What an endpoint does against hostile peers on the connections it
// accepts (Options: MaxConns, MaxConnsPerAddr, SignInTimeout,
// MessageTimeout, MaxMessageSize): it refuses connections over its caps at
// once, closes connections on which the application never signed a user
// in, closes connections on which a message stays half-sent, and refuses a
// message too large before buffering its body. Its log lines about them are
// rate-limited. Connections it dials are not limited.

// Errors a connection closed by a limit reports (Conn.Err).
var (
	// ErrSignInTimeout: an accepted connection was not signed in in time.
	ErrSignInTimeout = errors.New("sipnet: no sign-in in time")
	// ErrMessageTimeout: a message was partly received and not completed
	// in time.
	ErrMessageTimeout = errors.New("sipnet: message not completed in time")
	// ErrTooLarge: a message is over Options.MaxMessageSize.
	ErrTooLarge = errors.New("sipnet: message too large")
)

// logEvery is the least time between two log lines about one kind of
// refusal; the lines in between are counted and the count is logged with
// the next one.
const logEvery = 10 * time.Second

// rateLog logs one kind of event at most once per logEvery.
type rateLog struct {
	mu         sync.Mutex
	next       time.Time
	suppressed int
}

// log writes msg (with args) unless a line was written less than logEvery
// ago; then it only counts the event.
func (r *rateLog) log(l *slog.Logger, level slog.Level, msg string, args ...any) {
	now := time.Now()
	r.mu.Lock()
	if now.Before(r.next) {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	n := r.suppressed
	r.suppressed = 0
	r.next = now.Add(logEvery)
	r.mu.Unlock()
	if n > 0 {
		args = append(args, "more_since_last_line", n)
	}
	l.Log(context.Background(), level, msg, args...)
}

// admit counts a connection accepted from addr, or says why it is refused
// (over MaxConns or MaxConnsPerAddr). Called with connMu held.
func (ep *Endpoint) admitLocked(addr netip.Addr) error {
	if m := ep.opts.MaxConns; m > 0 && ep.inbound >= m {
		return fmt.Errorf("%d connections open, the limit (MaxConns)", ep.inbound)
	}
	if m := ep.opts.MaxConnsPerAddr; m > 0 && ep.perAddr[addr] >= m {
		return fmt.Errorf("%d connections open from %s, the limit per address (MaxConnsPerAddr)", ep.perAddr[addr], addr)
	}
	ep.inbound++
	ep.perAddr[addr]++
	return nil
}

// releaseLocked uncounts an accepted connection. Called with connMu held.
func (ep *Endpoint) releaseLocked(c *Conn) {
	if !c.inbound {
		return
	}
	ep.inbound--
	a := c.remote.Addr().Unmap()
	if n := ep.perAddr[a] - 1; n > 0 {
		ep.perAddr[a] = n
	} else {
		delete(ep.perAddr, a)
	}
}

func (ep *Endpoint) refused(addr netip.Addr, transport string, why error) {
	ep.stats.refused.Add(1)
	ep.refuseLog.log(ep.log, slog.LevelWarn, "sipnet: connection refused", "transport", transport, "from", addr.String(), "why", why.Error())
}

// startLimits arms the timers of an accepted connection: its sign-in
// deadline.
func (c *Conn) startLimits() {
	ep := c.ep
	c.inbound = true
	if d := ep.opts.SignInTimeout; d > 0 {
		c.signInFn = c.signInDue
		ep.wheel.schedule(&c.signInTimer, d, c.signInFn)
	}
	if ep.opts.MessageTimeout > 0 {
		c.messageFn = c.messageDue
	}
}

// SignIn tells the endpoint that a user signed in on this connection
// (the reference server calls it when a REGISTER succeeds): it is no
// longer closed for want of a sign-in (Options.SignInTimeout).
func (c *Conn) SignIn() {
	if c.signedIn.Swap(true) {
		return
	}
	if c.signInFn != nil {
		c.ep.wheel.cancel(&c.signInTimer)
	}
}

// SignedIn reports whether SignIn was called.
func (c *Conn) SignedIn() bool { return c.signedIn.Load() }

// signInDue runs on the wheel when an accepted connection's sign-in time
// is up.
func (c *Conn) signInDue() {
	if c.signedIn.Load() {
		return
	}
	c.ep.stats.signInTimeouts.Add(1)
	c.ep.timeoutLog.log(c.ep.log, slog.LevelInfo, "sipnet: connection closed", "conn", c.String(), "why", "no sign-in within "+c.ep.opts.SignInTimeout.String())
	c.closeWith(fmt.Errorf("%w: %s gave none within %s", ErrSignInTimeout, c.remote, c.ep.opts.SignInTimeout))
}

// partial records, after a read, whether a message is partly received:
// since when the first bytes of the message now incomplete are here (a
// new message when the read completed others). The first partial message
// arms the message timer, which then follows the partial messages itself.
func (c *Conn) partial(incomplete, completedSome bool) {
	if !incomplete {
		if c.partialSince.Load() != 0 {
			c.partialSince.Store(0)
		}
		return
	}
	if completedSome || c.partialSince.Load() == 0 {
		c.partialSince.Store(c.ep.wheel.clock())
	}
	if c.messageArmed.CompareAndSwap(false, true) {
		c.ep.wheel.schedule(&c.messageTimer, c.ep.opts.MessageTimeout, c.messageFn)
	}
}

// messageDue runs on the wheel: it closes the connection when its partial
// message is older than MessageTimeout, else waits for the time that one
// would be, or disarms when there is none.
func (c *Conn) messageDue() {
	ep := c.ep
	limit := ep.opts.MessageTimeout
	for {
		since := c.partialSince.Load()
		if since == 0 {
			c.messageArmed.Store(false)
			// a partial message noted meanwhile found the timer armed
			if c.partialSince.Load() == 0 || !c.messageArmed.CompareAndSwap(false, true) {
				return
			}
			continue
		}
		left := time.Duration(since + int64(limit) - ep.wheel.clock())
		if left > 0 {
			ep.wheel.schedule(&c.messageTimer, left, c.messageFn)
			return
		}
		ep.stats.messageTimeouts.Add(1)
		ep.timeoutLog.log(ep.log, slog.LevelInfo, "sipnet: connection closed", "conn", c.String(), "why", "a message was not completed within "+limit.String())
		c.closeWith(fmt.Errorf("%w: %s sent part of a message and not the rest within %s", ErrMessageTimeout, c.remote, limit))
		return
	}
}

// stopLimits disarms the connection's timers (it closed).
func (c *Conn) stopLimits() {
	if c.signInFn != nil {
		c.ep.wheel.cancel(&c.signInTimer)
	}
	if c.messageFn != nil {
		c.ep.wheel.cancel(&c.messageTimer)
	}
}
