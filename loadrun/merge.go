package loadrun

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
)

// MergeOptions configure Merge.
type MergeOptions struct {
	// Output says what is written (Dir: the merged results folder).
	Output Output
	// Warn, when set, is told of what is odd but not wrong (shards
	// missing).
	Warn func(msg string)
}

// Merge merges the results folders of the shards of one run into one
// Result: histograms merge losslessly, counters add up, and the delivery
// accounting is recomputed over every shard's posts and members with the
// same assembly as Run, so the merged result equals an unsplit run's.
// Folders of different scenarios or runs, or the same shard twice, are
// bad input (ErrInput).
func Merge(ctx context.Context, dirs []string, o MergeOptions) (*reports.Result, error) {
	if len(dirs) == 0 {
		return nil, badInput(fmt.Errorf("no results folders to merge"))
	}
	results, datas, err := readShards(ctx, dirs)
	if err != nil {
		return nil, err
	}
	spec, _, err := scenarios.Load(filepath.Join(dirs[0], "scenario.yaml"), nil)
	if err != nil {
		return nil, badInput(err)
	}
	plan, err := swarm.NewPlan(spec)
	if err != nil {
		return nil, badInput(err)
	}
	if err := checkShards(dirs, datas, plan); err != nil {
		return nil, err
	}
	if n := datas[0].Shard.Of; n != len(datas) && o.Warn != nil {
		o.Warn(fmt.Sprintf("%d of %d shards", len(datas), n))
	}
	merged, err := reports.Merge(results...)
	if err != nil {
		return nil, badInput(err)
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
	res, err := buildResult(spec, plan, swarm.Shard{Index: 1, Of: 1}, ms.Target, merged.Hists, ms.Counters, merged.Intervals, merged.IntervalLength, acc, oc)
	if err != nil {
		return nil, err
	}
	res.Summary.Shard = fmt.Sprintf("merged(%d)", len(results))
	if res.Extra[fileEnv], err = envJSON(o.Output.Version, res.Summary.Target); err != nil {
		return nil, err
	}
	if err := write(res, o.Output); err != nil {
		return nil, err
	}
	return res, nil
}

// readShards reads each folder's results and accounting data; every
// folder must hold the same scenario.
func readShards(ctx context.Context, dirs []string) ([]*reports.Result, []*swarm.Data, error) {
	var results []*reports.Result
	var datas []*swarm.Data
	var yml []byte
	for _, d := range dirs {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		r, err := reports.ReadResults(d)
		if err != nil {
			return nil, nil, badInput(err)
		}
		if yml == nil {
			yml = r.ScenarioYAML
		} else if !bytes.Equal(yml, r.ScenarioYAML) {
			return nil, nil, badInput(fmt.Errorf("%s ran another scenario than %s", d, dirs[0]))
		}
		data, err := readAccounting(r, d)
		if err != nil {
			return nil, nil, badInput(err)
		}
		results = append(results, r)
		datas = append(datas, data)
	}
	return results, datas, nil
}

// checkShards refuses the same shard twice and shards of another run.
func checkShards(dirs []string, datas []*swarm.Data, plan *swarm.Plan) error {
	seen := map[int]string{}
	for i, d := range datas {
		if prev, dup := seen[d.Shard.Index]; dup {
			return badInput(fmt.Errorf("%s and %s are both shard %s", prev, dirs[i], d.Shard))
		}
		seen[d.Shard.Index] = dirs[i]
		if d.RunTag != plan.RunTag {
			return badInput(fmt.Errorf("%s: run tag %s, the scenario's is %s", dirs[i], d.RunTag, plan.RunTag))
		}
	}
	return nil
}
