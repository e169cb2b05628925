package ruleid

import (
	"go/ast"
	"go/constant"
	"go/parser"
	"go/token"
	"go/types"
	"testing"
)

// TestAllListsEveryConstant: every constant of the package is in All
// exactly once, All holds nothing else, and no two constants share an ID
// (a rule has one name).
func TestAllListsEveryConstant(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "ruleid.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	conf := types.Config{}
	pkg, err := conf.Check("ruleid", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]string{} // ID → constant name
	for _, name := range pkg.Scope().Names() {
		c, ok := pkg.Scope().Lookup(name).(*types.Const)
		if !ok {
			continue
		}
		id := constant.StringVal(c.Val())
		if other, dup := byID[id]; dup {
			t.Errorf("rule %q has two names: %s and %s", id, other, name)
		}
		byID[id] = name
	}
	listed := map[string]int{}
	for _, id := range All() {
		listed[id]++
		if _, ok := byID[id]; !ok {
			t.Errorf("All lists %q, which no constant names", id)
		}
		if !Known(id) {
			t.Errorf("Known(%q) = false", id)
		}
	}
	for id, name := range byID {
		if listed[id] != 1 {
			t.Errorf("%s (%q) is listed %d times in All, want once", name, id, listed[id])
		}
	}
	if Known("fanout/nope") || Known("") {
		t.Error("Known accepts an ID no rule has")
	}
}
