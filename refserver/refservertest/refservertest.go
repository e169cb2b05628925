// Package refservertest starts reference servers for tests: in-process, on
// random loopback ports, with a database in the test's temporary directory,
// closed when the test ends (like nats-server's RunServer).
package refservertest

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipclient"
)

// AdminToken is the admin API token of the servers Start starts (a test's
// client puts it in its context with adminclient.WithToken).
const AdminToken = "refservertest-admin-token"

// Start runs a server listening on TCP and UDP on 127.0.0.1 (random ports)
// with an admin API (token AdminToken), storing in t.TempDir(); opts come
// after the defaults, so they may override them (WithDB to reuse a
// database across restarts).
func Start(t testing.TB, opts ...refserver.Option) *refserver.Server {
	t.Helper()
	base := []refserver.Option{
		refserver.WithTCP("127.0.0.1:0"), refserver.WithUDP("127.0.0.1:0"), refserver.WithAdmin("127.0.0.1:0"),
		refserver.WithAdminToken(AdminToken), refserver.WithDB(filepath.Join(t.TempDir(), "gc.db")),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := refserver.New(ctx, append(base, opts...)...)
	if err != nil {
		t.Fatalf("refservertest: start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Room is a closed room with the given members.
func Room(id string, members ...string) store.Room {
	if members == nil {
		members = []string{}
	}
	return store.Room{ID: id, Name: "Room " + id, Topic: "topic of " + id, Members: members, Managers: []string{}, Presenters: []string{}}
}

// Users returns n user URIs user0@domain ... user(n-1)@domain.
func Users(domain string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "sip:user" + strconv.Itoa(i) + "@" + domain
	}
	return out
}

// Connect makes a client of s for user over TCP and runs Connect (sign-in,
// lookup with flow, channel session); it is closed when the test ends.
func Connect(t testing.TB, s *refserver.Server, user string, flow sipclient.Flow) *sipclient.Client {
	t.Helper()
	c, err := sipclient.New(sipclient.Config{User: user, Server: s.TCPAddr(), Flow: flow})
	if err != nil {
		t.Fatalf("refservertest: client %s: %v", user, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		c.Close(ctx)
		t.Fatalf("refservertest: connect %s: %v", user, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}
