package accounts

import (
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/gcload/gcload/sipauth/digest"
	"github.com/gcload/gcload/sipauth/ntlm"
)

// Account is what a server keeps of a user: names and hashes, never the
// password.
type Account struct {
	// URI is the user's SIP address as configured.
	URI string
	// Login is the configured login (empty: the address of URI).
	Login string

	domain string // of a DOMAIN\user login, upper case
	ntHash [16]byte
	ha1    []ha1Entry // per name spelling
}

// ha1Entry holds H(name:realm:password) for one spelling of the user name
// (digest hashes the name as the client types it).
type ha1Entry struct {
	name   string
	md5    [16]byte
	sha256 [32]byte
}

// Store is a server's account table. It is safe for concurrent use.
type Store struct {
	realm string

	mu     sync.RWMutex
	byURI  map[string]*Account
	byName map[string]*Account // lower-case name → account; nil: more than one
}

// NewStore makes an empty store whose digest hashes are for realm.
func NewStore(digestRealm string) *Store {
	return &Store{realm: digestRealm, byURI: map[string]*Account{}, byName: map[string]*Account{}}
}

// Len returns the number of accounts.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byURI)
}

// AddAll adds every credential, stopping at the first that fails.
func (s *Store) AddAll(cs []Credential) error {
	for _, c := range cs {
		if err := s.Add(c); err != nil {
			return err
		}
	}
	return nil
}

// Add hashes a credential into an account (or replaces the account of
// the same URI) and forgets the password.
func (s *Store) Add(c Credential) error {
	user, host, ok := splitURI(c.URI)
	if !ok {
		return fmt.Errorf("accounts: %q is not a sip: URI with a user and a host", c.URI)
	}
	if err := checkLogin(c.User); err != nil {
		return fmt.Errorf("accounts: %s: user: %w", c.URI, err)
	}
	if c.Password == "" {
		return fmt.Errorf("accounts: %s: empty password", c.URI)
	}
	a := &Account{URI: c.URI, Login: c.User, ntHash: ntlm.NTHash(c.Password)}
	names := []string{user + "@" + host, user} // the sign-in address, the bare user
	if d, u, ok := strings.Cut(c.User, `\`); ok {
		a.domain = strings.ToUpper(d)
		names = append(names, u, c.User) // the second only for digest, which hashes the name as typed
	} else if c.User != "" {
		names = append(names, c.User)
	}
	for _, n := range names {
		if a.ha1For(n) == nil {
			e := ha1Entry{name: n}
			md := digest.HA1(digest.MD5, n, s.realm, c.Password)
			sh := digest.HA1(digest.SHA256, n, s.realm, c.Password)
			hex.Decode(e.md5[:], []byte(md))
			hex.Decode(e.sha256[:], []byte(sh))
			a.ha1 = append(a.ha1, e)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(c.URI)
	if old := s.byURI[key]; old != nil {
		s.removeNamesLocked(old)
	}
	s.byURI[key] = a
	for _, e := range a.ha1 {
		if strings.Contains(e.name, `\`) {
			continue // Lookup splits DOMAIN\user
		}
		k := strings.ToLower(e.name)
		if prev, taken := s.byName[k]; taken && prev != a {
			s.byName[k] = nil // two accounts answer to this name: it names neither
			continue
		}
		s.byName[k] = a
	}
	return nil
}

// removeNamesLocked drops the names of an account being replaced. A name
// it shared (nil) stays ambiguous: the other holder is not known here.
func (s *Store) removeNamesLocked(a *Account) {
	for _, e := range a.ha1 {
		k := strings.ToLower(e.name)
		if s.byName[k] == a {
			delete(s.byName, k)
		}
	}
}

func (a *Account) ha1For(name string) *ha1Entry {
	for i := range a.ha1 {
		if a.ha1[i].name == name {
			return &a.ha1[i]
		}
	}
	return nil
}

// ByURI returns the account of a SIP address, without regard to case.
func (s *Store) ByURI(uri string) (*Account, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.byURI[strings.ToLower(uri)]
	return a, ok
}

// Lookup finds the account a client's user name and domain name: user
// may be "alice", "alice@example.com" or `EXAMPLE\alice` (then domain is
// taken from it); a domain, when the account's login has one, must match
// it. Names are compared without regard to case. A name two accounts
// answer to finds neither.
func (s *Store) Lookup(user, domain string) (*Account, bool) {
	if d, u, ok := strings.Cut(user, `\`); ok {
		user, domain = u, d
	}
	s.mu.RLock()
	a := s.byName[strings.ToLower(user)]
	s.mu.RUnlock()
	if a == nil {
		return nil, false
	}
	if domain != "" && a.domain != "" && !strings.EqualFold(domain, a.domain) {
		return nil, false
	}
	return a, true
}

// NTLM is an ntlm.Lookup: the NT hash of the account a user name finds.
func (s *Store) NTLM(user, domain string) ([16]byte, bool) {
	a, ok := s.Lookup(user, domain)
	if !ok {
		return [16]byte{}, false
	}
	return a.ntHash, true
}

// HA1 is a digest.HA1Lookup. Digest hashes the user name as the client
// spells it, so the account is found without regard to case but the HA1
// exists only for the spellings the account was added with: the login as
// written (DOMAIN\user too, and then its user part), the address of its
// URI (user@host) and the user part of its URI.
func (s *Store) HA1(username, realm string, alg digest.Algorithm) (string, bool) {
	if realm != s.realm {
		return "", false
	}
	a, ok := s.Lookup(username, "")
	if !ok {
		return "", false
	}
	e := a.ha1For(username)
	if e == nil {
		return "", false
	}
	switch alg {
	case digest.MD5, digest.MD5Sess:
		return hex.EncodeToString(e.md5[:]), true
	case digest.SHA256, digest.SHA256Sess:
		return hex.EncodeToString(e.sha256[:]), true
	}
	return "", false
}

// String describes the account (it holds no password to hide).
func (a *Account) String() string {
	if a.Login == "" {
		return a.URI
	}
	return a.URI + " (login " + a.Login + ")"
}

// List returns the accounts' URIs and logins (no hashes), sorted by URI.
func (s *Store) List() []Account {
	s.mu.RLock()
	out := make([]Account, 0, len(s.byURI))
	for _, a := range s.byURI {
		out = append(out, Account{URI: a.URI, Login: a.Login})
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].URI < out[j].URI })
	return out
}
