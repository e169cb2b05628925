package loadrun

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/reports/charts"
	"github.com/gcload/gcload/reports/htmlreport"
	"github.com/gcload/gcload/sipclient/check"
)

// fileEnv keeps the environment of a run in its results folder, so that
// its report is re-rendered as it was.
const fileEnv = "env.json"

// chartsDir is where a results folder keeps its charts as SVG and PNG.
const chartsDir = "charts"

// envJSON describes the machine and software of a run, for its report.
func envJSON(version, target string) ([]byte, error) {
	return json.MarshalIndent(htmlreport.CurrentEnv(version, target), "", "  ")
}

// write writes res as a results folder and its report, as out says.
func write(res *reports.Result, out Output) error {
	if out.Dir == "" {
		return nil
	}
	if err := reports.WriteResults(out.Dir, res); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	if !out.Report {
		return nil
	}
	return WriteReport(out.Dir, res, out.Version)
}

// WriteReport writes the charts (charts/*.svg, *.png) and report.html of
// the results res into dir, with the environment res recorded (env.json),
// or this machine's and version when it recorded none.
func WriteReport(dir string, res *reports.Result, version string) error {
	e := htmlreport.CurrentEnv(version, res.Summary.Target)
	if b, ok := res.Extra[fileEnv]; ok {
		if err := json.Unmarshal(b, &e); err != nil {
			return badInput(fmt.Errorf("%s: %w", filepath.Join(dir, fileEnv), err))
		}
	}
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
	sec, err := shardsSection(&res.Summary)
	if err != nil {
		return fmt.Errorf("writing the report's shards: %w", err)
	}
	if sec != nil {
		e.Extra = append(e.Extra, *sec)
	}
	// a results folder written before the per-phase figures: they come
	// from its intervals (summary.json is left as it is)
	if slices.ContainsFunc(res.Summary.Phases, func(p reports.PhaseSummary) bool { return p.Ops == nil }) {
		old := res.Summary.Phases
		res.RecomputePhases()
		defer func() { res.Summary.Phases = old }()
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
