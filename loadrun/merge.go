package loadrun

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/scenarios"
	"github.com/gcload/gcload/sipclient/swarm"
)

// MergeOptions configure Merge.
type MergeOptions struct {
	// Output says what is written (Dir: the merged results folder).
	Output Output
	// Warn, when set, is told of shards missing as soon as it is known
	// (the summary's verdict names them too).
	Warn func(msg string)
	// Shards, when set, are the run's shards as its coordinator saw them
	// (gcload coordinate): host, address, clock offsets before and after,
	// and those declared dead with why. They are matched to the folders
	// by shard index; a shard with no folder and no state here is missing.
	Shards []reports.ShardStatus
}

// ClockWarnFraction is how large, against the p50 of post_to_delivery,
// the clock error of a cross-shard latency may be before a merged run is
// flagged (Summary.ClockWarning): 10%.
const ClockWarnFraction = 0.10

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
	shards := shardStates(dirs, results, datas, o.Shards)
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
		Stopped: ms.Stopped, Unreachable: ms.Unreachable, Phases: ms.Phases, Errors: ms.Errors, Checks: checks, Servers: ms.Servers,
		Data: swarm.MergeData(datas...), AbortReason: abortReasons(results), Compliance: mergeCompliance(results),
	}
	res, err := buildResult(spec, plan, swarm.Shard{Index: 1, Of: 1}, ms.Target, merged.Hists, ms.Counters, merged.Intervals, merged.IntervalLength, acc, oc)
	if err != nil {
		return nil, err
	}
	res.Summary.Shard = fmt.Sprintf("merged(%d)", len(results))
	res.Summary.Shards = shards
	res.Summary.ClockWarning = clockWarning(shards, res.Summary.Ops[reports.OpPostToDelivery].P50)
	res.Summary.Verdict, _, res.Summary.Reasons = reports.Decide(&res.Summary)
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

// checkShards refuses the same shard twice and shards of another run (or
// of another split of it).
func checkShards(dirs []string, datas []*swarm.Data, plan *swarm.Plan) error {
	seen := map[int]string{}
	for i, d := range datas {
		if prev, dup := seen[d.Shard.Index]; dup {
			return badInput(fmt.Errorf("%s and %s are both shard %s", prev, dirs[i], d.Shard))
		}
		seen[d.Shard.Index] = dirs[i]
		if d.Shard.Of != datas[0].Shard.Of || d.Shard.Index < 1 || d.Shard.Index > d.Shard.Of {
			return badInput(fmt.Errorf("%s is shard %s, %s shard %s: not shards of one run", dirs[i], d.Shard, dirs[0], datas[0].Shard))
		}
		if d.RunTag != plan.RunTag {
			return badInput(fmt.Errorf("%s: run tag %s, the scenario's is %s", dirs[i], d.RunTag, plan.RunTag))
		}
	}
	return nil
}

// shardStates lists every shard of the run, 1 to N: done (its folder
// merged, with the clock offset it recorded), dead or missing, with what
// the coordinator knew of each (known, by index) over it.
func shardStates(dirs []string, results []*reports.Result, datas []*swarm.Data, known []reports.ShardStatus) []reports.ShardStatus {
	n := datas[0].Shard.Of
	for _, k := range known {
		n = max(n, k.Index, k.Of)
	}
	out := make([]reports.ShardStatus, n)
	for i := range out {
		out[i] = reports.ShardStatus{Index: i + 1, Of: n, State: reports.ShardMissing, Why: "no results folder given"}
	}
	for _, k := range known {
		if k.Index < 1 {
			continue
		}
		st := &out[k.Index-1]
		st.Host, st.Addr, st.Clock, st.EndClock = k.Host, k.Addr, k.Clock, k.EndClock
		if k.State == reports.ShardDead {
			st.State, st.Why = reports.ShardDead, k.Why
		} else if k.Why != "" {
			st.Why = k.Why
		}
	}
	for i, d := range datas {
		st := &out[d.Shard.Index-1]
		st.State, st.Why, st.Dir = reports.ShardDone, "", dirs[i]
		if st.Clock == nil {
			st.Clock = results[i].Summary.Clock
		}
	}
	return out
}

// clockWarning flags a merged run whose shards' clock offsets are too
// uncertain for the delivery latencies it reports: a latency from a post
// sent on shard A to a delivery on shard B is corrected by both offsets
// and wrong by at most A's error plus B's, each shard's error being the
// larger of its uncertainty before the start and, when it was measured
// again before the upload, the drift since plus that uncertainty. When
// the worst pair's error is more than ClockWarnFraction of the p50 of
// post_to_delivery (µs), the run is flagged; "" otherwise, and for a run
// of one shard or without offsets.
func clockWarning(shards []reports.ShardStatus, p50us int64) string {
	type bound struct {
		shard int
		us    int64
	}
	var bs []bound
	for _, sh := range shards {
		if sh.State != reports.ShardDone || sh.Clock == nil {
			continue
		}
		e := sh.Clock.UncertaintyUS
		if end := sh.EndClock; end != nil {
			drift := end.OffsetUS - sh.Clock.OffsetUS
			e = max(e, max(drift, -drift)+end.UncertaintyUS)
		}
		bs = append(bs, bound{sh.Index, e})
	}
	if len(bs) < 2 || p50us <= 0 {
		return ""
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].us > bs[j].us })
	worst := bs[0].us + bs[1].us
	if float64(worst) <= ClockWarnFraction*float64(p50us) {
		return ""
	}
	return fmt.Sprintf("clock offsets uncertain by up to %s between shards %d and %d, more than %.0f%% of the post_to_delivery p50 of %s: cross-shard delivery latencies are known only to within %s",
		reports.FormatMicros(float64(worst)), min(bs[0].shard, bs[1].shard), max(bs[0].shard, bs[1].shard), 100*ClockWarnFraction, reports.FormatMicros(float64(p50us)), reports.FormatMicros(float64(worst)))
}

// abortReasons says why the shards that were stopped early were: their
// reason when they all give the same (a coordinator's abort), else each
// with its shard.
func abortReasons(results []*reports.Result) string {
	var parts, reasons []string
	for _, r := range results {
		if s := r.Summary; s.Aborted && s.AbortReason != "" {
			parts = append(parts, "shard "+s.Shard+": "+s.AbortReason)
			reasons = append(reasons, s.AbortReason)
		}
	}
	if len(slices.Compact(reasons)) == 1 {
		return reasons[0]
	}
	return strings.Join(parts, "; ")
}

// mergeCompliance adds up the shards' compliance cross-checks (each shard
// checked its own users' records); nil when no shard checked.
func mergeCompliance(results []*reports.Result) *reports.Compliance {
	var out *reports.Compliance
	var errs []string
	for _, r := range results {
		c := r.Summary.Compliance
		if c == nil {
			continue
		}
		if out == nil {
			out = &reports.Compliance{Examples: []string{}}
		}
		out.Checked += c.Checked
		out.Missing += c.Missing
		out.Extra += c.Extra
		for _, e := range c.Examples {
			if len(out.Examples) < 5 {
				out.Examples = append(out.Examples, e)
			}
		}
		if c.Error != "" {
			errs = append(errs, fmt.Sprintf("shard %s: %s", r.Summary.Shard, c.Error))
		}
	}
	if out != nil {
		out.Error = strings.Join(errs, "; ")
	}
	return out
}
