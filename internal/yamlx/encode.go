package yamlx

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"

	"gopkg.in/yaml.v3"
)

var marshalerType = reflect.TypeFor[yaml.Marshaler]()

// Marshal encodes v as YAML in the shape Decode reads: struct fields in
// declaration order under their yaml keys, ",inline" structs flattened,
// nil pointers and zero-valued non-pointer fields left out (a non-nil
// pointer is kept even when it points at a zero value), and MarshalYAML
// used where a type has it. Indentation is two spaces.
func Marshal(v any) ([]byte, error) {
	rv := reflect.ValueOf(v)
	if rv.IsValid() && rv.Kind() != reflect.Pointer {
		p := reflect.New(rv.Type())
		p.Elem().Set(rv)
		rv = p.Elem()
	}
	n, err := encode(rv, 0)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	return buf.Bytes(), nil
}

func nullNode() *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"} }

func encode(v reflect.Value, depth int) (*yaml.Node, error) {
	if depth > 100 {
		return nil, fmt.Errorf("encode yaml: value nested too deeply (a cycle?)")
	}
	if !v.IsValid() {
		return nullNode(), nil
	}
	if m, ok := marshaler(v); ok {
		r, err := m.MarshalYAML()
		if err != nil {
			return nil, err
		}
		if n, ok := r.(*yaml.Node); ok {
			return n, nil
		}
		var n yaml.Node
		if err := n.Encode(r); err != nil {
			return nil, err
		}
		return &n, nil
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nullNode(), nil
		}
		return encode(v.Elem(), depth+1)
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		for _, f := range Fields(v.Type()) {
			fv, ok := lookupField(v, f.Index)
			if !ok || omit(fv) {
				continue
			}
			c, err := encode(fv, depth+1)
			if err != nil {
				return nil, err
			}
			if c.Kind == yaml.MappingNode && len(c.Content) == 0 && fv.Kind() != reflect.Pointer {
				continue
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.Name}, c)
		}
		return n, nil
	case reflect.Slice, reflect.Array:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := range v.Len() {
			c, err := encode(v.Index(i), depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			kn, err := encode(k, depth+1)
			if err != nil {
				return nil, err
			}
			c, err := encode(v.MapIndex(k), depth+1)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, kn, c)
		}
		return n, nil
	}
	var n yaml.Node
	if err := n.Encode(v.Interface()); err != nil {
		return nil, err
	}
	return &n, nil
}

// marshaler returns v's yaml.Marshaler, through its address when the
// method has a pointer receiver.
func marshaler(v reflect.Value) (yaml.Marshaler, bool) {
	if v.Kind() == reflect.Pointer && v.IsNil() || v.Kind() == reflect.Interface {
		return nil, false
	}
	if v.Type().Implements(marshalerType) && v.CanInterface() {
		return v.Interface().(yaml.Marshaler), true
	}
	if v.CanAddr() && v.Addr().Type().Implements(marshalerType) && v.Addr().CanInterface() {
		return v.Addr().Interface().(yaml.Marshaler), true
	}
	return nil, false
}

// lookupField is v.FieldByIndex, failing (instead of panicking) on an
// embedded nil pointer.
func lookupField(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// omit reports whether a struct field is left out: nil pointers, empty
// lists and maps, zero values.
func omit(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return v.IsZero()
}
