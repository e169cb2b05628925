// Package fault is the reference server's set of deliberate misbehaviours:
// `gcload serve --misbehave NAME[,NAME]` switches on faults so that tests
// can show each conformance check and each accounting figure catching the
// fault it is about.
package fault

import (
	"fmt"
	"sort"
	"strings"
)

// Name names a fault.
type Name string

// Fault describes one misbehaviour.
type Fault struct {
	Name Name
	// CaughtBy names the result figures (threshold metrics, see
	// docs/results.md) that show the fault.
	CaughtBy []string
	What     string
}

// Faults of the fan-out.
const (
	// DropDeliveries: one delivery in 100 (the 100th, 200th, ... the server
	// sends) is not sent.
	DropDeliveries Name = "drop-deliveries"
	// DuplicateDeliveries: one delivery in 100 (the 50th, 150th, ...) is sent
	// twice.
	DuplicateDeliveries Name = "duplicate-deliveries"
)

var catalog = []Fault{
	{DropDeliveries, []string{"lost"}, "one delivery in 100 (the 100th, 200th, ...) is not sent"},
	{DuplicateDeliveries, []string{"duplicated"}, "one delivery in 100 (the 50th, 150th, ...) is sent twice"},
}

// All lists every fault, sorted by name.
func All() []Fault {
	out := append([]Fault(nil), catalog...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Set is a set of faults switched on; the zero Set has none.
type Set struct{ on map[Name]bool }

// Parse reads a comma-separated list of fault names.
func Parse(list string) (Set, error) {
	var s Set
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !known(Name(f)) {
			names := make([]string, 0, len(catalog))
			for _, c := range All() {
				names = append(names, string(c.Name))
			}
			return Set{}, fmt.Errorf("fault: unknown misbehaviour %q (known: %s)", f, strings.Join(names, ", "))
		}
		s = s.With(Name(f))
	}
	return s, nil
}

func known(n Name) bool {
	for _, c := range catalog {
		if c.Name == n {
			return true
		}
	}
	return false
}

// With returns the set with n switched on as well.
func (s Set) With(n Name) Set {
	m := make(map[Name]bool, len(s.on)+1)
	for k := range s.on {
		m[k] = true
	}
	m[n] = true
	return Set{on: m}
}

// Has reports whether fault n is on.
func (s Set) Has(n Name) bool { return s.on[n] }

// Empty reports whether no fault is on.
func (s Set) Empty() bool { return len(s.on) == 0 }

func (s Set) String() string {
	var names []string
	for n := range s.on {
		names = append(names, string(n))
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}
