package swarm

import (
	"context"
	"fmt"
	"time"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
)

// A user whose session was lost (its connection closed: its server went
// away) comes back as a real client does when the scenario says so
// (reconnect:): after a pause it signs in through another of the listed
// servers, looks a channel service up, opens the channel session (on the
// server the URI names), rejoins its rooms, and then reads each room's
// last posts to catch up on what it missed. The time from the loss to the
// rejoin is the reconnect operation; what it finds in history that it did
// not receive live is counted as recovered, and the accounting counts
// those posts as missed while offline rather than lost.

// startReconnect starts u's return after a session lost at lostAt; false
// when the run is ending.
func (s *Swarm) startReconnect(u *vuser, lostAt time.Time) bool {
	s.reconMu.Lock()
	defer s.reconMu.Unlock()
	if s.reconDone {
		return false
	}
	s.recon.Add(1)
	from := u.client.Server()
	go s.reconnect(u, lostAt, from)
	return true
}

// reconnect brings u back, trying up to reconnect.tries times.
func (s *Swarm) reconnect(u *vuser, lostAt time.Time, from string) {
	defer s.recon.Done()
	rc := s.spec.Reconnect
	var last error
	for try := 1; try <= rc.Tries; try++ {
		t := time.NewTimer(rc.After.D())
		select {
		case <-s.reconCtx.Done():
			t.Stop()
			s.gaveUp(u, fmt.Errorf("the run ended after %d tries", try-1))
			return
		case <-t.C:
		}
		addr := s.reconnectServer(u, from, try)
		if last = s.comeBack(u, addr, lostAt); last == nil {
			return
		}
		s.log.Debug("reconnect failed", "user", u.client.User(), "server", addr, "try", try, "err", last)
	}
	s.gaveUp(u, last)
}

// gaveUp counts a user that could not come back.
func (s *Swarm) gaveUp(u *vuser, err error) {
	u.state.Store(stLost)
	s.rec.Add(reports.CounterReconnectFailed, 1)
	if err != nil {
		s.rec.Error("reconnect", Cause(err), fmt.Sprintf("%s: %v", u.client.User(), cleanErr(err)), s.ref(time.Now()))
	}
}

// reconnectServer is the server of the try-th attempt: the listed servers
// but the one u was on, in turn from the one after u's own; that one when
// it is the only server.
func (s *Swarm) reconnectServer(u *vuser, from string, try int) string {
	others := make([]string, 0, len(s.servers))
	for _, a := range s.servers {
		if a != from {
			others = append(others, a)
		}
	}
	if len(others) == 0 {
		return from
	}
	return others[(u.home+try)%len(others)]
}

// comeBack signs u in through addr, opens a channel session, rejoins its
// rooms and catches up through history.
func (s *Swarm) comeBack(u *vuser, addr string, lostAt time.Time) error {
	ctx, cancel := context.WithTimeout(s.reconCtx, s.spec.Limits.Timeout.D())
	defer cancel()
	c := u.client
	if err := c.SignInAt(ctx, addr); err != nil {
		return err
	}
	uri := s.spec.Lookup.Channel
	if s.spec.Lookup.Flow != scenarios.FlowDirect {
		var err error
		if uri, err = c.Lookup(ctx, s.flow(u.idx)); err != nil {
			return err
		}
	}
	if err := c.OpenChannel(ctx, uri); err != nil {
		return err
	}
	rooms := s.plan.UserRoom[u.idx]
	uris := make([]string, len(rooms))
	for i, r := range rooms {
		uris[i] = s.plan.Rooms[r].URI
	}
	var joined []int32
	if len(rooms) > 0 {
		res, err := c.Join(ctx, uris...)
		if err != nil {
			s.archive.note(kindJoin, u.idx, rooms, err)
			return err
		}
		now := s.ref(time.Now()) // the accounting's times are on the run's reference clock
		s.markJoined(u, res, now)
		for _, ch := range res.Rooms {
			if r := s.plan.RoomIndex(ch.URI); r >= 0 {
				s.acct.gap(u.idx, r, s.ref(lostAt), now)
				joined = append(joined, r)
			}
		}
	}
	now := time.Now()
	s.rec.Record(reports.OpReconnect, now.Sub(lostAt))
	s.rec.Add(reports.CounterReconnected, 1)
	u.srv.Store(s.srv.index(c.Server()))
	s.at(u).reconnected.Add(1)
	u.state.Store(stOnline)
	for n, p := s.online.Add(1), s.peak.Load(); n > p && !s.peak.CompareAndSwap(p, n); p = s.peak.Load() {
	}
	// catch up: what the rooms got while u was away
	for _, r := range joined {
		msgs, err := c.History(ctx, s.plan.Rooms[r].URI, s.spec.Reconnect.History)
		if err != nil {
			s.at(u).errors.Add(1)
			s.fail("history", err)
			continue
		}
		var n int64
		for i := range msgs {
			if s.acct.recovered(u.idx, msgs[i].Text) {
				n++
			}
		}
		s.rec.Add(reports.CounterRecovered, n)
	}
	return nil
}
