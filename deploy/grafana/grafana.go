// Package grafana ships gcload's Grafana dashboard for the live metrics of
// `gcload run --metrics-addr` (gcload-dashboard.json: import it in Grafana,
// or provision it, with a Prometheus data source that scrapes the run; see
// docs/reports.md) and reads the PromQL queries out of it, so that tests
// can check them against the exporter and a real Prometheus.
package grafana

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// FileName is the dashboard's file name in deploy/grafana.
const FileName = "gcload-dashboard.json"

// Dashboard is the dashboard JSON.
//
//go:embed gcload-dashboard.json
var Dashboard []byte

// Query is one PromQL query of the dashboard: a panel target's expression,
// or the series selector a template variable takes its values from.
type Query struct {
	Where string // "panel <title> target <refId>" or "variable <name>"
	Expr  string // as written, with Grafana's $variables
}

type panel struct {
	Title   string  `json:"title"`
	Type    string  `json:"type"`
	Repeat  string  `json:"repeat"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Query      json.RawMessage `json:"query"`
			Definition string          `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

// labelValues matches Grafana's label_values(SELECTOR, LABEL) variable
// query.
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

// Queries returns every query of a dashboard (Dashboard when b is nil):
// each panel target's expression, rows' panels included, then each query
// variable's selector. A panel target without an expression, or a query
// variable that is not label_values(SELECTOR, LABEL), is an error.
func Queries(b []byte) ([]Query, error) {
	if b == nil {
		b = Dashboard
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("grafana: %s: %w", FileName, err)
	}
	if d.Title == "" || d.UID == "" {
		return nil, fmt.Errorf("grafana: %s: no title or uid", FileName)
	}
	var out []Query
	var walk func(ps []panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			if p.Type != "row" && len(p.Targets) == 0 {
				return fmt.Errorf("grafana: %s: panel %q has no query", FileName, p.Title)
			}
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					return fmt.Errorf("grafana: %s: panel %q target %s has no expression", FileName, p.Title, t.RefID)
				}
				out = append(out, Query{Where: fmt.Sprintf("panel %q target %s", p.Title, t.RefID), Expr: t.Expr})
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			return nil, fmt.Errorf("grafana: %s: variable %s: want label_values(SELECTOR, LABEL), got %q", FileName, v.Name, v.Definition)
		}
		out = append(out, Query{Where: "variable " + v.Name, Expr: m[1]})
	}
	return out, nil
}

// Expand replaces Grafana's variables in expr ($name, ${name} and
// [[name]]) by vars[name]; it fails on a variable vars does not give.
// $__rate_interval and the other built-ins are variables like any other.
func Expand(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := varRE.ReplaceAllStringFunc(expr, func(m string) string {
		name := strings.Trim(m, "${}[]")
		if v, ok := vars[name]; ok {
			return v
		}
		missing = append(missing, name)
		return m
	})
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", fmt.Errorf("grafana: no value for $%s in %q", strings.Join(missing, ", $"), expr)
	}
	return out, nil
}

var varRE = regexp.MustCompile(`\$\{[A-Za-z0-9_]+\}|\$[A-Za-z0-9_]+|\[\[[A-Za-z0-9_]+\]\]`)
