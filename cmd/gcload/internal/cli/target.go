package cli

import (
	"strings"

	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/target"
	"github.com/spf13/pflag"
)

// addTargetFlags registers the flags that describe the server under test
// (--target, --server, --admin, --admin-token), how clients reach it over
// TLS (--ca, --server-name, --insecure-skip-verify, --client-cert,
// --client-key), how users sign in (--accounts, --login, --password,
// --auth) and where its Front End is found (--dns) on f; parsing them
// fills t. gcload run and gcload conform use them (gcload calibrate starts
// its own server).
func addTargetFlags(f *pflag.FlagSet, t *target.Target) {
	f.StringVar(&t.Lookup, "target", "", "lookup URI of the server under test (sip:ocschat@DOMAIN); with no --server its Front End is found in DNS (SRV, then sipinternal./sip.DOMAIN); with neither, the embedded reference server runs")
	f.Var((*serversValue)(&t.Servers), "server", "HOST:PORT (or tls://HOST:PORT) to connect to, as a client's server setting; several, comma-separated, spread the users over them as DNS SRV spreads clients over Front Ends (gcload conform tests the first)")
	f.StringVar(&t.Admin, "admin", "", "admin API URL of a reference server, where gcload creates the rooms and the accounts it uses")
	f.StringVar(&t.AdminToken, "admin-token", "", "the admin API's token (default: $"+adminclient.TokenEnv+"; gcload serve writes it to a file it names at start)")
	f.StringVar(&t.CA, "ca", "", "CA certificates (PEM) the TLS server's certificate must chain to (default: the system's roots)")
	f.StringVar(&t.ServerName, "server-name", "", "the name sent as SNI and verified in the server's certificate (default: the --server host)")
	f.BoolVar(&t.InsecureSkipVerify, "insecure-skip-verify", false, "accept any TLS server certificate (tests only: anyone on the path can then read and change the traffic)")
	f.StringVar(&t.ClientCert, "client-cert", "", "client certificate (PEM) for mutual TLS: the connections are a Front End's trunk, whose users the server does not challenge")
	f.StringVar(&t.ClientKey, "client-key", "", "the client certificate's private key (PEM)")
	f.StringVar(&t.Accounts, "accounts", "", "CSV file of the users' credentials (uri,user,password)")
	f.StringVar(&t.Login, "login", "", `login pattern, {i} the number ending the user's address (such as "user{i}"; default: the address, as SIPE signs in)`)
	f.StringVar(&t.Password, "password", "", `password pattern, {i} the user's number (such as "pass{i}"; default: $`+PasswordEnv+`)`)
	f.StringVar(&t.Auth, "auth", "", "sign-in schemes to answer: ntlm, digest, or empty for either (NTLM when offered)")
	f.StringVar(&t.DNS, "dns", "", "DNS server HOST:PORT to find the Front End with (default: the system's resolver)")
}

// PasswordEnv is the environment variable of the password pattern, so
// that it need not show in the command line.
const PasswordEnv = "GCLOAD_PASSWORD"

// withEnvToken returns t with the admin token of the environment when no
// --admin-token was given.
func withEnvToken(env *Env, t target.Target) target.Target {
	if t.AdminToken == "" {
		t.AdminToken = env.getenv(adminclient.TokenEnv)
	}
	if t.Password == "" && t.Accounts == "" {
		t.Password = env.getenv(PasswordEnv)
	}
	return t
}

// serversValue is --server: HOST:PORT, or several separated by commas
// (the last --server given counts).
type serversValue []string

func (v *serversValue) String() string { return strings.Join(*v, ",") }
func (v *serversValue) Type() string   { return "string" }
func (v *serversValue) Set(s string) error {
	*v = nil
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			*v = append(*v, a)
		}
	}
	return nil
}
