// Package refservertest starts reference servers for tests: in-process, on
// random loopback ports (through refserver/embedded), with a database in
// the test's temporary directory, closed when the test ends (like
// nats-server's RunServer). Clients that connect to them are on the
// harness side (sipclient/sipclienttest): nothing here imports the harness.
package refservertest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/embedded"
	"github.com/gcload/gcload/refserver/store"
)

// AdminToken is the admin API token of the servers Start starts (a test's
// client gives it to adminclient.New).
const AdminToken = "refservertest-admin-token"

// Start runs a server listening on TCP and UDP on 127.0.0.1 (random ports)
// with an admin API (token AdminToken), storing in t.TempDir(); opts come
// after the defaults, so they may override them (WithDB to reuse a
// database across restarts).
func Start(t testing.TB, opts ...refserver.Option) *refserver.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := embedded.Start(ctx, embedded.Options{
		Transports: []string{embedded.TCP, embedded.UDP}, Admin: true, AdminToken: AdminToken,
		Dir: t.TempDir(), Options: opts,
	})
	if err != nil {
		t.Fatalf("refservertest: start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Server
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
