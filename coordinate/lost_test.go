package coordinate

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestOlderConnectionClosed: a shard is suspected lost only when the
// connection it was last heard on closes (its process died), not when
// another of its connections, one it no longer uses, closes (a keep-alive
// connection the coordinator closed for idleness, or the shard's pool
// dropped): a shard starved of CPU, whose heartbeats come less often than
// LostGrace, was declared dead so.
func TestOlderConnectionClosed(t *testing.T) {
	c := startCoordinator(t, Options{Shards: 1, HeartbeatTimeout: 5 * time.Second})
	ctx := context.Background()
	cl, err := Dial(ctx, c.client(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := cl.Join(ctx); err != nil {
		t.Fatal(err)
	}
	cl.stopHeartbeats() // a heartbeat would clear the suspicion checked below
	s := c.srv
	older, _ := net.Pipe()
	defer older.Close()
	s.mu.Lock()
	s.conns[older] = &connTag{addr: "127.0.0.1:1", shard: 1} // it once carried a request of the shard's
	var last net.Conn
	for nc, tag := range s.conns {
		if tag == s.shards[0].lastTag {
			last = nc
		}
	}
	s.mu.Unlock()
	if last == nil {
		t.Fatal("the coordinator does not know the connection the shard was last heard on")
	}
	suspect := func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.shards[0].lostAt.IsZero()
	}
	s.connClosed(older)
	if suspect() {
		t.Fatal("the shard is suspected lost when a connection it no longer used closed")
	}
	s.connClosed(last)
	if !suspect() {
		t.Fatal("the shard is not suspected when the connection it was last heard on closed")
	}
}
