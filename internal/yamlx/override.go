package yamlx

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// segment is one step of an override key: a name, or a list index.
type segment struct {
	name  string
	index int // -1 for a name
}

// parseKey splits "phases[1].posts.rate" or "phases.steady.duration" into
// segments.
func parseKey(key string) ([]segment, error) {
	var segs []segment
	for part := range strings.SplitSeq(key, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if rest != "" || strings.HasSuffix(part, "[") {
			rest = "[" + rest
		}
		if strings.ContainsAny(name, "]= \t") {
			return nil, fmt.Errorf("%s is not a field path (want a.b, a[1].b or a.NAME.b)", quote(key))
		}
		if name == "" && (rest == "" || len(segs) == 0) {
			return nil, fmt.Errorf("%s is not a field path (empty segment)", quote(key))
		}
		if name != "" {
			segs = append(segs, segment{name: name, index: -1})
		}
		for rest != "" {
			end := strings.IndexByte(rest, ']')
			if rest[0] != '[' || end < 0 {
				return nil, fmt.Errorf("%s is not a field path (unbalanced [ ])", quote(key))
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 {
				return nil, fmt.Errorf("%s is not a field path (bad index %s)", quote(key), quote(rest[1:end]))
			}
			segs = append(segs, segment{index: i})
			rest = rest[end+1:]
		}
	}
	return segs, nil
}

// parseValue parses an override value as a YAML scalar or collection; an
// empty value is null.
func parseValue(value string) (n *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("yaml parser failed: %v", r)
		}
	}()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(value), &doc); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}, nil
	}
	return doc.Content[0], nil
}

// mark records that n and everything under it came from an override.
func (d *decoder) mark(n *yaml.Node, label string) {
	d.set[n] = label
	for _, c := range n.Content {
		d.mark(c, label)
	}
}

// newNode makes a node created by an override.
func (d *decoder) newNode(kind yaml.Kind, value, label string) *yaml.Node {
	n := &yaml.Node{Kind: kind, Value: value}
	switch kind {
	case yaml.MappingNode:
		n.Tag = "!!map"
	case yaml.SequenceNode:
		n.Tag = "!!seq"
	default:
		n.Tag = "!!str"
	}
	d.set[n] = label
	return n
}

// override applies one KEY=VALUE to the document and returns its root
// (a new one when the document was empty or null).
func (d *decoder) override(root *yaml.Node, kv string) *yaml.Node {
	key, value, ok := strings.Cut(kv, "=")
	key = strings.TrimSpace(key)
	if !ok || key == "" {
		d.errs = append(d.errs, &Error{Pos: "--set " + kv, Msg: "want KEY=VALUE"})
		return root
	}
	label := "--set " + key
	fail := func(path, format string, args ...any) *yaml.Node {
		d.errs = append(d.errs, &Error{Pos: label, Field: path, Msg: fmt.Sprintf(format, args...)})
		return root
	}
	segs, err := parseKey(key)
	if err != nil {
		return fail("", "%s", err)
	}
	val, err := parseValue(value)
	if err != nil {
		return fail("", "invalid value %s: %s", quote(value), err)
	}
	d.mark(val, label)
	if isNull(root) {
		root = d.newNode(yaml.MappingNode, "", label)
	}
	// container makes the collection the segment after i steps into.
	container := func(i int) *yaml.Node {
		if segs[i+1].index >= 0 {
			return d.newNode(yaml.SequenceNode, "", label)
		}
		return d.newNode(yaml.MappingNode, "", label)
	}
	cur, path := root, ""
	for i, s := range segs {
		last := i == len(segs)-1
		if cur = d.resolve(cur, path); cur == nil {
			return root
		}
		// slot is the place the segment names: its value is *slot.
		var slot **yaml.Node
		switch {
		case cur.Kind == yaml.SequenceNode && s.index < 0:
			j := elementNamed(d, cur, s.name)
			if j < 0 {
				if n, err := strconv.Atoi(s.name); err == nil && n >= 0 {
					j = n
				}
			}
			if j < 0 || j >= len(cur.Content) {
				return fail(path, "no element is named %s (names: %s)", quote(s.name), strings.Join(elementNames(d, cur), ", "))
			}
			path = Index(path, j)
			slot = &cur.Content[j]
		case s.index >= 0:
			if cur.Kind != yaml.SequenceNode {
				return fail(path, "not a list (it is %s), cannot take [%d]", Describe(cur), s.index)
			}
			path = Index(path, s.index)
			switch {
			case s.index < len(cur.Content):
				slot = &cur.Content[s.index]
			case s.index == len(cur.Content) && last:
				cur.Content = append(cur.Content, val)
				return root
			default:
				return fail(path, "index out of range (the list has %d elements)", len(cur.Content))
			}
		case cur.Kind == yaml.MappingNode:
			path = Join(path, s.name)
			for j := 0; slot == nil && j+1 < len(cur.Content); j += 2 {
				if k := d.resolve(cur.Content[j], path); k != nil && k.Kind == yaml.ScalarNode && k.Value == s.name {
					slot = &cur.Content[j+1]
				}
			}
			if slot == nil {
				cur.Content = append(cur.Content, d.newNode(yaml.ScalarNode, s.name, label), nil)
				slot = &cur.Content[len(cur.Content)-1]
				if last {
					*slot = val
					return root
				}
				*slot = container(i)
			}
		default:
			return fail(path, "not a mapping (it is %s), cannot set %s", Describe(cur), quote(s.name))
		}
		if last {
			*slot = val
			return root
		}
		if next := d.resolve(*slot, path); next != nil && isNull(next) {
			*slot = container(i)
		}
		cur = *slot
	}
	return root
}

// elementNamed returns the index of the element of list whose name field
// is name, or -1.
func elementNamed(d *decoder, list *yaml.Node, name string) int {
	for j, e := range list.Content {
		if nameOf(d, e) == name {
			return j
		}
	}
	return -1
}

func elementNames(d *decoder, list *yaml.Node) []string {
	var names []string
	for _, e := range list.Content {
		if n := nameOf(d, e); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return []string{"none"}
	}
	return names
}

func nameOf(d *decoder, e *yaml.Node) string {
	e = d.resolve(e, "")
	if e == nil || e.Kind != yaml.MappingNode {
		return ""
	}
	for j := 0; j+1 < len(e.Content); j += 2 {
		if e.Content[j].Value == "name" {
			if v := d.resolve(e.Content[j+1], ""); v != nil && v.Kind == yaml.ScalarNode {
				return v.Value
			}
		}
	}
	return ""
}
