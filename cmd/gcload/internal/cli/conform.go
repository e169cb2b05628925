package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gcload/gcload/internal/yamlx"
	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/embedded"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/sipauth/accounts"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipclient/check"
	"github.com/gcload/gcload/sipnet"
	"github.com/gcload/gcload/target"
	"github.com/spf13/cobra"
)

// ConformOptions are the flags of gcload conform.
type ConformOptions struct {
	// Target is --target, --server, --admin and --admin-token.
	Target          target.Target
	Config          string
	Users           []string
	ChatRoom        string
	ClosedRoom      string
	DisabledRoom    string
	ManagedRoom     string
	InheritedRoom   string
	OverriddenRoom  string
	CreateCategory  string
	ChannelServices int
	Rules           []string
	JUnit           string
	JSON            string
	Timeout         time.Duration
	Posts           int
	Misbehave       string
	ListRules       bool
	Deadline        time.Duration
}

// NewCmdConform builds `gcload conform`. runF replaces the action in tests.
func NewCmdConform(env *Env, runF func(*ConformOptions) error) *cobra.Command {
	o := &ConformOptions{}
	cmd := &cobra.Command{
		Use:   "conform",
		Short: "Run the conformance suite against a server (or the embedded reference server)",
		Long: `Run gcload's conformance suite: every protocol rule (docs/conformance.md) is
exercised and judged; each failure names the rule, the protocol section and
the offending message. The exit code is 4 when any rule fails, 7 when the
target cannot be reached or no probe got as far as checking anything, 6
when the suite was stopped (Ctrl-C, SIGTERM, --deadline) before its end.

With no --server, the suite runs against an embedded reference server (two
channel services, rooms created through its admin API); --misbehave then
switches that server's deliberate faults on ("gcload serve --misbehave list").

Against another server, give its SIP address, the lookup URI and the users
and rooms the suite may use, with flags or a YAML file (--config):

  server: 10.0.0.5:5061
  domain: contoso.com            # default: the domain of --target
  lookup: sip:ocschat@contoso.com
  users: [sip:gc1@contoso.com, sip:gc2@contoso.com, sip:gc3@contoso.com, sip:gc4@contoso.com]
  rooms:
    chat: conformance        # the first three users may join and post
    closed: finance          # closed, the fourth user is not a member (optional)
    disabled: old-project    # disabled, the first user is a member (optional)
  channel_services: 2        # to judge round-robin (optional)
  admin: http://10.0.0.5:8080  # a reference server's admin API: rooms are then created

Rules that need what was not given are skipped and say why.`,
		Example: `  gcload conform
  gcload conform --misbehave no-echo
  gcload conform --junit conformance.xml --json conformance.json
  gcload conform --target sip:ocschat@contoso.com --server 10.0.0.5:5061 --admin http://10.0.0.5:8080
  gcload conform --config target.yaml --rules fanout/,history/persisted-order
  gcload conform --list-rules`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(o)
			}
			return runConform(cmd.Context(), env, o)
		},
	}
	f := cmd.Flags()
	addTargetFlags(f, &o.Target)
	f.StringVar(&o.Config, "config", "", "YAML file describing the target (server, domain, lookup, users, rooms, channel_services, admin)")
	f.StringSliceVar(&o.Users, "users", nil, "four users sip:user@DOMAIN the suite may sign in as")
	f.StringVar(&o.ChatRoom, "room", "", "room ID the first three users may join and post to")
	f.StringVar(&o.ClosedRoom, "closed-room", "", "closed room ID the fourth user is not a member of")
	f.StringVar(&o.DisabledRoom, "disabled-room", "", "disabled room ID the first user is a member of")
	f.StringVar(&o.ManagedRoom, "managed-room", "", "room ID the first user manages, the second is a member of, the third is not (the suite changes its topic and adds the third)")
	f.StringVar(&o.InheritedRoom, "inherited-room", "", "closed room ID the fourth user holds no role in but a parent of its category allows them into")
	f.StringVar(&o.OverriddenRoom, "overridden-room", "", "closed room ID the fourth user holds no role in, whose category overrides a parent that allows them")
	f.StringVar(&o.CreateCategory, "create-category", "", "category ID the fourth user may create rooms in and the second may not (the suite creates a room in it)")
	f.IntVar(&o.ChannelServices, "channel-services", 0, "how many channel services the lookup service hands out (to judge round-robin)")
	f.StringSliceVar(&o.Rules, "rules", nil, `rules to run: IDs, or prefixes ending in "/" (default: all)`)
	f.StringVar(&o.JUnit, "junit", "", "write JUnit XML (one test case per rule) to FILE")
	f.StringVar(&o.JSON, "json", "", `write the result as JSON to FILE ("-": standard output, instead of the text report)`)
	f.DurationVar(&o.Timeout, "timeout", 3*time.Second, "how long to wait for each answer the server owes")
	f.IntVar(&o.Posts, "posts", 40, "posts per member in the fan-out probe")
	f.StringVar(&o.Misbehave, "misbehave", "", "faults NAME[,NAME] of the embedded reference server")
	f.BoolVar(&o.ListRules, "list-rules", false, "list the rules and exit")
	f.DurationVar(&o.Deadline, "deadline", 0, "end the suite after this long whatever happens (the rules not run yet are skipped, the reports written; exit code 6); 0: no deadline")
	return cmd
}

