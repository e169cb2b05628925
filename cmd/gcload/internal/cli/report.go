package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/charts"
	"github.com/gcload/gcload/reports/htmlreport"
	"github.com/gcload/gcload/sipclient/check"
	"github.com/spf13/cobra"
)

// fileEnv keeps the environment of a run in its results folder, so that
// `gcload report` re-renders it as it was.
const fileEnv = "env.json"

// chartsDir is where a results folder keeps its charts as SVG and PNG.
const chartsDir = "charts"

// NewCmdReport builds `gcload report`.
func NewCmdReport(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "report RESULTS_DIR",
		Short: "Re-render report.html and the charts of a results folder",
		Long: `Re-render a results folder's report.html (one self-contained file: verdict,
scenario, latency table, delivery accounting, conformance by rule, thresholds,
environment, charts) and its charts (charts/*.svg, charts/*.png) from the saved
results, without running anything. gcload run writes both at the end of every run.`,
		Example: `  gcload report results/smoke-20261122-010000`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(cmd.Context(), env, args[0])
		},
	}
}

func runReport(_ context.Context, env *Env, dir string) error {
	res, err := reports.ReadResults(dir)
	if err != nil {
		return badInput(err)
	}
	e := htmlreport.CurrentEnv(Version, res.Summary.Target)
	if b, ok := res.Extra[fileEnv]; ok {
		if err := json.Unmarshal(b, &e); err != nil {
			return badInput(fmt.Errorf("%s: %w", filepath.Join(dir, fileEnv), err))
		}
	}
	if err := writeReport(dir, res, e); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "report: %s\n", filepath.Join(dir, htmlreport.FileName))
	return nil
}

// runEnv describes the machine and software of a run, for its report.
func runEnv(target string) (htmlreport.Env, []byte) {
	e := htmlreport.CurrentEnv(Version, target)
	b, _ := json.MarshalIndent(e, "", "  ")
	return e, b
}

// writeReport writes the charts and report.html of a results folder.
func writeReport(dir string, res *reports.Result, e htmlreport.Env) error {
	e.Rules = e.Rules[:0]
	status := map[string]string{}
	for _, r := range res.Summary.Rules {
		status[r.Rule] = r.Status
	}
	for _, id := range check.RunRules {
		r, _ := check.RuleByID(id)
		e.Rules = append(e.Rules, htmlreport.RuleResult{ID: r.ID, Title: r.Title, Ref: r.Ref, Violations: res.Summary.Counters["violations."+r.ID],
			NotExercised: status[r.ID] == reports.NotExercised})
	}
	cs := charts.Build(res, charts.Options{})
	if err := os.RemoveAll(filepath.Join(dir, chartsDir)); err != nil {
		return err
	}
	if err := charts.WriteFiles(filepath.Join(dir, chartsDir), cs); err != nil {
		return fmt.Errorf("writing charts: %w", err)
	}
	if err := htmlreport.Write(dir, res, e); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}
