package scenarios_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gcload/gcload/internal/yamlx"
	"github.com/gcload/gcload/scenarios"
)

// schema is a JSON Schema object.
type schema map[string]any

func loadSchema(t *testing.T) schema {
	t.Helper()
	var s schema
	if err := json.Unmarshal(scenarios.Schema(), &s); err != nil {
		t.Fatal(err)
	}
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", s["$schema"])
	}
	return s
}

// resolve follows a "$ref": "#/$defs/NAME".
func (root schema) resolve(s schema) schema {
	for {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		if !ok {
			panic("unsupported $ref " + ref)
		}
		s = schema(root["$defs"].(map[string]any)[name].(map[string]any))
	}
}

func (s schema) sub(key string) schema {
	m, _ := s[key].(map[string]any)
	return schema(m)
}

var unmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// TestSchemaCoversSpec checks that every yaml field of Spec is in the
// schema, and the schema allows nothing else.
func TestSchemaCoversSpec(t *testing.T) {
	root := loadSchema(t)
	var walk func(ty reflect.Type, s schema, path string)
	walk = func(ty reflect.Type, s schema, path string) {
		s = root.resolve(s)
		for ty.Kind() == reflect.Pointer {
			ty = ty.Elem()
		}
		if reflect.PointerTo(ty).Implements(unmarshaler) {
			return
		}
		switch ty.Kind() {
		case reflect.Struct:
			if s["additionalProperties"] != false {
				t.Errorf("%s: schema allows additional properties", path)
			}
			props := s.sub("properties")
			var fields []string
			for _, f := range yamlx.Fields(ty) {
				fields = append(fields, f.Name)
				p := props.sub(f.Name)
				if p == nil {
					t.Errorf("%s: schema lacks %s", path, yamlx.Join(path, f.Name))
					continue
				}
				walk(f.Type, p, yamlx.Join(path, f.Name))
			}
			for name := range props {
				if !slices.Contains(fields, name) {
					t.Errorf("%s: schema has %s, Spec does not", path, yamlx.Join(path, name))
				}
			}
		case reflect.Slice:
			if s["type"] != "array" || s.sub("items") == nil {
				t.Errorf("%s: schema is not an array with items", path)
				return
			}
			walk(ty.Elem(), s.sub("items"), path+"[]")
		}
	}
	walk(reflect.TypeFor[scenarios.Spec](), root, "")
}

// check validates a YAML node against a schema with the few keywords the
// scenario schema uses.
func (root schema) check(n *yaml.Node, s schema, path string) []string {
	s = root.resolve(s)
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	var errs []string
	fail := func(format string, args ...any) {
		errs = append(errs, path+": "+fmt.Sprintf(format, args...))
	}
	if anyOf, ok := s["anyOf"].([]any); ok {
		for _, b := range anyOf {
			if len(root.check(n, schema(b.(map[string]any)), path)) == 0 {
				return nil
			}
		}
		fail("matches no anyOf branch")
		return errs
	}
	tag := n.ShortTag()
	switch s["type"] {
	case "object":
		if n.Kind != yaml.MappingNode {
			fail("want an object")
			return errs
		}
	case "array":
		if n.Kind != yaml.SequenceNode {
			fail("want an array")
			return errs
		}
	case "string":
		if tag != "!!str" {
			fail("want a string, got %s", tag)
		}
	case "integer":
		if tag != "!!int" {
			fail("want an integer, got %s", tag)
		}
	case "number":
		if tag != "!!int" && tag != "!!float" {
			fail("want a number, got %s", tag)
		}
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(v any) bool { return fmt.Sprint(v) == n.Value }) {
		fail("%q not in %v", n.Value, enum)
	}
	if p, ok := s["pattern"].(string); ok && n.Kind == yaml.ScalarNode && !regexp.MustCompile(p).MatchString(n.Value) {
		fail("%q does not match %s", n.Value, p)
	}
	switch n.Kind {
	case yaml.MappingNode:
		props := s.sub("properties")
		var keys []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			keys = append(keys, k)
			p := props.sub(k)
			if p == nil {
				if s["additionalProperties"] == false {
					fail("key %q not allowed", k)
				}
				continue
			}
			errs = append(errs, root.check(n.Content[i+1], p, yamlx.Join(path, k))...)
		}
		req, _ := s["required"].([]any)
		for _, r := range req {
			if !slices.Contains(keys, r.(string)) {
				fail("required key %q missing", r)
			}
		}
	case yaml.SequenceNode:
		if items := s.sub("items"); items != nil {
			for i, e := range n.Content {
				errs = append(errs, root.check(e, items, yamlx.Index(path, i))...)
			}
		}
	}
	return errs
}

func TestSchemaAllowsShipped(t *testing.T) {
	root := loadSchema(t)
	for _, name := range scenarios.Shipped() {
		var doc yaml.Node
		if err := yaml.Unmarshal(must(scenarios.ShippedFile(name)), &doc); err != nil {
			t.Fatal(err)
		}
		if errs := root.check(&doc, root, ""); len(errs) > 0 {
			t.Errorf("%s:\n%s", name, strings.Join(errs, "\n"))
		}
		// The spec as run (defaults filled) too.
		s, _, _ := scenarios.Load(name, nil)
		if err := yaml.Unmarshal(must(s.YAML()), &doc); err != nil {
			t.Fatal(err)
		}
		if errs := root.check(&doc, root, ""); len(errs) > 0 {
			t.Errorf("%s as run:\n%s", name, strings.Join(errs, "\n"))
		}
	}
}

func TestSchemaRejects(t *testing.T) {
	root := loadSchema(t)
	for _, tt := range []struct{ doc, want string }{
		{base + "user: 3\n", `: key "user" not allowed`},
		{edit(t, "rate: 1/s", "rate: fast"), "phases[1].posts.rate: matches no anyOf branch"},
		{edit(t, "duration: 1s", "duration: 30"), "phases[1].duration: want a string"},
		{base + "transport: sctp\n", `transport: "sctp" not in`},
		{edit(t, "{count: 10}", "{}"), `users: required key "count" missing`},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tt.doc), &doc); err != nil {
			t.Fatal(err)
		}
		errs := root.check(&doc, root, "")
		sort.Strings(errs)
		if !slices.ContainsFunc(errs, func(e string) bool { return strings.HasPrefix(e, tt.want) }) {
			t.Errorf("schema check of\n%s\n= %q, want %q", tt.doc, errs, tt.want)
		}
	}
}
