package refserver_test

import (
	"os/exec"
	"strings"
	"testing"
)

// harness are the packages of the tool that tests the server: the
// reference server must not be shaped by them, so nothing under refserver/
// (outside its tests) imports them.
var harness = []string{
	"github.com/gcload/gcload/sipclient",
	"github.com/gcload/gcload/reports",
	"github.com/gcload/gcload/loadrun",
	"github.com/gcload/gcload/coordinate",
	"github.com/gcload/gcload/capacity",
	"github.com/gcload/gcload/cmd/",
}

// TestNoHarnessDeps: go list -deps ./refserver/... names no harness
// package (test files aside: the server's tests drive it with clients).
func TestNoHarnessDeps(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not in PATH")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}`, "github.com/gcload/gcload/refserver/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 5 {
		t.Fatalf("go list listed %d packages:\n%s", len(lines), out)
	}
	for _, line := range lines {
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Fields(imports) {
			for _, h := range harness {
				if imp == h || strings.HasPrefix(imp, strings.TrimSuffix(h, "/")+"/") {
					t.Errorf("%s imports %s, a package of the harness", pkg, imp)
				}
			}
		}
	}
}

// TestHarnessUsesTheAdminAPI: the harness reaches the server's rooms only
// through the admin API's wire types and client: no package of it
// (outside the CLI's serve command and the embedded server, which are the
// server's composition) imports the store or the admin handler, and the
// admin client imports no package of the server but adminapi.
func TestHarnessUsesTheAdminAPI(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("the go command is not in PATH")
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{range .Imports}} {{.}}{{end}}`,
		"github.com/gcload/gcload/sipclient/...", "github.com/gcload/gcload/loadrun/...", "github.com/gcload/gcload/coordinate/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Fields(imports) {
			if imp == "github.com/gcload/gcload/refserver/admin" || strings.HasPrefix(imp, "github.com/gcload/gcload/refserver/store") {
				t.Errorf("%s imports %s: the harness provisions through refserver/adminclient", pkg, imp)
			}
		}
	}
	out, err = exec.Command("go", "list", "-deps", "github.com/gcload/gcload/refserver/adminclient").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/gcload/gcload/") && dep != "github.com/gcload/gcload/refserver/adminclient" && dep != "github.com/gcload/gcload/refserver/adminapi" {
			t.Errorf("refserver/adminclient depends on %s; it may use only refserver/adminapi", dep)
		}
	}
}
