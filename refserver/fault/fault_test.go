package fault

import (
	"testing"

	"github.com/gcload/gcload/ruleid"
)

// TestFaultsNameKnownRules: every fault names at least one rule (or a
// load run's figure that catches it), only
// rules package ruleid knows, and every rule has a fault that breaks it
// (so the conformance suite's matrix can prove each rule catches its
// misbehaviour).
func TestFaultsNameKnownRules(t *testing.T) {
	tripped := map[string]bool{}
	for _, f := range All() {
		if len(f.Rules) == 0 && len(f.Figures) == 0 {
			t.Errorf("fault %s names no rule and no figure", f.Name)
		}
		for _, r := range f.Rules {
			if !ruleid.Known(r) {
				t.Errorf("fault %s names rule %q, which package ruleid does not have", f.Name, r)
			}
			tripped[r] = true
		}
	}
	for _, r := range ruleid.All() {
		if !tripped[r] {
			t.Errorf("rule %s has no fault that breaks it", r)
		}
	}
}

func TestParse(t *testing.T) {
	s, err := Parse(" no-echo, drop-deliveries ,")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Has(NoEcho) || !s.Has(DropDeliveries) || s.Has(ChatNoTS) || s.String() != "drop-deliveries,no-echo" {
		t.Fatalf("Parse gave %q", s)
	}
	if _, err := Parse("no-echo,no-such-fault"); err == nil {
		t.Fatal("an unknown fault was accepted")
	}
	if n, ok := IgnoreCommand("part"); !ok || n != IgnorePart {
		t.Fatalf("IgnoreCommand(part) = %q, %v", n, ok)
	}
	if _, ok := IgnoreCommand("join"); ok {
		t.Fatal("IgnoreCommand(join) found a fault")
	}
}
