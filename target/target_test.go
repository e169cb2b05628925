package target

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name   string
		t      Target
		fields []string // the fields named, in order
	}{
		{"zero: the embedded server", Target{}, nil},
		{"good", Target{Lookup: "sip:ocschat@contoso.com", Servers: []string{"10.0.0.5:5061"}, Admin: "http://10.0.0.5:8080", Domain: "contoso.com"}, nil},
		{"lookup not sip", Target{Lookup: "http://x", Servers: []string{"h:1"}}, []string{"lookup"}},
		{"lookup without server: located in DNS", Target{Lookup: "sip:ocschat@contoso.com"}, nil},
		{"tls server", Target{Lookup: "sip:a@b.c", Servers: []string{"tls://h:5061"}, CA: "ca.pem"}, nil},
		{"bad transport", Target{Lookup: "sip:a@b.c", Servers: []string{"sctp://h:5061"}}, []string{"servers[0]"}},
		{"half a client certificate", Target{ClientCert: "c.pem"}, []string{"client_cert"}},
		{"verify and not", Target{CA: "ca.pem", InsecureSkipVerify: true}, []string{"insecure_skip_verify"}},
		{"two sources of credentials", Target{Accounts: "a.csv", Password: "p{i}"}, []string{"accounts"}},
		{"login without password", Target{Login: "u{i}"}, []string{"password"}},
		{"auth", Target{Auth: "kerberos"}, []string{"auth"}},
		{"dns", Target{DNS: "nowhere"}, []string{"dns"}},
		{"server without lookup", Target{Servers: []string{"h:1"}}, []string{"lookup"}},
		{"bad server", Target{Lookup: "sip:a@b.c", Servers: []string{"nocolon"}}, []string{"servers[0]"}},
		{"port out of range", Target{Lookup: "sip:a@b.c", Servers: []string{"h:70000"}}, []string{"servers[0]"}},
		{"two servers", Target{Lookup: "sip:a@b.c", Servers: []string{"h:1", "h:2"}}, nil},
		{"a server twice", Target{Lookup: "sip:a@b.c", Servers: []string{"h:1", "h:2", "h:1"}}, []string{"servers[2]"}},
		{"bad domain", Target{Domain: "a b"}, []string{"domain"}},
		{"bad admin", Target{Admin: "ftp://x"}, []string{"admin"}},
		{"everything bad", Target{Lookup: "x", Servers: []string{"y"}, Domain: "!", Admin: "z"}, []string{"lookup", "servers[0]", "domain", "admin"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var fields []string
			for _, err := range c.t.Validate() {
				var fe *FieldError
				if !errors.As(err, &fe) || !strings.HasPrefix(err.Error(), fe.Field+": ") {
					t.Fatalf("%v is not a FieldError naming its field", err)
				}
				fields = append(fields, fe.Field)
			}
			if !reflect.DeepEqual(fields, c.fields) {
				t.Fatalf("fields %q, want %q", fields, c.fields)
			}
		})
	}
}

func TestWith(t *testing.T) {
	file := Target{Lookup: "sip:ocschat@a.com", Servers: []string{"a:1"}, Admin: "http://a"}
	got := file.With(Target{Servers: []string{"b:2"}, AdminToken: "tok"})
	want := Target{Lookup: "sip:ocschat@a.com", Servers: []string{"b:2"}, Admin: "http://a", AdminToken: "tok"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("With: %+v, want %+v", got, want)
	}
	if file.Server() != "a:1" || got.Server() != "b:2" || (Target{}).Server() != "" {
		t.Fatalf("Server: %q %q", file.Server(), got.Server())
	}
	if !(Target{}).Embedded() || got.Embedded() || (Target{Lookup: "sip:a@b.c"}).Embedded() {
		t.Fatal("Embedded")
	}
	if !(Target{Lookup: "sip:a@b.c"}).Locate() || got.Locate() {
		t.Fatal("Locate")
	}
	tls := Target{Servers: []string{"TLS://h:5061"}}
	if tls.Transport() != TLS || tls.Address() != "h:5061" || got.Transport() != "" || got.Address() != "b:2" {
		t.Fatalf("Transport %q Address %q", tls.Transport(), tls.Address())
	}
	// one source of credentials replaces the other
	withFile := Target{Login: "u{i}", Password: "p{i}"}.With(Target{Accounts: "a.csv"})
	if withFile.Accounts != "a.csv" || withFile.Password != "" || withFile.Login != "" {
		t.Fatalf("accounts over patterns: %+v", withFile)
	}
	withPattern := Target{Accounts: "a.csv"}.With(Target{Password: "p{i}"})
	if withPattern.Accounts != "" || withPattern.Password != "p{i}" || !withPattern.HasCredentials() {
		t.Fatalf("patterns over accounts: %+v", withPattern)
	}
}

func TestDomain(t *testing.T) {
	for uri, want := range map[string]string{
		"sip:ocschat@contoso.com":                "contoso.com",
		"SIP:ocschat@contoso.com:5061;transport": "contoso.com",
		"sip:contoso.com":                        "",
		"http://contoso.com":                     "",
		"sip:a@bad domain":                       "",
	} {
		if got := DomainOf(uri); got != want {
			t.Errorf("DomainOf(%q) = %q, want %q", uri, got, want)
		}
	}
	if d := (Target{Lookup: "sip:x@a.com", Domain: "b.com"}).UsersDomain(); d != "b.com" {
		t.Errorf("UsersDomain with a domain: %q", d)
	}
	if d := (Target{Lookup: "sip:x@a.com"}).UsersDomain(); d != "a.com" {
		t.Errorf("UsersDomain from the lookup: %q", d)
	}
}
