package swarm

import (
	"sync"
	"sync/atomic"

	"github.com/gcload/gcload/reports"
)

// maxServers bounds the servers counted apart; the users sent to more
// servers than this are counted with the last.
const maxServers = 64

// serverTable counts what happened on each server: those users are spread
// over, and those the lookup service sent them to. Counting is one atomic
// add on a server's row (the row of a user is read from vuser.srv).
type serverTable struct {
	mu    sync.Mutex
	names []string // by index, at most maxServers
	rows  [maxServers]serverRow
	// multi: more than one server; deliveries are counted by server only
	// then (with one, the run's deliveries counter is its count)
	multi atomic.Bool
}

type serverRow struct {
	users, posts, deliveries, errors, lost, reconnected atomic.Int64
}

// index returns the row of addr, adding it when new.
func (t *serverTable) index(addr string) int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, n := range t.names {
		if n == addr {
			return int32(i)
		}
	}
	if len(t.names) == maxServers {
		return maxServers - 1
	}
	t.names = append(t.names, addr)
	t.multi.Store(len(t.names) > 1)
	return int32(len(t.names) - 1)
}

// row returns the row of index i.
func (t *serverTable) row(i int32) *serverRow { return &t.rows[i] }

// counts returns every server's counts, in the order they were first seen
// (the listed servers first); deliveries is the run's count, the one
// server's when there is one.
func (t *serverTable) counts(deliveries int64) []reports.ServerCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]reports.ServerCounts, len(t.names))
	for i, n := range t.names {
		r := &t.rows[i]
		out[i] = reports.ServerCounts{
			Server: n, Users: r.users.Load(), Posts: r.posts.Load(), Deliveries: r.deliveries.Load(),
			Errors: r.errors.Load(), SessionsLost: r.lost.Load(), Reconnected: r.reconnected.Load(),
		}
	}
	if len(out) == 1 && !t.multi.Load() {
		out[0].Deliveries = deliveries
	}
	return out
}

// at returns the row of the server user u is on.
func (s *Swarm) at(u *vuser) *serverRow { return s.srv.row(u.srv.Load()) }
