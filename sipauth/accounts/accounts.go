// Package accounts holds user accounts for SIP sign-in, on both sides.
//
// A client (the harness) needs each user's password: Credential, read from
// a CSV file of uri,user,password lines (Load) or made from patterns such
// as user{i} / pass{i}, the way Microsoft's Persistent Chat Stress Tool
// names its users (Pattern). A Credential never prints its password.
//
// A server needs no password: Store keeps, per account, only what each
// scheme verifies against (the NT hash for NTLM, HA1 per digest algorithm
// for digest) and finds the account by any name a client signs in with:
// the login as written, DOMAIN\user, the sign-in address user@domain (the
// UPN SIPE sends when no separate login is set) or the bare user name,
// without regard to case.
package accounts

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
)

// Credential is one user's sign-in identity as a client uses it.
type Credential struct {
	// URI is the user's SIP address, sip:alice@example.com.
	URI string
	// User is the login: "alice", `EXAMPLE\alice` or "alice@example.com".
	// Empty means the address of URI (user@host), as SIPE signs in when
	// no separate login is set.
	User string
	// Password in clear: a client must know it. Never printed.
	Password string
}

// Login returns the login a client sends: User, or the address of URI.
func (c Credential) Login() string {
	if c.User != "" {
		return c.User
	}
	u, h, _ := splitURI(c.URI)
	return u + "@" + h
}

// String describes the credential without its password.
func (c Credential) String() string {
	pw := "no password"
	if c.Password != "" {
		pw = "password set"
	}
	return fmt.Sprintf("%s (login %s, %s)", c.URI, c.Login(), pw)
}

// GoString is String, so that %#v does not print the password either.
func (c Credential) GoString() string { return "accounts.Credential{" + c.String() + "}" }

// LogValue keeps the password out of structured logs.
func (c Credential) LogValue() slog.Value {
	return slog.GroupValue(slog.String("uri", c.URI), slog.String("login", c.Login()))
}

// splitURI returns the user and host of a sip: or sips: URI (no
// parameters, headers or port), or ok false.
func splitURI(uri string) (user, host string, ok bool) {
	scheme, rest, found := strings.Cut(uri, ":")
	if !found || !(strings.EqualFold(scheme, "sip") || strings.EqualFold(scheme, "sips")) {
		return "", "", false
	}
	if i := strings.IndexAny(rest, ";?"); i >= 0 {
		rest = rest[:i]
	}
	user, host, found = strings.Cut(rest, "@")
	if !found || user == "" || host == "" || strings.ContainsAny(user+host, " \t<>\"") {
		return "", "", false
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		host = host[:i]
	}
	return user, host, true
}

// maxErrors bounds the problems one Load reports.
const maxErrors = 20

// Load reads credentials from CSV: one account per line as
// uri,user,password, an optional header line naming exactly those
// columns, '#' comments, fields quoted as CSV allows (a password with a
// comma). It reports every problem (up to 20) as name:line: field: what,
// and never a password. URIs must be unique, without regard to case.
func Load(r io.Reader, name string) ([]Credential, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	var out []Credential
	var errs []error
	add := func(line int, field, format string, a ...any) {
		if len(errs) < maxErrors {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", name, line, field, fmt.Sprintf(format, a...)))
		}
	}
	seen := map[string]int{}
	first := true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				add(pe.Line, "csv", "%v", pe.Err)
				break // the reader cannot go on after a syntax error
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if first {
			first = false
			if len(rec) == 3 && strings.EqualFold(strings.TrimSpace(rec[0]), "uri") &&
				strings.EqualFold(strings.TrimSpace(rec[1]), "user") && strings.EqualFold(strings.TrimSpace(rec[2]), "password") {
				continue
			}
		}
		if len(rec) != 3 {
			add(line, "line", "%d fields, want 3 (uri,user,password)", len(rec))
			continue
		}
		c := Credential{URI: strings.TrimSpace(rec[0]), User: strings.TrimSpace(rec[1]), Password: rec[2]}
		ok := true
		if _, _, valid := splitURI(c.URI); !valid {
			add(line, "uri", "%q is not a sip: URI with a user and a host", c.URI)
			ok = false
		}
		if err := checkLogin(c.User); err != nil {
			add(line, "user", "%v", err)
			ok = false
		}
		if c.Password == "" {
			add(line, "password", "empty")
			ok = false
		}
		if ok {
			key := strings.ToLower(c.URI)
			if prev, dup := seen[key]; dup {
				add(line, "uri", "%s already on line %d", c.URI, prev)
				continue
			}
			seen[key] = line
			out = append(out, c)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// Validate checks what Store.Add checks, without hashing: a sip: URI
// with a user and a host, a login without quotes or control characters
// (DOMAIN\user well formed), a password. The error never shows the
// password.
func (c Credential) Validate() error {
	if _, _, ok := splitURI(c.URI); !ok {
		return fmt.Errorf("%q is not a sip: URI with a user and a host", c.URI)
	}
	if err := checkLogin(c.User); err != nil {
		return fmt.Errorf("%s: user: %w", c.URI, err)
	}
	if c.Password == "" {
		return fmt.Errorf("%s: empty password", c.URI)
	}
	return nil
}

func checkLogin(u string) error {
	if strings.ContainsAny(u, "\"\r\n\t") {
		return fmt.Errorf("%q holds a quote or a control character", u)
	}
	if d, name, ok := strings.Cut(u, `\`); ok && (d == "" || name == "" || strings.Contains(name, `\`)) {
		return fmt.Errorf("%q is not DOMAIN\\user", u)
	}
	return nil
}

// LoadFile reads credentials from a CSV file (see Load).
func LoadFile(path string) ([]Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Load(f, path)
}

// Pattern makes the credential of user i from templates in which {i} (or
// {0}, as the Microsoft tool writes it) stands for the index:
// URI "sip:user{i}@example.com", User "" or "user{i}", Password "pass{i}".
type Pattern struct {
	URI, User, Password string
}

// Validate reports every problem of the pattern.
func (p Pattern) Validate() error {
	var errs []error
	if !hasIndex(p.URI) {
		errs = append(errs, fmt.Errorf("accounts: uri pattern %q has no {i}: every user would be the same", p.URI))
	} else if _, _, ok := splitURI(p.Credential(0).URI); !ok {
		errs = append(errs, fmt.Errorf("accounts: uri pattern %q does not make a sip: URI with a user and a host", p.URI))
	}
	if p.User != "" && !hasIndex(p.User) {
		errs = append(errs, fmt.Errorf("accounts: user pattern %q has no {i}: every user would sign in alike", p.User))
	}
	if err := checkLogin(p.Credential(0).User); err != nil {
		errs = append(errs, fmt.Errorf("accounts: user pattern: %w", err))
	}
	if p.Password == "" {
		errs = append(errs, errors.New("accounts: password pattern is empty"))
	}
	return errors.Join(errs...)
}

func hasIndex(s string) bool { return strings.Contains(s, "{i}") || strings.Contains(s, "{0}") }

// Credential returns the credential of user i.
func (p Pattern) Credential(i int) Credential {
	n := strconv.Itoa(i)
	r := strings.NewReplacer("{i}", n, "{0}", n)
	return Credential{URI: r.Replace(p.URI), User: r.Replace(p.User), Password: r.Replace(p.Password)}
}

// String describes the pattern without its password template.
func (p Pattern) String() string {
	return fmt.Sprintf("uri %s, user %s, password pattern set", p.URI, p.User)
}
