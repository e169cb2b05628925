package embedded

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
)

// TestStart: the zero Options serve TCP on loopback from a temporary
// folder that Close removes; the target names the server as a client
// needs it.
func TestStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tmp := s.tmp
	tg := s.Target()
	if errs := tg.Validate(); len(errs) > 0 || tg.Domain != refserver.DefaultDomain || tg.Admin != "" || tg.Lookup != s.LookupURI() {
		t.Fatalf("target %+v: %v", tg, errs)
	}
	c, err := net.Dial("tcp", tg.Server())
	if err != nil {
		t.Fatalf("dial %s: %v", tg.Server(), err)
	}
	c.Close()
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("temporary folder: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatalf("temporary folder %s left behind: %v", tmp, err)
	}
}

// TestStartUDPAdmin: UDP first makes the target's server the UDP address;
// Admin serves the admin API with the token given; a folder given is
// kept.
func TestStartUDPAdmin(t *testing.T) {
	dir := t.TempDir()
	s, err := Start(context.Background(), Options{Domain: "contoso.test", Transports: []string{UDP, TCP}, Admin: true, AdminToken: "embedded-test-admin-token", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tg := s.Target()
	s.Close()
	if tg.Server() != s.UDPAddr() || s.TCPAddr() == "" || !strings.HasPrefix(tg.Admin, "http://127.0.0.1:") || tg.AdminToken != "embedded-test-admin-token" || tg.Domain != "contoso.test" {
		t.Fatalf("target %+v (udp %s)", tg, s.UDPAddr())
	}
	if _, err := os.Stat(dir + "/gc.db"); err != nil {
		t.Fatalf("the database is not in the folder given: %v", err)
	}
	if _, err := Start(context.Background(), Options{Transports: []string{"sctp"}}); err == nil || !strings.Contains(err.Error(), `"sctp"`) {
		t.Fatalf("unknown transport: %v", err)
	}
}
