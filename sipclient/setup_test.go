package sipclient_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/target"
)

// TestCredentials: patterns take the number that ends a user's address;
// an accounts file is looked up by address without regard to case; what
// the configuration cannot give is an error naming the user.
func TestCredentials(t *testing.T) {
	c, err := sipclient.NewCredentials(target.Target{Login: `EXAMPLE\user{i}`, Password: "pass{0}!"})
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.Credential("sip:user017@example.com")
	if err != nil || !ok || got.User != `EXAMPLE\user017` || got.Password != "pass017!" || got.URI != "sip:user017@example.com" {
		t.Fatalf("pattern: %v %v %v", got, ok, err)
	}
	if _, _, err := c.Credential("sip:alice@example.com"); err == nil || !strings.Contains(err.Error(), "does not end in a number") {
		t.Fatalf("an address without a number: %v", err)
	}
	fixed, _ := sipclient.NewCredentials(target.Target{Password: "same"})
	if got, _, err := fixed.Credential("sip:alice@example.com"); err != nil || got.Password != "same" || got.User != "" {
		t.Fatalf("a fixed password: %v %v", got, err)
	}
	file := filepath.Join(t.TempDir(), "a.csv")
	if err := os.WriteFile(file, []byte("uri,user,password\nsip:Alice@Example.com,,wonderland\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := sipclient.NewCredentials(target.Target{Accounts: file})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok, err := f.Credential("sip:alice@example.com"); !ok || err != nil || got.Password != "wonderland" {
		t.Fatalf("accounts file: %v %v %v", got, ok, err)
	}
	if _, _, err := f.Credential("sip:bob@example.com"); err == nil || !strings.Contains(err.Error(), "no account for sip:bob@example.com") {
		t.Fatalf("a user the file lacks: %v", err)
	}
	none, _ := sipclient.NewCredentials(target.Target{})
	if _, ok, err := none.Credential("sip:x1@example.com"); ok || err != nil || none.HasCredentials() {
		t.Fatal("no credentials")
	}
	if _, err := sipclient.NewSetup(target.Target{Servers: []string{"h:1"}, CA: "ca.pem"}, "tcp"); err == nil || !strings.Contains(err.Error(), "give it as tls://h:1") {
		t.Fatalf("TLS settings for a TCP server: %v", err)
	}
}
