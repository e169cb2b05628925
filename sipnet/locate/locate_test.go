package locate

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// zone is what the test DNS server knows: records by lower-case
// fully-qualified name and type. A name under servfail answers SERVFAIL.
type zone struct {
	srv      map[string][]dnsmessage.SRVResource
	a        map[string][4]byte
	servfail map[string]bool
}

// dnsServer answers UDP queries on loopback from a zone, the way an
// authoritative server would (NXDOMAIN for unknown names, NOERROR and no
// answer for a known name of another type).
type dnsServer struct {
	conn net.PacketConn
	wg   sync.WaitGroup
	z    zone

	mu      sync.Mutex
	queries []string
}

func startDNS(t *testing.T, z zone) *dnsServer {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &dnsServer{conn: c, z: z}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		c.Close()
		s.wg.Wait()
	})
	return s
}

func (s *dnsServer) serve() {
	defer s.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, addr, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if out := s.answer(buf[:n]); out != nil {
			s.conn.WriteTo(out, addr)
		}
	}
}

func (s *dnsServer) known(name string) bool {
	_, a := s.z.a[name]
	_, srv := s.z.srv[name]
	return a || srv
}

func (s *dnsServer) answer(in []byte) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(in)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.ToLower(q.Name.String())
	s.mu.Lock()
	s.queries = append(s.queries, q.Type.String()+" "+name)
	s.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
	switch {
	case s.z.servfail[name]:
		rh.RCode = dnsmessage.RCodeServerFailure
	case !s.known(name):
		rh.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
	if rh.RCode == dnsmessage.RCodeSuccess {
		switch q.Type {
		case dnsmessage.TypeSRV:
			for _, r := range s.z.srv[name] {
				b.SRVResource(hdr, r)
			}
		case dnsmessage.TypeA:
			if a, ok := s.z.a[name]; ok {
				b.AResource(hdr, dnsmessage.AResource{A: a})
			}
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}

func srv(prio, weight, port uint16, target string) dnsmessage.SRVResource {
	return dnsmessage.SRVResource{Priority: prio, Weight: weight, Port: port, Target: dnsmessage.MustNewName(target)}
}

func TestFrontEnd(t *testing.T) {
	lo := [4]byte{127, 0, 0, 1}
	s := startDNS(t, zone{
		srv: map[string][]dnsmessage.SRVResource{
			"_sipinternaltls._tcp.a.test.": {srv(10, 0, 5061, "fe2.a.test."), srv(0, 0, 5061, "fe1.a.test.")},
			"_sipinternal._tcp.a.test.":    {srv(0, 0, 5060, "never.a.test.")},
			"_sipinternal._tcp.b.test.":    {srv(0, 0, 5060, "fe.b.test.")},
			"_sip._tls.c.test.":            {srv(0, 0, 443, "sip.c.test.")},
			"_sipinternaltls._tcp.f.test.": {srv(0, 0, 0, ".")},
			"_sip._tls.f.test.":            {srv(0, 0, 5061, "edge.f.test.")},
		},
		a: map[string][4]byte{
			"sip.d.test.": lo, "sipinternal.e.test.": lo, "sip.e.test.": lo,
		},
		servfail: map[string]bool{"_sipinternaltls._tcp.g.test.": true, "_sipinternal._tcp.g.test.": true, "_sip._tls.g.test.": true},
	})
	r := NewResolver(s.conn.LocalAddr().String())
	tests := []struct {
		domain string
		want   []string
	}{
		{"a.test", []string{"tls://fe1.a.test:5061 SRV _sipinternaltls._tcp.a.test", "tls://fe2.a.test:5061 SRV _sipinternaltls._tcp.a.test"}},
		{"B.Test.", []string{"tcp://fe.b.test:5060 SRV _sipinternal._tcp.B.Test"}},
		{"c.test", []string{"tls://sip.c.test:443 SRV _sip._tls.c.test"}},
		{"d.test", []string{"tls://sip.d.test:5061 A sip.d.test"}},
		{"e.test", []string{"tls://sipinternal.e.test:5061 A sipinternal.e.test", "tls://sip.e.test:5061 A sip.e.test"}},
		{"f.test", []string{"tls://edge.f.test:5061 SRV _sip._tls.f.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			got, err := FrontEnd(ctx, r, tt.domain)
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, g := range got {
				s = append(s, g.URL()+" "+g.Record)
			}
			if !reflect.DeepEqual(s, tt.want) {
				t.Fatalf("got  %q\nwant %q", s, tt.want)
			}
		})
	}
	// The lookups of a.test stopped at the first SRV name that answered.
	s.mu.Lock()
	asked := strings.Join(s.queries, "\n")
	s.mu.Unlock()
	if strings.Contains(asked, "_sipinternal._tcp.a.test.") {
		t.Errorf("a.test: went on after _sipinternaltls answered:\n%s", asked)
	}
}

func TestFrontEndNotFound(t *testing.T) {
	s := startDNS(t, zone{servfail: map[string]bool{"_sipinternaltls._tcp.g.test.": true}})
	r := NewResolver(s.conn.LocalAddr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := FrontEnd(ctx, r, "g.test")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{
		"SRV _sipinternaltls._tcp.g.test: server misbehaving",
		"SRV _sipinternal._tcp.g.test: no such name",
		"SRV _sip._tls.g.test: no such name",
		"A sipinternal.g.test: no such name",
		"A sip.g.test: no such name",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	for _, bad := range []string{"", "a b", "sip:x@y"} {
		if _, err := FrontEnd(ctx, r, bad); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("FrontEnd(%q): %v", bad, err)
		}
	}
}

func TestFrontEndHonoursContext(t *testing.T) {
	// A server that never answers: the caller's deadline ends the lookup.
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = FrontEnd(ctx, NewResolver(c.LocalAddr().String()), "h.test")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestNewResolverDefaults(t *testing.T) {
	if NewResolver("") != net.DefaultResolver {
		t.Error("empty server is not the default resolver")
	}
	if tg := (Target{Transport: TLS, Host: "::1", Port: 5061}); tg.URL() != "tls://[::1]:5061" {
		t.Errorf("URL %s", tg.URL())
	}
}
