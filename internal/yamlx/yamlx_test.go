package yamlx_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gcload/gcload/internal/yamlx"
)

// Dur is a custom scalar, like scenarios.Duration.
type Dur time.Duration

func (d *Dur) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a duration")
	}
	x, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration", n.Value)
	}
	*d = Dur(x)
	return nil
}

func (d Dur) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

type Base struct {
	Weight int `yaml:"weight"`
	Every  Dur `yaml:"every"`
}

type Item struct {
	Name string `yaml:"name"`
	Base `yaml:",inline"`
	Size int `yaml:"size"`
}

type Deep struct {
	X int `yaml:"x"`
}

type Sub struct {
	Level int   `yaml:"level"`
	Deep  *Deep `yaml:"deep"`
}

type Config struct {
	Name    string            `yaml:"name"`
	Count   int               `yaml:"count"`
	Ratio   float64           `yaml:"ratio"`
	On      bool              `yaml:"on"`
	Small   int8              `yaml:"small"`
	Unsig   uint              `yaml:"unsig"`
	Timeout Dur               `yaml:"timeout"`
	Sub     Sub               `yaml:"sub"`
	Opt     *Sub              `yaml:"opt"`
	Items   []Item            `yaml:"items"`
	Tags    map[string]string `yaml:"tags"`
	List    []string          `yaml:"list"`
	Any     any               `yaml:"any"`
	Ignored string            `yaml:"-"`
	Plain   int               // key "plain"
}

const full = `name: demo
count: 3
ratio: 0.5
on: true
small: -5
unsig: 7
timeout: 1m30s
sub:
  level: 2
  deep: {x: 9}
opt: {level: 1}
items:
  - name: a
    weight: 1
    every: 1s
    size: 10
  - name: b
    size: 20
tags: {k: v}
list: [x, "y"]
any: {a: [1, 2]}
plain: 4
`

