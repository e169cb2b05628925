package accounts

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/sipauth/digest"
	"github.com/gcload/gcload/sipauth/ntlm"
)

const goodCSV = `# gcload accounts
uri,user,password
sip:alice@example.com,alice,wonderland
sip:bob@example.com,EXAMPLE\bob,"comma, and ""quote"""
sip:carol@example.com,,c4rol

sip:dave@example.com,dave@corp.example.com,d4ve
`

func TestLoad(t *testing.T) {
	cs, err := Load(strings.NewReader(goodCSV), "accounts.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []Credential{
		{URI: "sip:alice@example.com", User: "alice", Password: "wonderland"},
		{URI: "sip:bob@example.com", User: `EXAMPLE\bob`, Password: `comma, and "quote"`},
		{URI: "sip:carol@example.com", Password: "c4rol"},
		{URI: "sip:dave@example.com", User: "dave@corp.example.com", Password: "d4ve"},
	}
	if !reflect.DeepEqual(cs, want) {
		t.Fatalf("got %#v", cs)
	}
	if cs[2].Login() != "carol@example.com" || cs[1].Login() != `EXAMPLE\bob` {
		t.Errorf("logins %q %q", cs[2].Login(), cs[1].Login())
	}
}

func TestLoadReportsEveryProblemWithoutPasswords(t *testing.T) {
	in := `uri,user,password
alice@example.com,alice,Secret-One
sip:bob@example.com,bob,
sip:carol@example.com,carol
sip:ALICE@example.com,x,Secret-Two
sip:alice@example.com,y,Secret-Three
sip:eve@example.com,"ev""e",Secret-Four
sip:frank@example.com,\frank,Secret-Five
`
	_, err := Load(strings.NewReader(in), "users.csv")
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`users.csv:2: uri: "alice@example.com" is not a sip: URI`,
		"users.csv:3: password: empty",
		"users.csv:4: line: 2 fields, want 3",
		"users.csv:6: uri: sip:alice@example.com already on line 5",
		`users.csv:7: user: "ev\"e" holds a quote`,
		`users.csv:8: user: "\\frank" is not DOMAIN\user`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "Secret") {
		t.Errorf("error shows a password:\n%s", msg)
	}
	_, err = Load(strings.NewReader("sip:a@b,a,x\nsip:c@d,\"c,y\n"), "bad.csv")
	if err == nil || !strings.Contains(err.Error(), "bad.csv:2: csv:") {
		t.Errorf("CSV syntax error: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.csv")
	if err := os.WriteFile(p, []byte(goodCSV), 0o600); err != nil {
		t.Fatal(err)
	}
	cs, err := LoadFile(p)
	if err != nil || len(cs) != 4 {
		t.Fatalf("%d credentials, %v", len(cs), err)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.csv")); err == nil || !strings.Contains(err.Error(), "missing.csv") {
		t.Errorf("missing file: %v", err)
	}
}

func TestCredentialNeverPrintsPassword(t *testing.T) {
	c := Credential{URI: "sip:alice@example.com", User: "alice", Password: "Hunter2-secret"}
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out = append(out, fmt.Sprintf(verb, c), fmt.Sprintf(verb, []Credential{c}), fmt.Sprintf(verb, &c))
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("signing in", "cred", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("signing in", "cred", c)
	out = append(out, buf.String(), Pattern{URI: "sip:u{i}@x", Password: "Hunter2-{i}"}.String())
	for _, s := range out {
		if strings.Contains(s, "Hunter2") {
			t.Errorf("password printed: %s", s)
		}
	}
	if !strings.Contains(fmt.Sprint(c), "sip:alice@example.com (login alice, password set)") {
		t.Errorf("String: %s", c)
	}
}

func TestPattern(t *testing.T) {
	p := Pattern{URI: "sip:user{i}@example.com", User: `EXAMPLE\user{0}`, Password: "pass{i}"}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := p.Credential(42); got != (Credential{URI: "sip:user42@example.com", User: `EXAMPLE\user42`, Password: "pass42"}) {
		t.Errorf("got %#v", got)
	}
	err := Pattern{URI: "sip:user@example.com", User: "user", Password: ""}.Validate()
	for _, want := range []string{"uri pattern", "user pattern", "password pattern is empty"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate does not say %q: %v", want, err)
		}
	}
	if err := (Pattern{URI: "user{i}@example.com", Password: "x"}).Validate(); err == nil {
		t.Error("a URI pattern without sip: accepted")
	}
}

