// Package locatetest is a DNS server for tests: it answers SRV and A
// queries on loopback from a zone given in code, as an authoritative
// server does, so that tests of finding a Front End (sipnet/locate) and
// of runs that find their server in DNS need no real DNS.
package locatetest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Zone is what the test DNS server knows: records by lower-case
// fully-qualified name and type. A name under servfail answers SERVFAIL.
type Zone struct {
	SRV      map[string][]dnsmessage.SRVResource
	A        map[string][4]byte
	ServFail map[string]bool
}

// Server answers UDP queries on loopback from a zone, the way an
// authoritative server would (NXDOMAIN for unknown names, NOERROR and no
// answer for a known name of another type).
type Server struct {
	conn net.PacketConn
	wg   sync.WaitGroup
	z    Zone

	mu      sync.Mutex
	queries []string
}

// Start serves z on a random UDP port of 127.0.0.1 until the test ends.
func Start(t testing.TB, z Zone) *Server {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{conn: c, z: z}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		c.Close()
		s.wg.Wait()
	})
	return s
}

func (s *Server) serve() {
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

func (s *Server) known(name string) bool {
	_, a := s.z.A[name]
	_, srv := s.z.SRV[name]
	return a || srv
}

func (s *Server) answer(in []byte) []byte {
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
	case s.z.ServFail[name]:
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
			for _, r := range s.z.SRV[name] {
				b.SRVResource(hdr, r)
			}
		case dnsmessage.TypeA:
			if a, ok := s.z.A[name]; ok {
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

// SRVRecord is an SRV record.
func SRVRecord(prio, weight, port uint16, target string) dnsmessage.SRVResource {
	return dnsmessage.SRVResource{Priority: prio, Weight: weight, Port: port, Target: dnsmessage.MustNewName(target)}
}

// Addr returns the server's address (host:port), for a resolver.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Queries returns the queries received so far ("SRV name.", "A name.").
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}
