// Package target describes the server under test, once, for every part of
// the harness: the lookup URI users look the channel service up at, the
// SIP addresses to connect to, the users' domain and a reference server's
// admin API with its token. A scenario's target section (scenarios.Target)
// and the conformance suite's target (check.Target) both come down to it,
// and the embedded reference server (refserver/embedded) describes itself
// with it. It imports only the standard library.
//
// It also says how a client reaches the server and signs in: TLS (a server
// given as tls://HOST:PORT, the CA its certificate chains to, a trunk's
// client certificate for mutual TLS), the users' credentials (an accounts
// file, or login and password patterns) and, when no server is given with
// a lookup URI, the DNS server the Front End is located with.
package target

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Target is a server under test, as a client is configured for it.
type Target struct {
	// Lookup is the lookup service URI (sip:ocschat@DOMAIN).
	Lookup string `json:"lookup,omitempty"`
	// Domain is the SIP domain of the users and rooms (empty: the
	// lookup URI's; see UsersDomain).
	Domain string `json:"domain,omitempty"`
	// Servers are the SIP addresses (host:port) clients connect to, as a
	// client's server setting. Several spread the users over them (user i
	// signs in to server i mod N), as DNS SRV spreads clients over a
	// pool's Front Ends; the conformance suite uses the first.
	Servers []string `json:"servers,omitempty"`
	// Admin is the base URL of a reference server's admin API, used to
	// provision rooms and read its statistics (empty: the rooms exist).
	Admin string `json:"admin,omitempty"`
	// AdminToken is the admin API's bearer token. It is never written
	// out with the target.
	AdminToken string `json:"-"`

	// CA is a PEM file of the CA certificates a TLS server's certificate
	// must chain to (empty: the system's roots); ServerName the name sent
	// as SNI and verified (empty: the server's host); InsecureSkipVerify
	// accepts any certificate (only ever from an explicit flag).
	CA                 string `json:"ca,omitempty"`
	ServerName         string `json:"server_name,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
	// ClientCert and ClientKey are a trunk's certificate for mutual TLS:
	// connections presenting it model a Front End's trunk, whose users the
	// server trusts without a challenge.
	ClientCert string `json:"client_cert,omitempty"`
	ClientKey  string `json:"client_key,omitempty"`

	// Accounts is a CSV file of the users' credentials (uri,user,password).
	Accounts string `json:"accounts,omitempty"`
	// Login and Password are patterns of each user's credentials, in which
	// {i} (or {0}) stands for the number that ends the user part of its
	// address (sip:user17@… is 17): "user{i}", "pass{i}". An empty Login
	// signs in with the address (user@domain), as SIPE does. The password
	// is never written out with the target.
	Login    string `json:"login,omitempty"`
	Password string `json:"-"`
	// Auth restricts the schemes the users answer: "" (NTLM when offered,
	// else digest), "ntlm" or "digest".
	Auth string `json:"auth,omitempty"`

	// DNS is the DNS server (host:port) the Front End is located with
	// (SRV, then A records of the lookup URI's domain) when a lookup URI
	// is given without a server; empty: the system's resolver.
	DNS string `json:"dns,omitempty"`
}

// Transports a server address may name (tls://HOST:PORT).
const (
	TCP = "tcp"
	TLS = "tls"
	UDP = "udp"
)

// SplitServer splits a server address into its transport ("tcp", "tls",
// "udp", or "" when it names none) and host:port.
func SplitServer(s string) (transport, addr string) {
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		return strings.ToLower(scheme), rest
	}
	return "", s
}

// Address returns the host:port of the server to connect to ("" when
// there is none).
func (t Target) Address() string {
	_, a := SplitServer(t.Server())
	return a
}

// Transport returns the transport the server address names ("" when it
// names none: the scenario's).
func (t Target) Transport() string {
	tr, _ := SplitServer(t.Server())
	return tr
}

// Trunk reports whether the clients present a client certificate: the
// connections model a Front End's trunk.
func (t Target) Trunk() bool { return t.ClientCert != "" }

// HasCredentials reports whether users have passwords to sign in with.
func (t Target) HasCredentials() bool { return t.Accounts != "" || t.Password != "" }

// Locate reports whether the server is to be found in DNS: a lookup URI
// and no server.
func (t Target) Locate() bool { return t.Lookup != "" && len(t.Servers) == 0 }

// FieldError is one problem with a field of a Target; Field is the
// field's name in lower case (lookup, domain, servers[0], admin), for
// callers to say where it came from (a flag, a key of a file).
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Embedded reports whether t names no server to connect to and no lookup
// URI to find one with: the caller then runs the embedded reference
// server (refserver/embedded).
func (t Target) Embedded() bool { return len(t.Servers) == 0 && t.Lookup == "" }

// Server returns the (first) address to connect to ("" when there is
// none).
func (t Target) Server() string {
	if len(t.Servers) == 0 {
		return ""
	}
	return t.Servers[0]
}

// UsersDomain returns the users' domain: Domain, or the lookup URI's.
func (t Target) UsersDomain() string {
	if t.Domain != "" {
		return t.Domain
	}
	return DomainOf(t.Lookup)
}

// With returns t with every field that o sets replacing t's (a flag over
// a file, options over a scenario).
func (t Target) With(o Target) Target {
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&t.Lookup, o.Lookup)
	set(&t.Domain, o.Domain)
	set(&t.Admin, o.Admin)
	set(&t.AdminToken, o.AdminToken)
	if len(o.Servers) > 0 {
		t.Servers = append([]string(nil), o.Servers...)
	}
	set(&t.CA, o.CA)
	set(&t.ServerName, o.ServerName)
	t.InsecureSkipVerify = t.InsecureSkipVerify || o.InsecureSkipVerify
	set(&t.ClientCert, o.ClientCert)
	set(&t.ClientKey, o.ClientKey)
	if o.Accounts != "" { // one source of credentials replaces the other
		t.Accounts, t.Login, t.Password = o.Accounts, "", ""
	}
	if o.Password != "" {
		t.Accounts, t.Login, t.Password = "", o.Login, o.Password
	} else {
		set(&t.Login, o.Login)
	}
	set(&t.Auth, o.Auth)
	set(&t.DNS, o.DNS)
	return t
}

// String describes the target for people: "LOOKUP at SERVER".
func (t Target) String() string {
	return t.Lookup + " at " + strings.Join(t.Servers, ", ")
}

// Validate checks each field that is set and that a lookup URI and a
// server come together; it returns every problem, each a *FieldError.
// A zero Target is valid (the embedded server).
func (t Target) Validate() []error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, &FieldError{Field: field, Problem: fmt.Sprintf(format, a...)})
	}
	if t.Lookup != "" {
		rest, ok := cutPrefixFold(t.Lookup, "sip:")
		if !ok || DomainOf(t.Lookup) == "" || strings.ContainsAny(rest, " \t<>\"") {
			add("lookup", "%q is not a sip: URI (want sip:USER@DOMAIN, such as sip:ocschat@contoso.com)", t.Lookup)
		}
	}
	if len(t.Servers) > 0 && t.Lookup == "" {
		add("lookup", "missing: a server is given, but no lookup URI (sip:ocschat@DOMAIN)")
	}
	seen := map[string]bool{}
	for i, s := range t.Servers {
		if seen[s] {
			add(fmt.Sprintf("servers[%d]", i), "%s is given twice", s)
		}
		seen[s] = true
		tr, a := SplitServer(s)
		host, port, err := net.SplitHostPort(a)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			add(fmt.Sprintf("servers[%d]", i), "%q is not host:port or tls://host:port (such as chat.contoso.com:5061)", s)
		} else if tr != "" && tr != TCP && tr != TLS && tr != UDP {
			add(fmt.Sprintf("servers[%d]", i), "%q: transport %q, want tcp, tls or udp", s, tr)
		}
	}
	if (t.ClientCert == "") != (t.ClientKey == "") {
		add("client_cert", "a client certificate needs both the certificate and its key")
	}
	if t.InsecureSkipVerify && t.CA != "" {
		add("insecure_skip_verify", "contradicts ca: either verify the server against the CA file, or skip verification")
	}
	if t.Accounts != "" && t.Password != "" {
		add("accounts", "give the credentials once: an accounts file or a password pattern, not both")
	}
	if t.Login != "" && t.Password == "" {
		add("password", "missing: a login pattern needs a password pattern")
	}
	if t.Auth != "" && t.Auth != "ntlm" && t.Auth != "digest" {
		add("auth", "%q: want ntlm, digest or empty (any)", t.Auth)
	}
	if t.DNS != "" {
		if _, _, err := net.SplitHostPort(t.DNS); err != nil {
			add("dns", "%q is not host:port (such as 127.0.0.1:53)", t.DNS)
		}
	}
	if t.Domain != "" && !validDomain(t.Domain) {
		add("domain", "%q is not a domain name", t.Domain)
	}
	if t.Admin != "" {
		u, err := url.Parse(t.Admin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("admin", "%q is not an http(s) URL (such as http://127.0.0.1:8080)", t.Admin)
		}
	}
	return errs
}

// DomainOf returns the domain of a SIP URI such as
// "sip:ocschat@contoso.com;transport=tcp", or "".
func DomainOf(uri string) string {
	rest, ok := cutPrefixFold(uri, "sip:")
	if !ok {
		return ""
	}
	rest, _, _ = strings.Cut(rest, ";")
	user, host, ok := strings.Cut(rest, "@")
	if !ok || user == "" {
		return ""
	}
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !validDomain(host) {
		return ""
	}
	return host
}

func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}
