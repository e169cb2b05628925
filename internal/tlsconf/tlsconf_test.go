package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// handshake runs one TLS handshake over loopback between the two
// configurations, the client dialling addrHost (an IP or "localhost").
func handshake(t *testing.T, srv, cli *tls.Config, addrHost string) (tls.ConnectionState, error, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		state tls.ConnectionState
		err   error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := tls.Server(c, srv)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = tc.HandshakeContext(ctx)
		if err == nil {
			_, err = tc.Write([]byte("ok")) // lets a client see a late refusal of its certificate
		}
		done <- result{state: tc.ConnectionState(), err: err}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: cli}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, cerr := d.DialContext(ctx, "tcp", net.JoinHostPort(addrHost, port))
	if cerr == nil {
		buf := make([]byte, 2)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, cerr = c.Read(buf)
		c.Close()
	}
	r := <-done
	return r.state, cerr, r.err
}

func bundle(t *testing.T) Bundle {
	t.Helper()
	b, err := WriteBundle(filepath.Join(t.TempDir(), "certs"), []string{"localhost", "gc.example.com", "127.0.0.1", "::1"}, "fe1.example.com", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriteBundleFiles(t *testing.T) {
	b := bundle(t)
	for path, want := range map[string]os.FileMode{b.CA: 0o644, b.CAKey: 0o600, b.Cert: 0o644, b.Key: 0o600, b.ClientCert: 0o644, b.ClientKey: 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), st.Mode().Perm(), want)
		}
	}
	pair, err := tls.LoadX509KeyPair(b.Cert, b.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if strings.Join(leaf.DNSNames, ",") != "localhost,gc.example.com" || len(leaf.IPAddresses) != 2 {
		t.Errorf("SANs: %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	if entries, _ := os.ReadDir(filepath.Dir(b.CA)); len(entries) != 6 {
		t.Errorf("%d files in the bundle directory (temporary files left?)", len(entries))
	}
}

func TestMutualTLS(t *testing.T) {
	b := bundle(t)
	srv, err := ServerConfig(ServerOptions{CertFile: b.Cert, KeyFile: b.Key, ClientCAFile: b.CA, RequireClientCert: true})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ClientConfig(ClientOptions{CAFile: b.CA, ServerName: "gc.example.com", CertFile: b.ClientCert, KeyFile: b.ClientKey})
	if err != nil {
		t.Fatal(err)
	}
	state, cerr, serr := handshake(t, srv, cli, "127.0.0.1")
	if cerr != nil || serr != nil {
		t.Fatalf("client %v, server %v", cerr, serr)
	}
	if id, ok := PeerIdentity(state); !ok || id != "fe1.example.com" {
		t.Errorf("peer identity %q %v", id, ok)
	}

	// Without its certificate the client is refused.
	noCert, _ := ClientConfig(ClientOptions{CAFile: b.CA, ServerName: "gc.example.com"})
	if _, cerr, serr := handshake(t, srv, noCert, "127.0.0.1"); cerr == nil || serr == nil {
		t.Errorf("no client certificate: client %v, server %v", cerr, serr)
	}
	// With a certificate from another CA it is refused too.
	other := bundle(t)
	foreign, _ := ClientConfig(ClientOptions{CAFile: b.CA, ServerName: "gc.example.com", CertFile: other.ClientCert, KeyFile: other.ClientKey})
	if _, _, serr := handshake(t, srv, foreign, "127.0.0.1"); serr == nil {
		t.Error("a client certificate of another CA was accepted")
	}
	// Optional client certificates: none is fine, and gives no identity.
	opt, _ := ServerConfig(ServerOptions{CertFile: b.Cert, KeyFile: b.Key, ClientCAFile: b.CA})
	state, cerr, serr = handshake(t, opt, noCert, "127.0.0.1")
	if cerr != nil || serr != nil {
		t.Fatalf("optional: client %v, server %v", cerr, serr)
	}
	if _, ok := PeerIdentity(state); ok {
		t.Error("identity without a certificate")
	}
}

func TestClientVerification(t *testing.T) {
	b := bundle(t)
	srv, err := ServerConfig(ServerOptions{CertFile: b.Cert, KeyFile: b.Key})
	if err != nil {
		t.Fatal(err)
	}
	ok := func(o ClientOptions, host string) error {
		c, err := ClientConfig(o)
		if err != nil {
			t.Fatal(err)
		}
		_, cerr, _ := handshake(t, srv, c, host)
		return cerr
	}
	if err := ok(ClientOptions{CAFile: b.CA}, "127.0.0.1"); err != nil {
		t.Errorf("IP SAN: %v", err)
	}
	if err := ok(ClientOptions{CAFile: b.CA}, "localhost"); err != nil {
		t.Errorf("DNS SAN: %v", err)
	}
	var hostErr x509.HostnameError
	if err := ok(ClientOptions{CAFile: b.CA, ServerName: "evil.example.com"}, "127.0.0.1"); !errors.As(err, &hostErr) {
		t.Errorf("wrong SNI name: %v", err)
	}
	var unknown x509.UnknownAuthorityError
	if err := ok(ClientOptions{CAFile: bundle(t).CA, ServerName: "gc.example.com"}, "127.0.0.1"); !errors.As(err, &unknown) {
		t.Errorf("another CA: %v", err)
	}
	if err := ok(ClientOptions{ServerName: "gc.example.com"}, "127.0.0.1"); !errors.As(err, &unknown) {
		t.Errorf("system roots trusted the test CA: %v", err)
	}
	if err := ok(ClientOptions{InsecureSkipVerify: true}, "127.0.0.1"); err != nil {
		t.Errorf("insecure: %v", err)
	}
}

func TestExpiredCertificate(t *testing.T) {
	dir := t.TempDir()
	past := time.Now().Add(-48 * time.Hour)
	b, err := WriteBundle(dir, []string{"127.0.0.1"}, "", past, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ServerConfig(ServerOptions{CertFile: b.Cert, KeyFile: b.Key})
	cli, _ := ClientConfig(ClientOptions{CAFile: b.CA})
	var invalid x509.CertificateInvalidError
	if _, cerr, _ := handshake(t, srv, cli, "127.0.0.1"); !errors.As(cerr, &invalid) || invalid.Reason != x509.Expired {
		t.Errorf("expired certificate: %v", cerr)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o644)
	b := bundle(t)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"CA file without certificates", func() error { _, err := LoadPool(notPEM); return err }(), "holds no PEM certificate"},
		{"missing CA file", func() error {
			_, err := ClientConfig(ClientOptions{CAFile: filepath.Join(dir, "nope.pem")})
			return err
		}(), "nope.pem"},
		{"key without certificate", func() error { _, err := ClientConfig(ClientOptions{KeyFile: b.ClientKey}); return err }(), "both a certificate and a key"},
		{"server without certificate", func() error { _, err := ServerConfig(ServerOptions{}); return err }(), "needs a certificate and a key"},
		{"required client certs without CA", func() error {
			_, err := ServerConfig(ServerOptions{CertFile: b.Cert, KeyFile: b.Key, RequireClientCert: true})
			return err
		}(), "client CA file"},
		{"mismatched key", func() error {
			_, err := ServerConfig(ServerOptions{CertFile: b.Cert, KeyFile: b.ClientKey})
			return err
		}(), "server certificate"},
		{"leaf without names", func() error {
			ca, _ := NewCA("x", time.Now(), 0)
			_, err := ca.Issue(Leaf{Server: true}, time.Now())
			return err
		}(), "needs a host"},
		{"bundle without hosts", func() error { _, err := WriteBundle(dir, nil, "", time.Now(), 0); return err }(), "at least one host"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, tt.err, tt.want)
		}
	}
}

// TestPairTLS: an issued pair loads as a tls.Certificate for its hosts.
func TestPairTLS(t *testing.T) {
	ca, err := NewCA("test CA", time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Issue(Leaf{Hosts: []string{"fe1.example.com", "127.0.0.1"}, Server: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.TLS()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil || leaf.VerifyHostname("fe1.example.com") != nil || leaf.VerifyHostname("127.0.0.1") != nil {
		t.Fatalf("leaf %v: %v", leaf, err)
	}
	if _, err := (Pair{CertPEM: p.CertPEM}).TLS(); err == nil {
		t.Fatal("a pair without its key loaded")
	}
}
