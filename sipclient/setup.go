package sipclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/gcload/gcload/internal/tlsconf"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/sipnet/locate"
	"github.com/gcload/gcload/target"
)

// Setup is how the clients of one target connect and sign in: the
// transport and address, the TLS configuration (CA, SNI, a trunk's client
// certificate) and each user's credentials, read once from the target's
// files and patterns (target.Target). The swarm and the conformance suite
// make their clients' Config from it.
type Setup struct {
	// Transport is sipnet.TCP, TLS or UDP; Addr host:port.
	Transport, Addr string
	// TLS is the configuration of TLS connections (nil for TCP and UDP).
	TLS *tls.Config
	// Trunk: the connections present a client certificate (a Front End's
	// trunk): the server trusts their users, so no challenge is expected.
	Trunk bool
	// Auth restricts the schemes answered (AuthAny, AuthNTLM, AuthDigest).
	Auth string
	// Credentials are the users' sign-in.
	*Credentials
}

// Credentials are the users' sign-in with one target: its accounts file,
// or its login and password patterns.
type Credentials struct {
	byURI   map[string]accounts.Credential // an accounts file's, by lower-case URI
	login   string                         // patterns: {i} is the user's number
	pass    string
	hasCred bool
}

// NewCredentials reads the target's accounts file, or takes its
// patterns (neither: no credentials).
func NewCredentials(t target.Target) (*Credentials, error) {
	c := &Credentials{}
	switch {
	case t.Accounts != "":
		creds, err := accounts.LoadFile(t.Accounts)
		if err != nil {
			return nil, err
		}
		c.byURI = make(map[string]accounts.Credential, len(creds))
		for _, cr := range creds {
			c.byURI[strings.ToLower(cr.URI)] = cr
		}
		c.hasCred = true
	case t.Password != "":
		c.login, c.pass, c.hasCred = t.Login, t.Password, true
	}
	return c, nil
}

// NewSetup reads what the target names (the accounts file, the TLS
// files). transport is the scenario's ("tcp", "tls" or "udp"; a server
// given as tls://HOST:PORT wins). The target must have a server (see
// Locate).
func NewSetup(t target.Target, transport string) (*Setup, error) {
	tr, addr := target.SplitServer(t.Server())
	if addr == "" {
		return nil, errors.New("sipclient: the target has no server")
	}
	if tr == "" {
		tr = strings.ToLower(transport)
	}
	s := &Setup{Addr: addr, Trunk: t.Trunk(), Auth: t.Auth}
	switch tr {
	case "", target.TCP:
		s.Transport = sipnet.TCP
	case target.TLS:
		s.Transport = sipnet.TLS
	case target.UDP:
		s.Transport = sipnet.UDP
	default:
		return nil, fmt.Errorf("sipclient: transport %q: want tcp, tls or udp", tr)
	}
	tlsWanted := t.CA != "" || t.ClientCert != "" || t.InsecureSkipVerify || t.ServerName != ""
	if s.Transport != sipnet.TLS && tlsWanted {
		return nil, fmt.Errorf("sipclient: TLS settings (CA, client certificate, server name, insecure-skip-verify) for a %s server: give it as tls://%s", strings.ToLower(s.Transport), addr)
	}
	if s.Transport == sipnet.TLS {
		cfg, err := tlsconf.ClientConfig(tlsconf.ClientOptions{CAFile: t.CA, ServerName: t.ServerName,
			InsecureSkipVerify: t.InsecureSkipVerify, CertFile: t.ClientCert, KeyFile: t.ClientKey})
		if err != nil {
			return nil, err
		}
		s.TLS = cfg
	}
	creds, err := NewCredentials(t)
	if err != nil {
		return nil, err
	}
	s.Credentials = creds
	return s, nil
}

// HasCredentials reports whether users have passwords.
func (s *Credentials) HasCredentials() bool { return s.hasCred }