func TestDecodeFull(t *testing.T) {
	var got Config
	pos, errs := yamlx.Decode("f.yaml", []byte(full), &got, nil)
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := Config{
		Name: "demo", Count: 3, Ratio: 0.5, On: true, Small: -5, Unsig: 7,
		Timeout: Dur(90 * time.Second),
		Sub:     Sub{Level: 2, Deep: &Deep{X: 9}},
		Opt:     &Sub{Level: 1},
		Items: []Item{
			{Name: "a", Base: Base{Weight: 1, Every: Dur(time.Second)}, Size: 10},
			{Name: "b", Size: 20},
		},
		Tags:  map[string]string{"k": "v"},
		List:  []string{"x", "y"},
		Any:   map[string]any{"a": []any{1, 2}},
		Plain: 4,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for path, at := range map[string]string{
		"":               "f.yaml:1",
		"count":          "f.yaml:2",
		"sub.deep.x":     "f.yaml:10",
		"items[1]":       "f.yaml:17",
		"items[1].size":  "f.yaml:18",
		"items[0].every": "f.yaml:15",
		"tags.k":         "f.yaml:19",
		"list[1]":        "f.yaml:20",
	} {
		if got := pos.At(path); got != at {
			t.Errorf("At(%q) = %q, want %q", path, got, at)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown key with suggestion", "name: a\ncont: 3\n",
			[]string{`f.yaml:2: cont: unknown key "cont", did you mean "count"? (known keys: name, count, ratio, on, small, unsig, timeout, sub, opt, items, tags, list, any, plain)`}},
		{"unknown key in list element lists inline keys", "items:\n  - name: a\n    colour: red\n",
			[]string{`f.yaml:3: items[0].colour: unknown key "colour" (known keys: name, weight, every, size)`}},
		{"yaml:- field is unknown", "ignored: x\n",
			[]string{`f.yaml:1: ignored: unknown key "ignored"`}},
		{"not an integer", "count: ten\n", []string{`f.yaml:1: count: "ten" is not an integer`}},
		{"float for integer", "count: 1.5\n", []string{`f.yaml:1: count: "1.5" is not an integer`}},
		{"out of range", "small: 300\n", []string{`f.yaml:1: small: 300 is out of range for int8`}},
		{"negative unsigned", "unsig: -1\n", []string{`f.yaml:1: unsig: -1 is out of range (want a non-negative integer)`}},
		{"not a number", "ratio: half\n", []string{`f.yaml:1: ratio: "half" is not a number`}},
		{"not a boolean", "on: yes\n", []string{`f.yaml:1: on: "yes" is not a boolean (want true or false)`}},
		{"list for string", "name: [a]\n", []string{`f.yaml:1: name: want a string, got a list`}},
		{"scalar for mapping", "sub: 3\n", []string{`f.yaml:1: sub: want a mapping, got "3"`}},
		{"scalar for list", "items: x\n", []string{`f.yaml:1: items: want a list, got "x"`}},
		{"mapping for list", "list:\n  a: b\n", []string{`f.yaml:2: list: want a list, got a mapping`}},
		{"custom value", "timeout: soon\n", []string{`f.yaml:1: timeout: "soon" is not a duration`}},
		{"custom value inline", "items:\n  - every: 5\n", []string{`f.yaml:2: items[0].every: "5" is not a duration`}},
		{"duplicate key", "count: 1\nname: a\ncount: 2\n", []string{`f.yaml:3: count: duplicate key (first given at f.yaml:1)`}},
		{"non-string key", "[a]: 1\n", []string{`f.yaml:1: want a string key, got a list`}},
		{"syntax error", "name: a\n  count: 1\n", []string{`f.yaml:2: mapping values are not allowed in this context`}},
		{"parser error line", "name: a\nlist: [a, b\ncount: 1\n", []string{`f.yaml:2: did not find expected ',' or ']'`}},
		{"unknown anchor", "name: a\nsub: *nope\n", []string{`f.yaml:2: unknown anchor 'nope' referenced`}},
		{"two documents", "name: a\n---\nname: b\n", []string{`f.yaml:2: more than one YAML document (want one)`}},
		{"top level not a mapping", "- a\n", []string{`f.yaml:1: want a mapping, got a list`}},
		{"alias cycle", "sub: &s\n  deep: *s\n", []string{`f.yaml:2: sub.deep: alias refers to a value containing itself`}},
		{"merge cycle", "sub: &s\n  <<: *s\n", []string{`f.yaml:2: sub: merge refers to a mapping containing itself`}},
		{"bad merge", "sub:\n  <<: 3\n", []string{`f.yaml:2: sub: a merge (<<) takes a mapping or a list of mappings, got "3"`}},
		{"keeps going", "name: [a]\ncount: x\nsub: {level: y, deep: {x: z}}\nitems: [{nam: a}, {size: q}]\non: 2\n", []string{
			`f.yaml:1: name: want a string, got a list`,
			`f.yaml:2: count: "x" is not an integer`,
			`f.yaml:3: sub.level: "y" is not an integer`,
			`f.yaml:3: sub.deep.x: "z" is not an integer`,
			`f.yaml:4: items[0].nam: unknown key "nam", did you mean "name"? (known keys: name, weight, every, size)`,
			`f.yaml:4: items[1].size: "q" is not an integer`,
			`f.yaml:5: on: "2" is not a boolean (want true or false)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			_, errs := yamlx.Decode("f.yaml", []byte(tt.yaml), &c, nil)
			got := messages(errs)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors:\n%s\nwant %d:\n%s", len(got), strings.Join(got, "\n"), len(tt.want), strings.Join(tt.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %d:\n got %s\nwant %s", i, got[i], tt.want[i])
				}
			}
			for _, e := range errs {
				var ye *yamlx.Error
				if !errors.As(e, &ye) {
					t.Errorf("%v is %T, want *yamlx.Error", e, e)
				}
			}
		})
	}
}

func messages(errs []error) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

func TestDecodeMergeAndAliases(t *testing.T) {
	doc := `base: &b {weight: 3, every: 2s}
items:
  - <<: *b
    name: a
    weight: 5
  - {<<: [*b], name: b}
list: &l [x, y]
`
	type withBase struct {
		Base  any      `yaml:"base"`
		Items []Item   `yaml:"items"`
		List  []string `yaml:"list"`
	}
	var got withBase
	if _, errs := yamlx.Decode("f.yaml", []byte(doc), &got, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	want := []Item{
		{Name: "a", Base: Base{Weight: 5, Every: Dur(2 * time.Second)}},
		{Name: "b", Base: Base{Weight: 3, Every: Dur(2 * time.Second)}},
	}
	if !reflect.DeepEqual(got.Items, want) {
		t.Errorf("items = %+v, want %+v", got.Items, want)
	}
}

func TestDecodeAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	var out map[string]any
	start := time.Now()
	_, errs := yamlx.Decode("bomb.yaml", []byte(b.String()), &out, nil)
	if len(errs) == 0 {
		t.Fatal("no error for an alias bomb")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestDecodeNull(t *testing.T) {
	c := Config{Name: "keep", Opt: &Sub{Level: 1}}
	if _, errs := yamlx.Decode("f.yaml", []byte("name: ~\nopt: null\n"), &c, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	if c.Name != "" || c.Opt != nil {
		t.Errorf("null left name=%q opt=%v", c.Name, c.Opt)
	}
	for _, doc := range []string{"", "# only a comment\n", "---\n"} {
		var c Config
		pos, errs := yamlx.Decode("e.yaml", []byte(doc), &c, nil)
		if len(errs) > 0 {
			t.Errorf("%q: %v", doc, errs)
		}
		if got := pos.At("users.count"); !strings.HasPrefix(got, "e.yaml") {
			t.Errorf("%q: At = %q", doc, got)
		}
	}
}

func TestDecodeBadTarget(t *testing.T) {
	var c Config
	if _, errs := yamlx.Decode("f.yaml", nil, c, nil); len(errs) != 1 {
		t.Errorf("decoding into a non-pointer: %v", errs)
	}
}

func TestOverrides(t *testing.T) {
	base := `name: demo
items:
  - name: a
    size: 1
  - name: b
    size: 2
`
	tests := []struct {
		name string
		set  []string
		want func(*Config)
		pos  map[string]string
	}{
		{"scalar", []string{"count=7"}, func(c *Config) { c.Count = 7 },
			map[string]string{"count": "--set count", "name": "f.yaml:1"}},
		{"replace", []string{"name=other"}, func(c *Config) { c.Name = "other" },
			map[string]string{"name": "--set name"}},
		{"by index", []string{"items[1].size=5"}, func(c *Config) { c.Items[1].Size = 5 },
			map[string]string{"items[1].size": "--set items[1].size", "items[1]": "f.yaml:5"}},
		{"by name", []string{"items.b.size=6"}, func(c *Config) { c.Items[1].Size = 6 },
			map[string]string{"items[1].size": "--set items.b.size"}},
		{"by name, new key in element", []string{"items.a.weight=4"}, func(c *Config) { c.Items[0].Weight = 4 },
			map[string]string{"items[0].weight": "--set items.a.weight"}},
		{"creates intermediates", []string{"sub.deep.x=3"}, func(c *Config) { c.Sub.Deep = &Deep{X: 3} },
			map[string]string{"sub.deep.x": "--set sub.deep.x", "sub": "--set sub.deep.x"}},
		{"flow list", []string{`list=["a == 1", b]`}, func(c *Config) { c.List = []string{"a == 1", "b"} },
			map[string]string{"list[0]": "--set list"}},
		{"flow mapping", []string{"opt={level: 2}"}, func(c *Config) { c.Opt = &Sub{Level: 2} }, nil},
		{"append", []string{"items[2]={name: c}"}, func(c *Config) { c.Items = append(c.Items, Item{Name: "c"}) }, nil},
		{"empty value is null", []string{"name="}, func(c *Config) { c.Name = "" }, nil},
		{"later wins", []string{"count=1", "count=2"}, func(c *Config) { c.Count = 2 }, nil},
		{"custom type", []string{"items.a.every=3s"}, func(c *Config) { c.Items[0].Every = Dur(3 * time.Second) }, nil},
		{"map key", []string{"tags.k=v"}, func(c *Config) { c.Tags = map[string]string{"k": "v"} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got, want Config
			if _, errs := yamlx.Decode("f.yaml", []byte(base), &want, nil); len(errs) > 0 {
				t.Fatal(errs)
			}
			tt.want(&want)
			pos, errs := yamlx.Decode("f.yaml", []byte(base), &got, tt.set)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
			for path, at := range tt.pos {
				if g := pos.At(path); g != at {
					t.Errorf("At(%q) = %q, want %q", path, g, at)
				}
			}
		})
	}
}

func TestOverrideOnEmptyDocument(t *testing.T) {
	var c Config
	if _, errs := yamlx.Decode("f.yaml", nil, &c, []string{"sub.deep.x=1", "name=n"}); len(errs) > 0 {
		t.Fatal(errs)
	}
	if c.Sub.Deep == nil || c.Sub.Deep.X != 1 || c.Name != "n" {
		t.Errorf("got %+v", c)
	}
}

func TestOverrideErrors(t *testing.T) {
	base := "name: demo\nitems:\n  - name: a\n"
	tests := []struct {
		set  string
		want string
	}{
		{"count", `--set count: want KEY=VALUE`},
		{"=3", `--set =3: want KEY=VALUE`},
		{"cont=3", `--set cont: cont: unknown key "cont", did you mean "count"?`},
		{"items.a.colour=red", `--set items.a.colour: items[0].colour: unknown key "colour"`},
		{"count=ten", `--set count: count: "ten" is not an integer`},
		{"items.a.every=5", `--set items.a.every: items[0].every: "5" is not a duration`},
		{"items.z.size=1", `--set items.z.size: items: no element is named "z" (names: a)`},
		{"items[3].size=1", `--set items[3].size: items[3]: index out of range (the list has 1 elements)`},
		{"name.x=1", `--set name.x: name: not a mapping (it is "demo"), cannot set "x"`},
		{"name[0]=1", `--set name[0]: name: not a list (it is "demo"), cannot take [0]`},
		{"sub[0]=1", `--set sub[0]: sub: want a mapping, got a list`},
		{"items[x]=1", `--set items[x]: "items[x]" is not a field path (bad index "x")`},
		{"a..b=1", `--set a..b: "a..b" is not a field path (empty segment)`},
		{"count=[1", `--set count: invalid value "[1":`},
	}
	for _, tt := range tests {
		t.Run(tt.set, func(t *testing.T) {
			var c Config
			_, errs := yamlx.Decode("f.yaml", []byte(base), &c, []string{tt.set})
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), tt.want) {
				t.Errorf("errors:\n%s\nwant one starting %s", strings.Join(messages(errs), "\n"), tt.want)
			}
		})
	}
}

func TestPositions(t *testing.T) {
	var c Config
	pos, errs := yamlx.Decode("p.yaml", []byte("name: a\nsub:\n  level: 1\nitems:\n  - name: x\n"), &c, []string{"count=2"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	tests := []struct{ path, want string }{
		{"", "p.yaml:1"},
		{"name", "p.yaml:1"},
		{"sub", "p.yaml:2"},
		{"sub.level", "p.yaml:3"},
		{"sub.deep.x", "p.yaml:2"}, // nearest ancestor
		{"items[0].size", "p.yaml:5"},
		{"items[4].size", "p.yaml:4"},
		{"count", "--set count"},
		{"nothing.at.all", "p.yaml:1"},
	}
	for _, tt := range tests {
		if got := pos.At(tt.path); got != tt.want {
			t.Errorf("At(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	if !pos.Has("sub.level") || pos.Has("sub.deep") {
		t.Error("Has")
	}
	if got := pos.Errorf("sub.deep", "missing").Error(); got != "p.yaml:2: sub.deep: missing" {
		t.Errorf("Errorf = %q", got)
	}
	var none *yamlx.Positions
	if none.At("x") != "" || none.Has("x") || none.Errorf("x.y", "bad %d", 1).Error() != "x.y: bad 1" {
		t.Error("nil Positions")
	}
}

func TestPathHelpers(t *testing.T) {
	for path, want := range map[string]string{
		"a.b[1].c": "a.b[1]", "a.b[1]": "a.b", "a": "", "": "", "a[0][1]": "a[0]",
	} {
		if got := yamlx.Parent(path); got != want {
			t.Errorf("Parent(%q) = %q, want %q", path, got, want)
		}
	}
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"a", "a.b", true}, {"a.b", "a", true}, {"a", "ab", false}, {"a[1]", "a[1].x", true},
		{"a[1]", "a[10]", false}, {"", "x", true}, {"x.y", "x.z", false},
	} {
		if got := yamlx.Related(tt.a, tt.b); got != tt.want {
			t.Errorf("Related(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	var c Config
	if _, errs := yamlx.Decode("f.yaml", []byte(full), &c, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	b, err := yamlx.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	var back Config
	if _, errs := yamlx.Decode("out.yaml", b, &back, nil); len(errs) > 0 {
		t.Fatalf("%v\n%s", errs, b)
	}
	if !reflect.DeepEqual(back, c) {
		t.Errorf("round trip:\n%s\ngot  %+v\nwant %+v", b, back, c)
	}
	// Zero fields are left out; a non-nil pointer to a zero value is kept.
	b, err = yamlx.Marshal(Config{Opt: &Sub{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != "opt: {}\n" {
		t.Errorf("Marshal = %q", got)
	}
}

func TestFields(t *testing.T) {
	var names []string
	for _, f := range yamlx.Fields(reflect.TypeFor[Item]()) {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, " "); got != "name weight every size" {
		t.Errorf("fields = %s", got)
	}
}
