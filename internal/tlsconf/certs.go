// Package tlsconf makes and loads what SIP over TLS needs in gcload: a
// self-signed CA with server and client certificates for tests and demos
// (written as PEM files, private keys readable by their owner only), and
// the crypto/tls configurations of both ends: a client that verifies
// against the system roots or a CA file, with SNI, or explicitly does
// not verify; a server that may ask for, or require, client certificates
// (mutual TLS, the way a persistent chat pool trusts its front ends).
package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// DefaultValidity is how long made certificates are valid.
const DefaultValidity = 365 * 24 * time.Hour

// CA is a certificate authority for tests and demos.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     *ecdsa.PrivateKey
}

// NewCA makes a self-signed CA valid from now (less an hour, for clocks
// that lag) for validFor (0: DefaultValidity). Keys are ECDSA P-256 from
// crypto/rand.
func NewCA(name string, now time.Time, validFor time.Duration) (*CA, error) {
	if validFor == 0 {
		validFor = DefaultValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"gcload test CA"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validFor),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key}, nil
}

// KeyPEM returns the CA's private key in PKCS #8 PEM.
func (ca *CA) KeyPEM() ([]byte, error) { return keyPEM(ca.key) }

// Leaf describes a certificate to issue.
type Leaf struct {
	// CommonName; empty means the first host.
	CommonName string
	// Hosts are DNS names or IP addresses, put in the subject alternative
	// names (what TLS clients check).
	Hosts []string
	// Server and Client choose the extended key usages (both may be set).
	Server, Client bool
	// ValidFor; 0 means DefaultValidity.
	ValidFor time.Duration
}

// Pair is an issued certificate and its private key, in PEM.
type Pair struct {
	CertPEM, KeyPEM []byte
}

// TLS returns the pair as a tls.Certificate.
func (p Pair) TLS() (tls.Certificate, error) { return tls.X509KeyPair(p.CertPEM, p.KeyPEM) }

// Issue makes a certificate signed by the CA, valid from now (less an
// hour).
func (ca *CA) Issue(l Leaf, now time.Time) (Pair, error) {
	if len(l.Hosts) == 0 && l.CommonName == "" {
		return Pair{}, errors.New("tlsconf: a certificate needs a host or a common name")
	}
	if !l.Server && !l.Client {
		return Pair{}, errors.New("tlsconf: a certificate must be for a server, a client or both")
	}
	if l.ValidFor == 0 {
		l.ValidFor = DefaultValidity
	}
	if l.CommonName == "" {
		l.CommonName = l.Hosts[0]
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("tlsconf: key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: l.CommonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(l.ValidFor),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if l.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if l.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, h := range l.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return Pair{}, fmt.Errorf("tlsconf: certificate for %s: %w", l.CommonName, err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return Pair{}, err
	}
	return Pair{CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), KeyPEM: kp}, nil
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("tlsconf: serial number: %w", err)
	}
	return n, nil
}

// Bundle names the files WriteBundle wrote.
type Bundle struct {
	CA, CAKey             string // ca.pem, ca-key.pem
	Cert, Key             string // server.pem, server-key.pem
	ClientCert, ClientKey string // client.pem, client-key.pem
}

// WriteBundle makes a CA, a server certificate for hosts and a client
// certificate (for mutual TLS, named clientName) and writes them into dir
// (created if missing): certificates 0644, private keys 0600. Existing
// files are replaced.
func WriteBundle(dir string, hosts []string, clientName string, now time.Time, validFor time.Duration) (Bundle, error) {
	if len(hosts) == 0 {
		return Bundle{}, errors.New("tlsconf: the server certificate needs at least one host name or address")
	}
	if clientName == "" {
		clientName = "gcload client"
	}
	ca, err := NewCA("gcload test CA", now, validFor)
	if err != nil {
		return Bundle{}, err
	}
	srv, err := ca.Issue(Leaf{Hosts: hosts, Server: true, ValidFor: validFor}, now)
	if err != nil {
		return Bundle{}, err
	}
	cli, err := ca.Issue(Leaf{CommonName: clientName, Client: true, ValidFor: validFor}, now)
	if err != nil {
		return Bundle{}, err
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return Bundle{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Bundle{}, fmt.Errorf("tlsconf: %w", err)
	}
	b := Bundle{
		CA: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca-key.pem"),
		Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"),
	}
	for _, f := range []struct {
		path   string
		data   []byte
		secret bool
	}{
		{b.CA, ca.CertPEM, false}, {b.CAKey, caKey, true},
		{b.Cert, srv.CertPEM, false}, {b.Key, srv.KeyPEM, true},
		{b.ClientCert, cli.CertPEM, false}, {b.ClientKey, cli.KeyPEM, true},
	} {
		if err := WriteFile(f.path, f.data, f.secret); err != nil {
			return Bundle{}, err
		}
	}
	return b, nil
}

// WriteFile writes data to path through a temporary file in the same
// directory and a rename, so that a reader never sees half a file; a
// secret gets mode 0600 from the start, anything else 0644.
func WriteFile(path string, data []byte, secret bool) error {
	mode := os.FileMode(0o644)
	if secret {
		mode = 0o600
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsconf: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("tlsconf: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("tlsconf: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("tlsconf: %w", err)
	}
	return nil
}
