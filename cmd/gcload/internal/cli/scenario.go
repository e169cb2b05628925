package cli

import (
	"fmt"

	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
	"github.com/spf13/cobra"
)

// NewCmdScenario builds `gcload scenario` and its subcommands.
func NewCmdScenario(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenario",
		Short: "Validate, list and show scenarios",
	}
	var set []string
	validate := &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check scenario files; every problem is reported with file, line and field",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			bad := 0
			for _, f := range args {
				spec, err := loadSpec(f, set, nil)
				if err != nil {
					fmt.Fprintln(env.Stderr, err)
					bad++
					continue
				}
				plan, err := swarm.NewPlan(spec)
				if err != nil {
					fmt.Fprintf(env.Stderr, "%s: %v\n", f, err)
					bad++
					continue
				}
				c := plan.Counts(swarm.Shard{Index: 1, Of: 1})
				fmt.Fprintf(env.Stdout, "%s: valid: %s, %d users, %d rooms, %s of phases, %d sign-ins, %d posts, %d history fetches, %d searches, %d churns planned\n",
					f, spec.Name, len(plan.Users), len(plan.Rooms), plan.Duration, c[swarm.KindSignIn], c[swarm.KindPost], c[swarm.KindHistory], c[swarm.KindSearch], c[swarm.KindPart])
			}
			if bad > 0 {
				return errSilent{2}
			}
			return nil
		},
	}
	validate.Flags().StringArrayVar(&set, "set", nil, "override a field: KEY=VALUE (repeatable)")
	list := &cobra.Command{
		Use:   "list",
		Short: "List the scenarios shipped with gcload",
		Args:  cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			for _, name := range scenarios.Shipped() {
				spec, _, err := scenarios.Load(name, nil)
				if err != nil {
					return err
				}
				fmt.Fprintf(env.Stdout, "%-16s %s\n", name, spec.Description)
			}
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Print a shipped scenario's YAML (to copy and edit)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			b, err := scenarios.ShippedFile(args[0])
			if err != nil {
				return badInput(err)
			}
			_, err = env.Stdout.Write(b)
			return err
		},
	}
	cmd.AddCommand(validate, list, show)
	return cmd
}
