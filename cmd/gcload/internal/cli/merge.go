package cli

import (
	"bytes"
	"fmt"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
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
the merged results equal those of an unsplit run.`,
		Example: `  gcload merge results/peak-shard1 results/peak-shard2 results/peak-shard3 --out results/peak`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			o.Dirs = args
			if runF != nil {
				return runF(o)
			}
			return runMerge(env, o)
		},
	}
	cmd.Flags().StringVar(&o.Out, "out", "results/merged", "folder for the merged results")
	return cmd
}

func runMerge(env *Env, o *MergeOptions) error {
	var results []*reports.Result
	var datas []*swarm.Data
	var yml []byte
	for _, d := range o.Dirs {
		r, err := reports.ReadResults(d)
		if err != nil {
			return badInput(err)
		}
		if yml == nil {
			yml = r.ScenarioYAML
		} else if !bytes.Equal(yml, r.ScenarioYAML) {
			return badInput(fmt.Errorf("%s ran another scenario than %s", d, o.Dirs[0]))
		}
		data, err := readAccounting(r, d)
		if err != nil {
			return badInput(err)
		}
		results = append(results, r)
		datas = append(datas, data)
	}
	spec, _, err := scenarios.Load(o.Dirs[0]+"/scenario.yaml", nil)
	if err != nil {
		return badInput(err)
	}
	plan, err := swarm.NewPlan(spec)
	if err != nil {
		return badInput(err)
	}
	seen := map[int]string{}
	for i, d := range datas {
		if prev, dup := seen[d.Shard.Index]; dup {
			return badInput(fmt.Errorf("%s and %s are both shard %s", prev, o.Dirs[i], d.Shard))
		}
		seen[d.Shard.Index] = o.Dirs[i]
		if d.RunTag != plan.RunTag {
			return badInput(fmt.Errorf("%s: run tag %s, the scenario's is %s", o.Dirs[i], d.RunTag, plan.RunTag))
		}
	}
	if n := datas[0].Shard.Of; n != len(datas) {
		fmt.Fprintf(env.Stderr, "gcload merge: warning: %d of %d shards\n", len(datas), n)
	}
	merged, err := reports.Merge(results...)
	if err != nil {
		return badInput(err)
	}
	acc := swarm.Account(plan, spec.Limits.PartGrace.D(), datas...)
	checks := map[string]int64{}
	for _, r := range results {
		for _, rs := range r.Summary.Rules {
			checks[rs.Rule] += rs.Checks
		}
	}
	ms := merged.Summary
	oc := &swarm.Outcome{
		Start: ms.Start, End: ms.End, Users: ms.Users, Generator: ms.Generator, Aborted: ms.Aborted,
		Stopped: ms.Stopped, Unreachable: ms.Unreachable, Phases: ms.Phases, Errors: ms.Errors, Checks: checks,
		Data: swarm.MergeData(datas...),
	}
	res, err := buildResult(spec, plan, swarm.Shard{Index: 1, Of: 1}, merged.Summary.Target, merged.Hists, merged.Summary.Counters, merged.Intervals, merged.IntervalLength, acc, oc)
	if err != nil {
		return err
	}
	res.Summary.Shard = fmt.Sprintf("merged(%d)", len(results))
	renv, envJSON := runEnv(res.Summary.Target)
	res.Extra[fileEnv] = envJSON
	if err := reports.WriteResults(o.Out, res); err != nil {
		return err
	}
	if err := writeReport(o.Out, res, renv); err != nil {
		return err
	}
	reports.WriteText(env.Stdout, &res.Summary)
	fmt.Fprintf(env.Stdout, "results: %s\n", o.Out)
	if _, code, _ := reports.Decide(&res.Summary); code != reports.ExitPass {
		return errSilent{code}
	}
	return nil
}
