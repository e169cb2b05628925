package reports

import (
	"go/ast"
	"go/parser"
	"go/printer"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	glossaryBegin = "<!-- glossary: generated from reports.Glossary, do not edit by hand -->\n"
	glossaryEnd   = "<!-- end of glossary -->"
)

// TestGlossaryInDocs: docs/results.md holds the glossary exactly as
// GlossaryMarkdown renders it (go test -run TestGlossaryInDocs -update
// rewrites it).
func TestGlossaryInDocs(t *testing.T) {
	const path = "../docs/results.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, glossaryBegin), strings.Index(doc, glossaryEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no %q ... %q block", path, glossaryBegin, glossaryEnd)
	}
	want := "\n" + GlossaryMarkdown() + "\n"
	if got := doc[i+len(glossaryBegin) : j]; got != want {
		if *update {
			doc = doc[:i+len(glossaryBegin)] + want + doc[j:]
			if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("the glossary in %s differs from reports.Glossary: run go test ./reports -run TestGlossaryInDocs -update", path)
	}
}

// TestGlossaryCoversMetrics: every metric a threshold may name has its
// glossary entry, and every entry but the gauges is a metric.
func TestGlossaryCoversMetrics(t *testing.T) {
	var names []string
	for _, op := range Ops {
		names = append(names, string(op))
	}
	names = append(names, DeliveryMetrics...)
	names = append(names, UserMetrics...)
	names = append(names, RatioMetrics...)
	names = append(names, CounterMetrics...)
	for _, n := range names {
		if tm, ok := Describe(n); !ok || tm.Name != n {
			t.Errorf("metric %s has no glossary entry of its own", n)
		}
	}
	for _, p := range CounterPrefixes {
		if tm, ok := Describe(p + "x"); !ok || tm.Kind != TermFamily {
			t.Errorf("counter family %s<...> has no glossary entry", p)
		}
	}
	seen := map[string]bool{}
	for _, tm := range Glossary {
		if seen[tm.Name] {
			t.Errorf("%s is twice in the glossary", tm.Name)
		}
		seen[tm.Name] = true
		if tm.What == "" || tm.When == "" {
			t.Errorf("%s: what or when missing", tm.Name)
		}
		name := tm.Name
		switch tm.Kind {
		case TermSearch:
			continue // search.json's fields, checked by the CLI's tests
		case TermGauge:
			if CheckMetric(name) == nil {
				t.Errorf("gauge %s is a threshold metric: give it another kind", name)
			}
			continue
		case TermLatency:
			name += ".p99"
		case TermFamily:
			name = strings.NewReplacer("<code>", "503", "<rule>", "fanout/order", "<op>", "post", "<cause>", "timeout", "<kind>", "post").Replace(name)
			if d, _ := Describe(name); d.Name != tm.Name {
				t.Errorf("%s is described as %q", name, d.Name)
			}
		}
		if err := CheckMetric(name); err != nil {
			t.Errorf("glossary entry %s is not a threshold metric: %v", tm.Name, err)
		}
	}
	for name, want := range map[string]string{"sip.503": "sip.<code>", "errors.post.sip_503": "errors.<op>.<cause>", "errors.join": "errors.<op>",
		"violations.fanout/exactly-once": "violations.<rule>", "dropped.post": "dropped.<kind>", "posts": "posts", "users_online": "users_online"} {
		if got, ok := Describe(name); !ok || got.Name != want {
			t.Errorf("Describe(%q) = %q, %v; want %q", name, got.Name, ok, want)
		}
	}
	for _, name := range []string{"nope", "sip.", "errorsx", "gcload_posts_total"} {
		if got, ok := Describe(name); ok {
			t.Errorf("Describe(%q) = %q, want none", name, got.Name)
		}
	}
}

// TestGlossaryCoversEveryCounter reads the module's code for every
// counter and gauge a run can produce (Recorder.Add and Recorder.Gauge
// calls on a recorder, and counters the summary sets directly) and wants
// a glossary entry for each: a new counter without one fails here.
func TestGlossaryCoversEveryCounter(t *testing.T) {
	consts := map[string]string{} // Counter* constants of this package
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if vs, ok := n.(*ast.ValueSpec); ok {
				for i, id := range vs.Names {
					if strings.HasPrefix(id.Name, "Counter") && i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[id.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
			return true
		})
	}
	if len(consts) < 15 {
		t.Fatalf("found %d Counter constants", len(consts))
	}
	for name, v := range consts {
		if _, ok := Describe(v); !ok {
			t.Errorf("reports.%s (%q) has no glossary entry", name, v)
		}
	}
	// name renders a counter name expression: literals as they are,
	// Counter constants by value, anything else as "x" (a family's
	// variable part); ok is false for expressions that are not names.
	var name func(e ast.Expr) (string, bool)
	name = func(e ast.Expr) (string, bool) {
		switch e := e.(type) {
		case *ast.BasicLit:
			if e.Kind != token.STRING {
				return "", false
			}
			s, err := strconv.Unquote(e.Value)
			return s, err == nil
		case *ast.Ident:
			v, ok := consts[e.Name]
			return v, ok
		case *ast.SelectorExpr:
			if x, ok := e.X.(*ast.Ident); ok && x.Name == "reports" {
				v, ok := consts[e.Sel.Name]
				return v, ok
			}
		case *ast.BinaryExpr:
			if e.Op != token.ADD {
				return "", false
			}
			l, ok := name(e.X)
			if !ok {
				return "", false
			}
			r, ok := name(e.Y)
			if !ok {
				r = "x"
			}
			return l + r, true
		}
		return "", false
	}
	isRecorder := func(e ast.Expr) bool {
		switch e := e.(type) {
		case *ast.Ident:
			return e.Name == "rec"
		case *ast.SelectorExpr:
			return e.Sel.Name == "rec"
		}
		return false
	}
	found := 0
	root := ".."
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (n == "testdata" || n == "refserver" || strings.HasPrefix(n, ".") || fileExists(filepath.Join(path, "go.mod"))) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var expr ast.Expr
			switch n := n.(type) {
			case *ast.CallExpr:
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Add" || sel.Sel.Name == "Gauge") && isRecorder(sel.X) && len(n.Args) == 2 {
					expr = n.Args[0]
				}
			case *ast.AssignStmt:
				// s.Counters["lost"] = ... (not the sums of counters: +=)
				if n.Tok != token.ASSIGN {
					return true
				}
				for _, l := range n.Lhs {
					if ix, ok := l.(*ast.IndexExpr); ok {
						if sel, ok := ix.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "Counters" {
							// a variable as the key copies counters (name, n := range ...)
							if id, ok := ix.Index.(*ast.Ident); !ok || strings.HasPrefix(id.Name, "Counter") {
								expr = ix.Index
							}
						}
					}
				}
			}
			if expr == nil {
				return true
			}
			found++
			c, ok := name(expr)
			if !ok {
				t.Errorf("%s: a counter whose name the test cannot read: %s", fset.Position(expr.Pos()), render(expr))
				return true
			}
			if _, ok := Describe(c); !ok {
				t.Errorf("%s: counter or gauge %q has no glossary entry (reports.Glossary)", fset.Position(expr.Pos()), c)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found < 30 {
		t.Fatalf("found %d counter and gauge uses in the module: the scan is broken", found)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// render renders an expression for an error message.
func render(e ast.Expr) string {
	var b strings.Builder
	_ = printer.Fprint(&b, token.NewFileSet(), e)
	return b.String()
}
