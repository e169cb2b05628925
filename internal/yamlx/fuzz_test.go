package yamlx_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gcload/gcload/internal/yamlx"
)

// FuzzDecode checks that Decode never panics, whatever the document and
// overrides, and that every problem is a positioned *yamlx.Error.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(full), "")
	f.Add([]byte("items: [{name: a}, {name: b}]\n"), "items.b.size=3\nitems[2]={name: c}")
	f.Add([]byte("sub: &s\n  deep: *s\n"), "sub.deep.x=1")
	f.Add([]byte("a: &a [x]\nb: [*a, *a]\n"), "")
	f.Add([]byte("<<: {name: x}\n"), "name")
	f.Fuzz(func(t *testing.T, data []byte, set string) {
		var overrides []string
		if set != "" {
			overrides = strings.Split(set, "\n")
		}
		var c Config
		pos, errs := yamlx.Decode("fuzz.yaml", data, &c, overrides)
		if pos == nil {
			t.Fatal("nil Positions")
		}
		_ = pos.At("items[0].name")
		for _, e := range errs {
			var ye *yamlx.Error
			if !errors.As(e, &ye) || ye.Msg == "" {
				t.Fatalf("problem %q is not a positioned *yamlx.Error", e)
			}
		}
		if len(errs) == 0 {
			if _, err := yamlx.Marshal(&c); err != nil && c.Any == nil {
				t.Fatalf("marshal: %v", err)
			}
		}
	})
}
