package cli

import (
	"context"
	"fmt"

	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/reports"
	"github.com/spf13/cobra"
)

// MergeOptions are the flags of gcload merge.
type MergeOptions struct {
	Dirs []string
	Out  string
}

// NewCmdMerge builds `gcload merge`.
func NewCmdMerge(env *Env, runF func(*MergeOptions) error) *cobra.Command {
	o := &MergeOptions{}
	cmd := &cobra.Command{
		Use:   "merge DIR...",
		Short: "Merge the results of the shards of one run",
		Long: `Merge the results folders of the shards of one scenario run (gcload run
--shard i/N) into one: histograms merge losslessly, counters add up, and
delivery accounting is recomputed over every shard's posts and members, so
the merged results equal those of an unsplit run. A shard of the run with no
folder here is named missing in the verdict, which then fails (exit code 3):
its planned work is not in the results. gcload coordinate merges the same
way, naming the shards that died.`,
		Example: `  gcload merge results/peak-shard1 results/peak-shard2 results/peak-shard3 --out results/peak`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Dirs = args
			if runF != nil {
				return runF(o)
			}
			return runMerge(cmd.Context(), env, o)
		},
	}
	cmd.Flags().StringVar(&o.Out, "out", "results/merged", "folder for the merged results")
	return cmd
}

func runMerge(ctx context.Context, env *Env, o *MergeOptions) error {
	res, err := loadrun.Merge(ctx, o.Dirs, loadrun.MergeOptions{
		Output: loadrun.Output{Dir: o.Out, Report: true, Version: Version},
		Warn:   func(msg string) { fmt.Fprintf(env.Stderr, "gcload merge: warning: %s\n", msg) },
	})
	if err != nil {
		return fromLibrary(err)
	}
	reports.WriteText(env.Stdout, &res.Summary)
	fmt.Fprintf(env.Stdout, "results: %s\n", o.Out)
	return verdictCode(&res.Summary)
}
