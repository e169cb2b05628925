// Package sipclienttest connects simulated users to a server for tests:
// the harness side of refserver/refservertest (which starts servers and
// never imports the harness).
package sipclienttest

import (
	"context"
	"testing"
	"time"

	"github.com/gcload/gcload/sipclient"
)

// Connect makes a client for user of the server at addr (TCP) and runs
// Connect (sign-in, lookup with flow, channel session); it is closed when
// the test ends.
func Connect(t testing.TB, addr, user string, flow sipclient.Flow) *sipclient.Client {
	t.Helper()
	c, err := sipclient.New(sipclient.Config{User: user, Server: addr, Flow: flow})
	if err != nil {
		t.Fatalf("sipclienttest: client %s: %v", user, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		c.Close(ctx)
		t.Fatalf("sipclienttest: connect %s: %v", user, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}
