package swarm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipnet"
)

// sharedConns are a run's shared connections (connections.model: shared):
// N to each server users talk to (user u uses connection u % N of its
// server). Each is opened by the first user that signs in on it, not when
// the run is prepared: a server closes a connection on which no user
// signs in within its sign-in timeout (30 s on the reference server), and
// a shard may wait long before its start (a --start-at ahead, a
// coordinator's barrier) or sign its users in slowly enough that a
// connection's first user comes late. A connection that closed is opened
// again by the next user to sign in on it. The servers are the listed ones
// (users spread over them) and those a pool's lookup service sends users
// to, which get their connections as users move there.
type sharedConns struct {
	s  *Swarm
	n  int
	mu sync.Mutex
	// by server address
	slots map[string][]sharedSlot
}

type sharedSlot struct {
	mu   sync.Mutex
	conn *sipnet.Conn
}

func newSharedConns(s *Swarm, n int) *sharedConns {
	return &sharedConns{s: s, n: max(n, 1), slots: map[string][]sharedSlot{}}
}

// get returns user u's connection to the server at addr, opening it if it
// is not open. Users of one connection wait for each other's dial; users
// of others do not.
func (sc *sharedConns) get(ctx context.Context, addr string, u int) (*sipnet.Conn, error) {
	sc.mu.Lock()
	slots := sc.slots[addr]
	if slots == nil {
		slots = make([]sharedSlot, sc.n)
		sc.slots[addr] = slots
	}
	sc.mu.Unlock()
	i := u % len(slots)
	sl := &slots[i]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.conn != nil {
		select {
		case <-sl.conn.Done():
		default:
			return sl.conn, nil
		}
	}
	s := sc.s
	dctx, cancel := context.WithTimeout(ctx, s.dialTimeout())
	defer cancel()
	ep := s.router.Endpoint()
	c, err := s.setup.DialAddr(dctx, ep, addr)
	if err != nil {
		if len(s.servers) > 1 {
			return nil, fmt.Errorf("shared connection %d to %s: %w", i+1, addr, err)
		}
		return nil, fmt.Errorf("shared connection %d: %w", i+1, err)
	}
	sl.conn = c
	return c, nil
}

// clientConfig is user u's client configuration, from the target's Setup
// (transport, TLS and credentials) at its home server, on conn (nil: the
// client dials its own connection when it signs in). With shared
// connections, the client gets its connection to another server (where
// its channel URI sends it, or where it signs in again after a lost
// session) from them.
func (s *Swarm) clientConfig(u *vuser, conn *sipnet.Conn) (sipclient.Config, error) {
	cfg, err := s.setup.Config(s.plan.Users[u.idx])
	if err != nil {
		return cfg, err
	}
	cfg.Server = s.servers[u.home]
	cfg.Lookup, cfg.Flow, cfg.Router, cfg.OnEvent, cfg.Conn = s.o.Target.Lookup, s.flow(u.idx), s.router, u.event, conn
	cfg.Stay = s.spec.Lookup.Stay
	if s.shared != nil {
		idx := int(u.idx)
		cfg.Dial = func(ctx context.Context, addr string) (*sipnet.Conn, error) { return s.shared.get(ctx, addr, idx) }
	}
	return cfg, nil
}

// ref converts an instant read on this machine's clock to the run's
// reference clock (Options.ClockOffset).
func (s *Swarm) ref(t time.Time) time.Time { return t.Add(s.o.ClockOffset) }
