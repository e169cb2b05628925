package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/gcload/gcload/internal/tlsconf"
	"github.com/spf13/cobra"
)

// CertOptions are the flags of gcload cert.
type CertOptions struct {
	Out        string
	Hosts      []string
	ClientName string
	ValidFor   time.Duration
}

// NewCmdCert builds `gcload cert`.
func NewCmdCert(env *Env) *cobra.Command {
	o := &CertOptions{}
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Make a test CA, a server certificate and a trunk's client certificate",
		Long: `Make a self-signed CA and, signed by it, a certificate for a SIP server
(--host: its names and addresses) and a client certificate for mutual TLS (a
Front End trunk's, named --client-name), as PEM files in --out:

  ca.pem, ca-key.pem             the CA (give ca.pem to clients: --ca, and to
                                 the server for trunks: --client-ca)
  server.pem, server-key.pem     the server's (gcload serve --cert, --key)
  client.pem, client-key.pem     a trunk's (gcload run --client-cert, --client-key)

Private keys are readable only by their owner. For tests and demonstrations:
a real deployment's certificates come from its own CA.`,
		Example: `  gcload cert --out certs --host 127.0.0.1 --host gc.example.com
  gcload serve --tls-listen 127.0.0.1:5063 --cert certs/server.pem --key certs/server-key.pem --client-ca certs/ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Out == "" {
				return badInput(errors.New("--out: name the folder to write the certificates to"))
			}
			if len(o.Hosts) == 0 {
				return badInput(errors.New("--host: name at least one host name or address of the server"))
			}
			if o.ValidFor <= 0 {
				return badInput(fmt.Errorf("--valid-for %s: must be positive", o.ValidFor))
			}
			b, err := tlsconf.WriteBundle(o.Out, o.Hosts, o.ClientName, env.Now(), o.ValidFor)
			if err != nil {
				return badInput(err)
			}
			for _, f := range []struct{ what, path string }{
				{"CA certificate", b.CA}, {"CA key", b.CAKey}, {"server certificate", b.Cert}, {"server key", b.Key},
				{"client certificate (" + o.ClientName + ")", b.ClientCert}, {"client key", b.ClientKey},
			} {
				fmt.Fprintf(env.Stdout, "%-40s %s\n", f.what, f.path)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Out, "out", "", "folder to write the PEM files to (created if missing; existing files replaced)")
	f.StringArrayVar(&o.Hosts, "host", nil, "a host name or IP address of the server (repeatable)")
	f.StringVar(&o.ClientName, "client-name", "gcload trunk", "common name of the client certificate (the trunk's identity)")
	f.DurationVar(&o.ValidFor, "valid-for", 365*24*time.Hour, "validity of the certificates")
	return cmd
}