func newStore(t *testing.T) *Store {
	t.Helper()
	cs, err := Load(strings.NewReader(goodCSV), "accounts.csv")
	if err != nil {
		t.Fatal(err)
	}
	s := NewStore("example.com")
	if err := s.AddAll(cs); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStoreLookup(t *testing.T) {
	s := newStore(t)
	if s.Len() != 4 {
		t.Fatalf("%d accounts", s.Len())
	}
	tests := []struct {
		user, domain, want string
	}{
		{"alice", "", "sip:alice@example.com"},
		{"ALICE", "ANYDOMAIN", "sip:alice@example.com"},
		{"Alice@Example.COM", "", "sip:alice@example.com"},
		{`example\bob`, "", "sip:bob@example.com"},
		{"bob", "example", "sip:bob@example.com"},
		{"bob", "", "sip:bob@example.com"},
		{"bob@example.com", "", "sip:bob@example.com"},
		{"carol@example.com", "", "sip:carol@example.com"},
		{"dave@corp.example.com", "", "sip:dave@example.com"},
		{"dave", "", "sip:dave@example.com"},
		{"bob", "OTHER", ""},
		{`OTHER\bob`, "", ""},
		{"mallory", "", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		a, ok := s.Lookup(tt.user, tt.domain)
		got := ""
		if ok {
			got = a.URI
		}
		if got != tt.want {
			t.Errorf("Lookup(%q, %q) = %q, want %q", tt.user, tt.domain, got, tt.want)
		}
	}
	// The same bare name in two domains names neither.
	if err := s.Add(Credential{URI: "sip:alice@other.example", Password: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Lookup("alice", ""); ok {
		t.Error("ambiguous bare name found an account")
	}
	if a, ok := s.Lookup("alice@other.example", ""); !ok || a.URI != "sip:alice@other.example" {
		t.Error("the full address must still find it")
	}
	if a, ok := s.ByURI("SIP:ALICE@EXAMPLE.COM"); !ok || a.Login != "alice" {
		t.Errorf("ByURI: %v", a)
	}
}

func TestStoreKeepsNoPassword(t *testing.T) {
	s := newStore(t)
	cs, _ := Load(strings.NewReader(goodCSV), "accounts.csv")
	for _, c := range cs {
		a, _ := s.ByURI(c.URI)
		if found := findString(reflect.ValueOf(a).Elem(), c.Password); found != "" {
			t.Errorf("%s keeps its password in %s", c.URI, found)
		}
	}
}

// findString walks a value's fields (unexported too) for a string.
func findString(v reflect.Value, s string) string {
	switch v.Kind() {
	case reflect.String:
		if strings.Contains(v.String(), s) {
			return "a string"
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if f := findString(v.Field(i), s); f != "" {
				return v.Type().Field(i).Name + "." + f
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if f := findString(v.Index(i), s); f != "" {
				return f
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			return findString(v.Elem(), s)
		}
	}
	return ""
}

// The store signs users in over real NTLM, by every name form.
func TestStoreWithNTLM(t *testing.T) {
	s := newStore(t)
	for _, tt := range []struct{ user, domain, password string }{
		{"alice", "", "wonderland"},
		{"ALICE@EXAMPLE.COM", "", "wonderland"},
		{"bob", "EXAMPLE", `comma, and "quote"`},
		{"carol@example.com", "", "c4rol"},
	} {
		ch, err := ntlm.NewChallenge(ntlm.ServerConfig{NetBIOSComputer: "GC"}, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		msg, _, err := ntlm.Respond(ntlm.ClientConfig{User: tt.user, Domain: tt.domain, Password: tt.password}, ch.Marshal(), rand.Reader, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sess, err := ntlm.Accept(ntlm.ServerConfig{}, ch, msg, s.NTLM, time.Now())
		if err != nil {
			t.Errorf("%s %s: %v", tt.user, tt.domain, err)
			continue
		}
		if sess.User != tt.user {
			t.Errorf("session user %q", sess.User)
		}
		// A wrong password fails.
		msg, _, _ = ntlm.Respond(ntlm.ClientConfig{User: tt.user, Domain: tt.domain, Password: tt.password + "x"}, ch.Marshal(), rand.Reader, time.Now())
		if _, err := ntlm.Accept(ntlm.ServerConfig{}, ch, msg, s.NTLM, time.Now()); err == nil {
			t.Errorf("%s: wrong password accepted", tt.user)
		}
	}
}

// And over real digest, for the spellings it keeps HA1 for.
func TestStoreWithDigest(t *testing.T) {
	s := newStore(t)
	srv, err := digest.NewServer(digest.ServerConfig{Realm: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	nc := uint32(0)
	try := func(alg digest.Algorithm, user, password string) error {
		nc++
		for _, f := range srv.Challenges(false) {
			ch, _ := digest.ParseChallenge(f)
			if ch.Algorithm != alg {
				continue
			}
			c, err := digest.Respond(ch, "REGISTER", "sip:example.com", user, password, nc, "cn")
			if err != nil {
				return err
			}
			return srv.Verify("REGISTER", "sip:example.com", c, s.HA1)
		}
		return fmt.Errorf("no %s challenge", alg)
	}
	for _, alg := range []digest.Algorithm{digest.MD5, digest.SHA256} {
		for _, tt := range []struct {
			user, password string
			ok             bool
		}{
			{"alice", "wonderland", true},
			{"alice@example.com", "wonderland", true},
			{`EXAMPLE\bob`, `comma, and "quote"`, true},
			{"bob", `comma, and "quote"`, true},
			{"carol@example.com", "c4rol", true},
			{"alice", "wrong", false},
			{"ALICE", "wonderland", false}, // digest hashes the name as typed
		} {
			err := try(alg, tt.user, tt.password)
			if (err == nil) != tt.ok {
				t.Errorf("%s %q: %v", alg, tt.user, err)
			}
		}
	}
	if _, ok := s.HA1("alice", "other.realm", digest.MD5); ok {
		t.Error("HA1 for another realm")
	}
}

func TestStoreReplaceAndRefuse(t *testing.T) {
	s := NewStore("example.com")
	if err := s.Add(Credential{URI: "sip:alice@example.com", Password: "one"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(Credential{URI: "sip:Alice@example.com", User: "al", Password: "two"}); err != nil {
		t.Fatal(err)
	}
	if s.Len() != 1 {
		t.Fatalf("%d accounts after replacing", s.Len())
	}
	h, ok := s.NTLM("al", "")
	if !ok || h != ntlm.NTHash("two") {
		t.Error("the new account is not found by its new login")
	}
	for _, c := range []Credential{{URI: "alice", Password: "x"}, {URI: "sip:a@b", Password: ""}, {URI: "sip:a@b", User: `\a`, Password: "x"}} {
		if err := s.Add(c); err == nil {
			t.Errorf("Add(%v) accepted", c)
		}
	}
}
