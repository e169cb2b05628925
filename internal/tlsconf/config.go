package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// LoadPool reads the certificates of a PEM file into a pool (the --ca
// FILE of the CLI). A file without a certificate is an error.
func LoadPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: CA file: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: %s: certificate %d: %w", path, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("tlsconf: %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ClientOptions configure the client end.
type ClientOptions struct {
	// CAFile verifies the server against these CAs; empty means the
	// system roots.
	CAFile string
	// ServerName is sent as SNI and checked against the certificate;
	// empty means the caller's dial address host (crypto/tls's default).
	ServerName string
	// InsecureSkipVerify accepts any server certificate. Only ever set
	// from an explicit flag.
	InsecureSkipVerify bool
	// CertFile and KeyFile are the client certificate for mutual TLS
	// (both or neither).
	CertFile, KeyFile string
}

// ClientConfig builds the client's TLS configuration (TLS 1.2 or later).
func ClientConfig(o ClientOptions) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName, InsecureSkipVerify: o.InsecureSkipVerify}
	if o.CAFile != "" {
		pool, err := LoadPool(o.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("tlsconf: a client certificate needs both a certificate and a key file")
	}
	if o.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tlsconf: client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// ServerOptions configure the server end.
type ServerOptions struct {
	// CertFile and KeyFile are the server's certificate and key. Required.
	CertFile, KeyFile string
	// ClientCAFile, when set, verifies client certificates against these
	// CAs: a client may present one (VerifyClientCertIfGiven), or must
	// with RequireClientCert.
	ClientCAFile      string
	RequireClientCert bool
}

// ServerConfig builds the server's TLS configuration (TLS 1.2 or later).
func ServerConfig(o ServerOptions) (*tls.Config, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("tlsconf: a TLS server needs a certificate and a key file")
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: server certificate: %w", err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if o.RequireClientCert && o.ClientCAFile == "" {
		return nil, errors.New("tlsconf: requiring client certificates needs a client CA file")
	}
	if o.ClientCAFile != "" {
		pool, err := LoadPool(o.ClientCAFile)
		if err != nil {
			return nil, err
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.VerifyClientCertIfGiven
		if o.RequireClientCert {
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return c, nil
}

// PeerIdentity returns the common name of a connection's verified client
// certificate (the identity a mutual-TLS trunk asserts), and false when
// the client presented none that verified.
func PeerIdentity(cs tls.ConnectionState) (string, bool) {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return "", false
	}
	return cs.VerifiedChains[0][0].Subject.CommonName, true
}
