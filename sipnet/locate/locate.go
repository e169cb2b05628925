// Package locate finds a SIP domain's Front End (registrar) in DNS the way
// Lync and Skype for Business clients do when no server is configured:
// the SRV records _sipinternaltls._tcp, _sipinternal._tcp and _sip._tls of
// the sign-in domain, in that order, then the host names sipinternal and
// sip of the domain on the TLS port 5061. The first step that gives an
// answer decides; SRV answers keep the priority and weight order of
// RFC 2782 (as net.Resolver sorts them).
//
// NewResolver points the lookups at a given DNS server, for test networks
// whose records are not in the system's resolver.
package locate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Transports of a Target.
const (
	TLS = "tls"
	TCP = "tcp"
)

// DefaultTLSPort is the port of the host-name fallbacks.
const DefaultTLSPort = 5061

// Target is one place to try, in order.
type Target struct {
	Transport string // TLS or TCP
	Host      string // a host name, without the trailing dot
	Port      uint16
	// Record says where it came from, for messages:
	// "SRV _sipinternaltls._tcp.example.com" or "A sip.example.com".
	Record string
}

// Addr returns host:port.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(int(t.Port))) }

// URL returns the target as the CLI's --server takes it: tls://host:port
// or tcp://host:port.
func (t Target) URL() string { return t.Transport + "://" + t.Addr() }

// Resolver is what FrontEnd looks records up with; *net.Resolver is one.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
	LookupHost(ctx context.Context, host string) (addrs []string, err error)
}

// NewResolver returns a resolver that asks server (host or host:port, port
// 53 by default) over UDP, or TCP when an answer is truncated, instead of
// the system's configured servers; an empty server gives
// net.DefaultResolver.
func NewResolver(server string) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	if _, _, err := net.SplitHostPort(server); err != nil {
		server = net.JoinHostPort(server, "53")
	}
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := net.Dialer{Timeout: 5 * time.Second}
			return d.DialContext(ctx, network, server)
		},
	}
}

// ErrNotFound is wrapped when no step finds the Front End.
var ErrNotFound = errors.New("locate: no Front End found")

// FrontEnd returns the places to try for a sign-in domain, in order. The
// error, when nothing is found, says what each lookup answered.
func FrontEnd(ctx context.Context, r Resolver, domain string) ([]Target, error) {
	domain = strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if domain == "" || strings.ContainsAny(domain, " /:@") {
		return nil, fmt.Errorf("locate: %q is not a domain name", domain)
	}
	var tried []string
	for _, s := range []struct{ service, proto, transport string }{
		{"sipinternaltls", "tcp", TLS},
		{"sipinternal", "tcp", TCP},
		{"sip", "tls", TLS},
	} {
		name := "_" + s.service + "._" + s.proto + "." + domain
		_, srvs, err := r.LookupSRV(ctx, s.service, s.proto, domain)
		if err != nil {
			if err := ended(ctx); err != nil {
				return nil, err
			}
			tried = append(tried, "SRV "+name+": "+reason(err))
			continue
		}
		var out []Target
		for _, srv := range srvs {
			host := strings.TrimSuffix(srv.Target, ".")
			if host == "" { // "." : the service is decidedly not available here (RFC 2782)
				continue
			}
			out = append(out, Target{Transport: s.transport, Host: host, Port: srv.Port, Record: "SRV " + name})
		}
		if len(out) > 0 {
			return out, nil
		}
		tried = append(tried, "SRV "+name+": no usable target")
	}
	var out []Target
	for _, h := range []string{"sipinternal." + domain, "sip." + domain} {
		addrs, err := r.LookupHost(ctx, h)
		if err != nil || len(addrs) == 0 {
			if err := ended(ctx); err != nil {
				return nil, err
			}
			tried = append(tried, "A "+h+": "+reason(err))
			continue
		}
		out = append(out, Target{Transport: TLS, Host: h, Port: DefaultTLSPort, Record: "A " + h})
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, fmt.Errorf("%w for %s: %s", ErrNotFound, domain, strings.Join(tried, "; "))
}

// ended returns the context's error, counting a deadline just passed (the
// resolver times out at the deadline itself, before the context's timer
// marks it done).
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

func reason(err error) string {
	var de *net.DNSError
	switch {
	case err == nil:
		return "no address"
	case errors.As(err, &de) && de.IsNotFound:
		return "no such name"
	case errors.As(err, &de):
		return de.Err
	}
	return err.Error()
}
