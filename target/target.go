// Package target describes the server under test, once, for every part of
// the harness: the lookup URI users look the channel service up at, the
// SIP addresses to connect to, the users' domain and a reference server's
// admin API with its token. A scenario's target section (scenarios.Target)
// and the conformance suite's target (check.Target) both come down to it,
// and the embedded reference server (refserver/embedded) describes itself
// with it. It imports only the standard library.
//
// Where TLS (a CA file, a client certificate) and credentials (a password,
// an accounts file) are added, they are fields of Target, checked in
// Validate and merged in With like the others.
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
}

// FieldError is one problem with a field of a Target; Field is the
// field's name in lower case (lookup, domain, servers[0], admin), for
// callers to say where it came from (a flag, a key of a file).
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Embedded reports whether t names no server to connect to: the caller
// then runs the embedded reference server (refserver/embedded).
func (t Target) Embedded() bool { return len(t.Servers) == 0 }

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
		if len(t.Servers) == 0 {
			add("servers", "missing: a lookup URI needs the server (host:port) to connect to")
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
		host, port, err := net.SplitHostPort(s)
		if p, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || p < 1 || p > 65535 {
			add(fmt.Sprintf("servers[%d]", i), "%q is not host:port (such as chat.contoso.com:5061)", s)
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
