// Package embedded starts the reference server in-process on loopback
// ports, as gcload run, gcload conform and the tests do when they have no
// server of their own to test: one place for the listeners, the temporary
// database and the description of the server as a target.Target. It
// imports the reference server and the target description only, never
// the harness.
package embedded

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gcload/gcload/internal/tlsconf"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/admin"
	"github.com/gcload/gcload/refserver/adminapi"
	"github.com/gcload/gcload/target"
)

// Transports.
const (
	TCP = "tcp"
	TLS = "tls"
	UDP = "udp"
)

// Options say what to start. The zero Options start a server on TCP with
// the default domain and no admin API, storing in a temporary folder.
type Options struct {
	// Domain is the SIP domain (default refserver.DefaultDomain).
	Domain string
	// Transports are the transports it listens on, on 127.0.0.1 with a
	// random port: TCP, TLS, UDP (default TCP). The first is the target's
	// server. TLS gets a certificate from a CA made for the server, whose
	// certificate (ca.pem in Dir) the target names for clients to verify.
	Transports []string
	// Trunk makes TLS connections with a client certificate from that CA
	// trusted trunks (mutual TLS), and the target present one
	// (client.pem, client-key.pem in Dir): the model of a Front End's
	// connections, whose users are not challenged.
	Trunk bool
	// Admin serves the admin API on 127.0.0.1 (a random port) with
	// AdminToken (when empty, the server makes one: see Target).
	Admin      bool
	AdminToken string
	// Rooms are created at start (as through the admin API), with their
	// members.
	Rooms []adminapi.NewRoom
	// Dir is the folder of the database (gc.db); empty makes a
	// temporary folder that Close removes.
	Dir string
	// Files turns file posts on: the web service on 127.0.0.1 (a random
	// port), the files in Dir/files.
	Files bool
	// Options are more options of the reference server, applied after
	// these (so they may replace them).
	Options []refserver.Option
}

// Server is a reference server started by Start.
type Server struct {
	*refserver.Server
	first string // the first transport
	tmp   string // a temporary folder Close removes ("" when none)
	// the CA of a TLS listener, and a trunk's certificate (file paths)
	ca, clientCert, clientKey string
}

// makeCerts makes a CA, a certificate for 127.0.0.1 signed by it and,
// for trunks, a client certificate; it writes the CA's certificate (and
// the client's) into dir and returns the listener's configuration.
func (s *Server) makeCerts(dir string, trunk bool) (*tls.Config, error) {
	now := time.Now()
	ca, err := tlsconf.NewCA("gcload embedded server CA", now, 30*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	leaf, err := ca.Issue(tlsconf.Leaf{Hosts: []string{"127.0.0.1", "localhost"}, Server: true, ValidFor: 30 * 24 * time.Hour}, now)
	if err != nil {
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	cert, err := leaf.TLS()
	if err != nil {
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	s.ca = filepath.Join(dir, "ca.pem")
	if err := tlsconf.WriteFile(s.ca, ca.CertPEM, false); err != nil {
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if trunk {
		cli, err := ca.Issue(tlsconf.Leaf{CommonName: "gcload trunk", Client: true, ValidFor: 30 * 24 * time.Hour}, now)
		if err != nil {
			return nil, fmt.Errorf("embedded server: %w", err)
		}
		s.clientCert, s.clientKey = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
		if err := tlsconf.WriteFile(s.clientCert, cli.CertPEM, false); err != nil {
			return nil, fmt.Errorf("embedded server: %w", err)
		}
		if err := tlsconf.WriteFile(s.clientKey, cli.KeyPEM, true); err != nil {
			return nil, fmt.Errorf("embedded server: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AddCert(ca.Cert)
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// Start starts a reference server. ctx bounds its start (opening the
// store, provisioning rooms), not its life: Close ends it.
func Start(ctx context.Context, o Options) (*Server, error) {
	s := &Server{first: TCP}
	dir := o.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "gcload-embedded-*"); err != nil {
			return nil, fmt.Errorf("embedded server: %w", err)
		}
		s.tmp = dir
	}
	opts := []refserver.Option{refserver.WithDB(filepath.Join(dir, "gc.db"))}
	if len(o.Rooms) > 0 {
		opts = append(opts, refserver.WithRooms(admin.StoreRooms(o.Rooms...)...))
	}
	if o.Domain != "" {
		opts = append(opts, refserver.WithDomain(o.Domain))
	}
	transports := o.Transports
	if len(transports) == 0 {
		transports = []string{TCP}
	}
	for _, t := range transports {
		switch t {
		case TCP:
			opts = append(opts, refserver.WithTCP("127.0.0.1:0"))
		case UDP:
			opts = append(opts, refserver.WithUDP("127.0.0.1:0"))
		case TLS:
			cfg, err := s.makeCerts(dir, o.Trunk)
			if err != nil {
				s.removeTemp()
				return nil, err
			}
			opts = append(opts, refserver.WithTLS("127.0.0.1:0", cfg))
		default:
			s.removeTemp()
			return nil, fmt.Errorf("embedded server: transport %q: want %s, %s or %s", t, TCP, TLS, UDP)
		}
	}
	s.first = transports[0]
	if o.Admin {
		opts = append(opts, refserver.WithAdmin("127.0.0.1:0"))
		if o.AdminToken != "" {
			opts = append(opts, refserver.WithAdminToken(o.AdminToken))
		}
	}
	if o.Files {
		opts = append(opts, refserver.WithFiles(refserver.Files{Listen: "127.0.0.1:0", Dir: filepath.Join(dir, "files")}))
	}
	srv, err := refserver.New(ctx, append(opts, o.Options...)...)
	if err != nil {
		s.removeTemp()
		return nil, fmt.Errorf("embedded server: %w", err)
	}
	s.Server = srv
	return s, nil
}

// Target describes the server for a client: its lookup URI, domain, the
// address of its first transport and, with Admin, its admin API and
// token.
func (s *Server) Target() target.Target {
	addr := s.TCPAddr()
	switch s.first {
	case UDP:
		addr = s.UDPAddr()
	case TLS:
		addr = "tls://" + s.TLSAddr()
	}
	return target.Target{
		Lookup: s.LookupURI(), Domain: s.Domain(), Servers: []string{addr},
		Admin: s.AdminURL(), AdminToken: s.AdminToken(),
		CA: s.ca, ClientCert: s.clientCert, ClientKey: s.clientKey,
	}
}

// Close closes the server and removes its temporary folder.
func (s *Server) Close() error {
	err := s.Server.Close()
	return errors.Join(err, s.removeTemp())
}

func (s *Server) removeTemp() error {
	if s.tmp == "" {
		return nil
	}
	err := os.RemoveAll(s.tmp)
	s.tmp = ""
	return err
}
