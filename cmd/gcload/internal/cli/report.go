package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/gcload/gcload/loadrun"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/htmlreport"
	"github.com/spf13/cobra"
)

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
	if err := loadrun.WriteReport(dir, res, Version); err != nil {
		return fromLibrary(err)
	}
	fmt.Fprintf(env.Stdout, "report: %s\n", filepath.Join(dir, htmlreport.FileName))
	return nil
}