// Credential returns the sign-in of user (sip:…): from the accounts file,
// or from the patterns with {i} (or {0}) the number that ends the user
// part of the address. ok is false when no credentials are configured;
// an error names a user the configuration has none for.
func (s *Credentials) Credential(user string) (c accounts.Credential, ok bool, err error) {
	if !s.hasCred {
		return c, false, nil
	}
	if s.byURI != nil {
		aor, _ := sipnet.AOR(user)
		c, ok := s.byURI[strings.ToLower(aor)]
		if !ok {
			return c, false, fmt.Errorf("sipclient: the accounts file has no account for %s", user)
		}
		return c, true, nil
	}
	n := ""
	if strings.Contains(s.login+s.pass, "{i}") || strings.Contains(s.login+s.pass, "{0}") {
		name := sipnet.UserOf(strings.TrimPrefix(strings.ToLower(user), "sips:"))
		i := len(name)
		for i > 0 && name[i-1] >= '0' && name[i-1] <= '9' {
			i--
		}
		if i == len(name) {
			return c, false, fmt.Errorf("sipclient: %s: the credential patterns use {i}, and the address does not end in a number", user)
		}
		n = name[i:]
	}
	fill := func(p string) string { return strings.NewReplacer("{i}", n, "{0}", n).Replace(p) }
	return accounts.Credential{URI: user, User: fill(s.login), Password: fill(s.pass)}, true, nil
}

// Config returns the client configuration of user against the target:
// server, transport, TLS and credentials (the caller adds the rest).
func (s *Setup) Config(user string) (Config, error) {
	cfg := Config{User: user, Server: s.Addr, Transport: s.Transport, TLS: s.TLS, Auth: s.Auth}
	c, ok, err := s.Credential(user)
	if err != nil {
		return cfg, err
	}
	if ok {
		cfg.Login, cfg.Password = c.User, c.Password
		cfg.ExpectChallenge = !s.Trunk
	}
	return cfg, nil
}

// DialAddr opens a connection to the server at addr (HOST:PORT, or with
// the transport prefix tls:// or tcp:// the target's servers may carry)
// over the target's transport and TLS settings: another server of a pool.
func (s *Setup) DialAddr(ctx context.Context, ep *sipnet.Endpoint, addr string) (*sipnet.Conn, error) {
	_, addr = target.SplitServer(addr)
	switch s.Transport {
	case sipnet.UDP:
		return ep.DialUDP(ctx, addr)
	case sipnet.TLS:
		return ep.DialTLS(ctx, addr, s.TLS)
	}
	return ep.DialTCP(ctx, addr)
}

// Locate finds the server of a target that has a lookup URI and no server
// the way a Lync client does (DNS SRV, then host names, sipnet/locate),
// asking t.DNS when set; it returns t with the first place found as its
// server. A target with a server is returned as it is.
func Locate(ctx context.Context, t target.Target) (target.Target, error) {
	if !t.Locate() {
		return t, nil
	}
	r := locate.NewResolver(t.DNS)
	found, err := locate.FrontEnd(ctx, r, target.DomainOf(t.Lookup))
	if err != nil {
		return t, fmt.Errorf("finding the server of %s: %w", t.Lookup, err)
	}
	// the host's address from the same resolver; over TLS its name is
	// what the certificate must carry (and the SNI), as for a client
	fe := found[0]
	addrs, err := r.LookupHost(ctx, fe.Host)
	if err != nil || len(addrs) == 0 {
		return t, fmt.Errorf("finding the server of %s: %s names %s, whose address was not found: %v", t.Lookup, fe.Record, fe.Host, err)
	}
	if fe.Transport == locate.TLS && t.ServerName == "" {
		t.ServerName = fe.Host
	}
	t.Servers = []string{fe.Transport + "://" + net.JoinHostPort(addrs[0], strconv.Itoa(int(fe.Port)))}
	return t, nil
}
