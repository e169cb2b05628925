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