func runConform(ctx context.Context, env *Env, o *ConformOptions) error {
	if o.ListRules {
		for _, r := range check.Rules {
			fmt.Fprintf(env.Stdout, "%-28s %s (%s)\n", r.ID, r.Title, r.Ref)
		}
		return nil
	}
	sel, err := check.SelectRules(o.Rules)
	if err != nil {
		return badInput(fmt.Errorf("--rules: %w", err))
	}
	tg, err := conformTarget(o)
	if err != nil {
		return badInput(err)
	}
	tg.Target = withEnvToken(env, tg.Target)
	switch {
	case tg.Server() == "" && !tg.Locate():
		srv, err := startConformServer(ctx, env, o, &tg)
		if err != nil {
			return err
		}
		defer srv.Close()
	case o.Misbehave != "":
		return badInput(errors.New("--misbehave applies to the embedded reference server; start another one with gcload serve --misbehave"))
	case tg.Locate():
		found, err := sipclient.Locate(ctx, tg.Target)
		if err != nil {
			return withCode(reports.ExitUnreachable, err)
		}
		tg.Target = found
		fmt.Fprintf(env.Stderr, "gcload conform: found %s for %s in DNS\n", found.Server(), found.Lookup)
	}
	if err := tg.Validate(); err != nil {
		return badInput(err)
	}
	if o.Deadline < 0 {
		return badInput(fmt.Errorf("--deadline %s: must not be negative", o.Deadline))
	}
	if o.Deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Deadline, fmt.Errorf("the --deadline of %s passed", o.Deadline))
		defer cancel()
	}
	rep, err := check.Run(ctx, tg, check.Options{Rules: sel, Timeout: o.Timeout, Posts: o.Posts,
		Progress: func(p string) { fmt.Fprintf(env.Stderr, "gcload conform: probe %s\n", p) }})
	var stopped error
	switch {
	case errors.Is(err, check.ErrUnreachable):
		return withCode(reports.ExitUnreachable, err)
	case err != nil && rep != nil && ctx.Err() != nil:
		stopped = fmt.Errorf("stopped before the end: %w", context.Cause(ctx))
	case err != nil:
		return err
	}
	if o.JUnit != "" {
		if err := writeFileWith(o.JUnit, rep.WriteJUnit); err != nil {
			return err
		}
	}
	switch o.JSON {
	case "-":
		if err := rep.WriteJSON(env.Stdout); err != nil {
			return err
		}
	case "":
		if err := rep.WriteText(env.Stdout); err != nil {
			return err
		}
	default:
		if err := writeFileWith(o.JSON, rep.WriteJSON); err != nil {
			return err
		}
		if err := rep.WriteText(env.Stdout); err != nil {
			return err
		}
	}
	switch {
	case stopped != nil:
		return withCode(reports.ExitAborted, stopped)
	case rep.NoWork:
		return withCode(reports.ExitUnreachable, fmt.Errorf("no work done: no probe got as far as checking anything, so no rule was judged (%s)", rep.Cause))
	case rep.Failed():
		return withCode(reports.ExitConformance, errSilent{code: reports.ExitConformance})
	}
	return nil
}

