package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/compare"
	"github.com/spf13/cobra"
)

// CompareOptions are the flags of gcload compare.
type CompareOptions struct {
	FailOn    []string
	HTML      string
	JSON      string
	Alpha     float64
	MinEffect float64
	Pool      bool
	Strict    bool
}

// NewCmdCompare builds `gcload compare`.
func NewCmdCompare(env *Env) *cobra.Command {
	o := &CompareOptions{}
	cmd := &cobra.Command{
		Use:   "compare BASE NEW",
		Short: "Compare two runs: percentile deltas, and whether they are beyond run-to-run noise",
		Long: `Compare two results folders operation by operation: count, p50/p90/p99/p99.9/max
of each and the change, and whether a change is beyond run-to-run noise: a
two-sided Mann-Whitney U test over the per-interval percentiles of the two runs
(p < --alpha, and the whole-run percentile moved more than --min-effect). Counters
and delivery figures are compared too.

--fail-on rules make it a regression gate (exit 3 when one fails):
  post_to_last_delivery.p99 > +10%     a latency statistic: relative or absolute (+20ms, +500us)
  post_ack.p50 > +5ms
  lost > +0                            a counter or delivery figure
  posts.rate < -5%                     an operation's rate
A latency rule fails only when its change is also beyond noise. When a metric
a rule names cannot be judged (too few intervals to tell a change from noise,
no samples on one side), or without rules when not one statistic can be judged,
the comparison is inconclusive: exit code 8, with a hint (--pool for runs of a
few operations per second); --strict makes it a failure (exit 3) instead.

Exit codes: 0 no regression, 3 regression, 8 inconclusive, 2 bad input.`,
		Example: `  gcload compare results/base results/new
  gcload compare results/base results/new --fail-on 'post_to_last_delivery.p99 > +10%' --html compare.html`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCompare(cmd.Context(), env, o, args[0], args[1])
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.FailOn, "fail-on", nil, `regression rule "METRIC OP CHANGE" (repeatable)`)
	f.StringVar(&o.HTML, "html", "", "also write the comparison as a self-contained HTML page to FILE")
	f.StringVar(&o.JSON, "json", "", `write the comparison as JSON to FILE ("-": standard output, instead of text)`)
	f.Float64Var(&o.Alpha, "alpha", compare.DefaultAlpha, "significance level of the noise test")
	f.Float64Var(&o.MinEffect, "min-effect", compare.DefaultMinEffect, "smallest relative change of a whole-run percentile called beyond noise")
	f.BoolVar(&o.Pool, "pool", false, "pool consecutive sparse intervals (runs of a few posts per second)")
	f.BoolVar(&o.Strict, "strict", false, "fail rules that are inconclusive (runs too short to judge noise)")
	return cmd
}

func runCompare(_ context.Context, env *Env, o *CompareOptions, baseDir, newDir string) error {
	opts := compare.DefaultOptions()
	opts.Alpha, opts.MinEffect, opts.PoolIntervals = o.Alpha, o.MinEffect, o.Pool
	opts.BaseName, opts.NewName = baseDir, newDir
	var errs []error
	for _, s := range o.FailOn {
		r, err := compare.ParseRule(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("--fail-on: %w", err))
			continue
		}
		opts.Rules = append(opts.Rules, r)
	}
	if len(errs) > 0 {
		return badInput(errors.Join(errs...))
	}
	base, err := reports.ReadResults(baseDir)
	if err != nil {
		return badInput(err)
	}
	nw, err := reports.ReadResults(newDir)
	if err != nil {
		return badInput(err)
	}
	rep, err := compare.Compare(base, nw, opts)
	if err != nil {
		return badInput(err)
	}
	writeJSON := rep.WriteJSON
	switch o.JSON {
	case "-":
		if err := writeJSON(env.Stdout); err != nil {
			return err
		}
	case "":
		if err := rep.WriteText(env.Stdout); err != nil {
			return err
		}
	default:
		if err := writeFileWith(o.JSON, writeJSON); err != nil {
			return err
		}
		if err := rep.WriteText(env.Stdout); err != nil {
			return err
		}
	}
	if o.HTML != "" {
		if err := writeFileWith(o.HTML, rep.WriteHTML); err != nil {
			return err
		}
	}
	switch {
	case rep.Regressed || (o.Strict && len(rep.Inconclusive) > 0):
		return errSilent{reports.ExitThresholds}
	case len(rep.Inconclusive) > 0:
		return errSilent{reports.ExitInconclusive}
	}
	return nil
}
