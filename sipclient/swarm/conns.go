package swarm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipnet"
)

// sharedConns are a run's shared connections (connections.model: shared;
// user u uses connection u % N). Each is opened by the first user that
// signs in on it, not when the run is prepared: a server closes a
// connection on which no user signs in within its sign-in timeout (30 s
// on the reference server), and a shard may wait long before its start
// (a --start-at ahead, a coordinator's barrier) or sign its users in
// slowly enough that a connection's first user comes late. A connection
// that closed is opened again by the next user to sign in on it.
type sharedConns struct {
	s     *Swarm
	slots []sharedSlot
}

type sharedSlot struct {
	mu   sync.Mutex
	conn *sipnet.Conn
}

func newSharedConns(s *Swarm, n int) *sharedConns {
	return &sharedConns{s: s, slots: make([]sharedSlot, max(n, 1))}
}

// get returns user u's connection, opening it if it is not open. Users of
// one connection wait for each other's dial; users of others do not.
func (sc *sharedConns) get(ctx context.Context, u int) (*sipnet.Conn, error) {
	i := u % len(sc.slots)
	sl := &sc.slots[i]
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
	c, err := s.setup.Dial(dctx, ep)
	if err != nil {
		return nil, fmt.Errorf("shared connection %d: %w", i+1, err)
	}
	sl.conn = c
	return c, nil
}

// clientConfig is user u's client configuration, from the target's Setup
// (its server, transport, TLS and credentials), on conn (nil: the client
// dials its own connection when it signs in).
func (s *Swarm) clientConfig(u *vuser, conn *sipnet.Conn) (sipclient.Config, error) {
	cfg, err := s.setup.Config(s.plan.Users[u.idx])
	if err != nil {
		return cfg, err
	}
	cfg.Lookup, cfg.Flow, cfg.Router, cfg.OnEvent, cfg.Conn = s.o.Target.Lookup, s.flow(u.idx), s.router, u.event, conn
	return cfg, nil
}

// ref converts an instant read on this machine's clock to the run's
// reference clock (Options.ClockOffset).
func (s *Swarm) ref(t time.Time) time.Time { return t.Add(s.o.ClockOffset) }