// startConformServer starts the embedded reference server the suite runs
// against when no --server is given (two channel services, the admin API,
// file posts, the faults of --misbehave) and points tg at it.
func startConformServer(ctx context.Context, env *Env, o *ConformOptions, tg *check.Target) (*embedded.Server, error) {
	faults, err := fault.Parse(o.Misbehave)
	if err != nil {
		return nil, badInput(fmt.Errorf("--misbehave: %w", err))
	}
	domain := tg.Domain
	if domain == "" {
		domain = refserver.DefaultDomain
	}
	if len(tg.Users) == 0 {
		for i := 1; i <= 4; i++ {
			tg.Users = append(tg.Users, fmt.Sprintf("sip:gcconform%d@%s", i, domain))
		}
	}
	// the users sign in with NTLM, as on a real server: their accounts,
	// with passwords for this run when none are given
	creds := tg.Target
	if !creds.HasCredentials() {
		var b [8]byte
		_, _ = rand.Read(b[:])
		creds.Password = "gcload-" + hex.EncodeToString(b[:]) + "-{i}"
	}
	setup, err := sipclient.NewCredentials(creds)
	if err != nil {
		return nil, badInput(err)
	}
	var accts []accounts.Credential
	for _, u := range tg.Users {
		c, _, err := setup.Credential(u)
		if err != nil {
			return nil, badInput(err)
		}
		accts = append(accts, c)
	}
	srv, err := embedded.Start(ctx, embedded.Options{
		Domain: tg.Domain, Admin: true, Files: true,
		Options: []refserver.Option{refserver.WithChannels(2), refserver.WithFaults(faults),
			refserver.WithAuth(refserver.AuthNTLM), refserver.WithAccounts(accts...)},
	})
	if err != nil {
		return nil, err
	}
	tg.Target, tg.ChannelServices = srv.Target(), 2
	tg.Accounts, tg.Login, tg.Password, tg.Auth = creds.Accounts, creds.Login, creds.Password, creds.Auth
	fmt.Fprintf(env.Stderr, "gcload conform: embedded reference server on %s", tg.Server())
	if !faults.Empty() {
		fmt.Fprintf(env.Stderr, " misbehaving: %s", faults)
	}
	fmt.Fprintln(env.Stderr)
	return srv, nil
}

// conformConfig is the file --config names.
type conformConfig struct {
	Server          string      `yaml:"server"`
	Domain          string      `yaml:"domain"`
	Lookup          string      `yaml:"lookup"`
	Users           []string    `yaml:"users"`
	Rooms           check.Rooms `yaml:"rooms"`
	ChannelServices int         `yaml:"channel_services"`
	Admin           string      `yaml:"admin"`
}

// conformTarget builds the target from --config and the flags (flags win).
func conformTarget(o *ConformOptions) (check.Target, error) {
	var tg check.Target
	if o.Config != "" {
		data, err := os.ReadFile(o.Config)
		if err != nil {
			return tg, fmt.Errorf("--config: %w", err)
		}
		var c conformConfig
		if _, errs := yamlx.Decode(o.Config, data, &c, nil); len(errs) > 0 {
			return tg, errors.Join(errs...)
		}
		tg = check.Target{Target: target.Target{Lookup: c.Lookup, Domain: c.Domain, Admin: c.Admin},
			Users: c.Users, Rooms: c.Rooms, ChannelServices: c.ChannelServices}
		if c.Server != "" {
			tg.Servers = []string{c.Server}
		}
	}
	flags := o.Target
	if flags.Lookup != "" {
		aor, err := sipnet.AOR(flags.Lookup)
		_, dom, ok := strings.Cut(aor, "@")
		if err != nil || !ok || !strings.HasPrefix(strings.ToLower(flags.Lookup), "sip:") {
			return tg, fmt.Errorf("--target %q: want the lookup URI sip:ocschat@DOMAIN", flags.Lookup)
		}
		flags.Lookup = aor
		if tg.Domain == "" {
			tg.Domain = dom
		}
	}
	tg.Target = tg.Target.With(flags)
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&tg.Rooms.Chat, o.ChatRoom)
	set(&tg.Rooms.Closed, o.ClosedRoom)
	set(&tg.Rooms.Disabled, o.DisabledRoom)
	set(&tg.Rooms.Managed, o.ManagedRoom)
	set(&tg.Rooms.Inherited, o.InheritedRoom)
	set(&tg.Rooms.Overridden, o.OverriddenRoom)
	set(&tg.Rooms.CreateCategory, o.CreateCategory)
	if len(o.Users) > 0 {
		tg.Users = o.Users
	}
	if o.ChannelServices > 0 {
		tg.ChannelServices = o.ChannelServices
	}
	if tg.Server() != "" && tg.Domain == "" {
		return tg, errors.New("--target sip:ocschat@DOMAIN (or domain in --config) is required with --server")
	}
	if tg.Server() == "" && !tg.Locate() && tg.Admin != "" {
		return tg, errors.New("--admin needs --server (or --target, found in DNS): without them the suite runs against its own embedded server")
	}
	return tg, nil
}

// writeFileWith writes a file through a temporary file and a rename, so a
// failed write leaves no half file.
func writeFileWith(path string, write func(w io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
