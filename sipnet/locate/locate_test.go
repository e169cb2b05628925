package locate

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/sipnet/locate/locatetest"
	"golang.org/x/net/dns/dnsmessage"
)

func TestFrontEnd(t *testing.T) {
	lo := [4]byte{127, 0, 0, 1}
	s := locatetest.Start(t, locatetest.Zone{
		SRV: map[string][]dnsmessage.SRVResource{
			"_sipinternaltls._tcp.a.test.": {locatetest.SRVRecord(10, 0, 5061, "fe2.a.test."), locatetest.SRVRecord(0, 0, 5061, "fe1.a.test.")},
			"_sipinternal._tcp.a.test.":    {locatetest.SRVRecord(0, 0, 5060, "never.a.test.")},
			"_sipinternal._tcp.b.test.":    {locatetest.SRVRecord(0, 0, 5060, "fe.b.test.")},
			"_sip._tls.c.test.":            {locatetest.SRVRecord(0, 0, 443, "sip.c.test.")},
			"_sipinternaltls._tcp.f.test.": {locatetest.SRVRecord(0, 0, 0, ".")},
			"_sip._tls.f.test.":            {locatetest.SRVRecord(0, 0, 5061, "edge.f.test.")},
		},
		A: map[string][4]byte{
			"sip.d.test.": lo, "sipinternal.e.test.": lo, "sip.e.test.": lo,
		},
		ServFail: map[string]bool{"_sipinternaltls._tcp.g.test.": true, "_sipinternal._tcp.g.test.": true, "_sip._tls.g.test.": true},
	})
	r := NewResolver(s.Addr())
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
	asked := strings.Join(s.Queries(), "\n")
	if strings.Contains(asked, "_sipinternal._tcp.a.test.") {
		t.Errorf("a.test: went on after _sipinternaltls answered:\n%s", asked)
	}
}

func TestFrontEndNotFound(t *testing.T) {
	s := locatetest.Start(t, locatetest.Zone{ServFail: map[string]bool{"_sipinternaltls._tcp.g.test.": true}})
	r := NewResolver(s.Addr())
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
