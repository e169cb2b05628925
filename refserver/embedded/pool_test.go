package embedded

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/pgtest"
)

func TestMain(m *testing.M) {
	if PoolChild() {
		return
	}
	os.Exit(pgtest.Main(m))
}

// TestStartPool: a pool of three server processes on one database; each
// lists the three as live, the target names all three and the first's
// admin API; a killed server is gone and the others drop it; Close stops
// the rest.
func TestStartPool(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	db := pgtest.Shared(t).NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p, err := StartPool(ctx, PoolOptions{Servers: 3, DB: db, Channels: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tg := p.Target()
	if errs := tg.Validate(); len(errs) > 0 || len(tg.Servers) != 3 || tg.Admin != p.Servers[0].Admin || tg.AdminToken == "" {
		t.Fatalf("target %+v: %v", tg, errs)
	}
	live := func(s *PoolServer) int {
		req, _ := http.NewRequestWithContext(ctx, "GET", s.Admin+"/api/stats", nil)
		req.Header.Set("Authorization", "Bearer "+tg.AdminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var st struct {
			Pool struct {
				Servers []struct {
					URIs []string `json:"uris"`
				} `json:"servers"`
			} `json:"pool"`
		}
		if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return len(st.Pool.Servers)
	}
	wait := func(s *PoolServer, n int) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); live(s) != n; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("server %s lists %d live servers, want %d", s.Addr, live(s), n)
			}
		}
	}
	for _, s := range p.Servers {
		wait(s, 3)
		if s.CPU() <= 0 {
			t.Errorf("no CPU time read for server %s", s.Addr)
		}
	}
	if err := p.Servers[1].Kill(); err != nil {
		t.Fatal(err)
	}
	if !p.Servers[1].Killed() {
		t.Fatal("Killed says no")
	}
	if c, err := net.DialTimeout("tcp", p.Servers[1].Addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("killed server %s still takes connections", p.Servers[1].Addr)
	}
	wait(p.Servers[0], 2)
	wait(p.Servers[2], 2)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Servers {
		select {
		case <-s.exited:
		default:
			t.Fatalf("server %s still runs after Close", s.Addr)
		}
	}
}

func TestStartPoolBadInput(t *testing.T) {
	ctx := context.Background()
	for _, o := range []PoolOptions{{Servers: 0}, {Servers: MaxPool + 1}, {Servers: 1, DB: "postgres://x", Lookup: "random"}} {
		if _, err := StartPool(ctx, o); err == nil {
			t.Errorf("StartPool(%+v) started", o)
		}
	}
}
