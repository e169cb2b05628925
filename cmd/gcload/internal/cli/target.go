package cli

import (
	"strings"

	"github.com/gcload/gcload/refserver/adminclient"
	"github.com/gcload/gcload/target"
	"github.com/spf13/pflag"
)

// addTargetFlags registers the flags that describe the server under test
// (--target, --server, --admin, --admin-token) on f; parsing them fills
// t. gcload run and gcload conform use them (gcload calibrate starts its
// own server). Flags for TLS and credentials belong here too.
func addTargetFlags(f *pflag.FlagSet, t *target.Target) {
	f.StringVar(&t.Lookup, "target", "", "lookup URI of the server under test (sip:ocschat@DOMAIN); with no --server, the embedded reference server runs")
	f.Var((*serversValue)(&t.Servers), "server", "HOST:PORT to connect to, as a client's server setting (required with --target); several, comma-separated, spread the users over them as DNS SRV spreads clients over Front Ends (gcload conform tests the first)")
	f.StringVar(&t.Admin, "admin", "", "admin API URL of a reference server, where gcload creates the rooms it uses")
	f.StringVar(&t.AdminToken, "admin-token", "", "the admin API's token (default: $"+adminclient.TokenEnv+"; gcload serve writes it to a file it names at start)")
}

// withEnvToken returns t with the admin token of the environment when no
// --admin-token was given.
func withEnvToken(env *Env, t target.Target) target.Target {
	if t.AdminToken == "" {
		t.AdminToken = env.getenv(adminclient.TokenEnv)
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
