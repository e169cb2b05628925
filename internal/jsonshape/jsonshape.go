// Package jsonshape checks the JSON gcload writes against the Go type it
// was written from: every key of a struct (a field name) must be
// snake_case, and no value that the type makes a list or a map may be
// null (an empty one is written as [] or {}). Map keys are data (operation
// and counter names), not field names: the caller checks them with its
// own function. Values of types with their own MarshalJSON (times,
// numbers written as null when not finite) are not looked into.
package jsonshape

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strings"
)

var snake = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// SnakeCase reports whether s is a snake_case name: lower-case letters
// and digits, words joined by single underscores.
func SnakeCase(s string) bool { return snake.MatchString(s) }

var (
	marshaler     = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// Check decodes data (one JSON value, or JSON lines when lines is true)
// and returns a problem for each struct key that is not snake_case, each
// null where t has a slice or a map, and each JSON key t does not know.
// mapKey, when not nil, is called with each map key and its path and
// returns a problem or "".
func Check(data []byte, t reflect.Type, lines bool, mapKey func(path, key string) string) []string {
	var problems []string
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	for n := 0; ; n++ {
		var v any
		if err := dec.Decode(&v); err != nil {
			if errors.Is(err, io.EOF) && n > 0 {
				break
			}
			return append(problems, fmt.Sprintf("not JSON: %v", err))
		}
		path := "$"
		if lines {
			path = fmt.Sprintf("line %d: $", n+1)
		}
		walk(v, t, path, mapKey, &problems)
		if !lines {
			if dec.More() {
				problems = append(problems, "more than one JSON value")
			}
			break
		}
	}
	return problems
}

func walk(v any, t reflect.Type, path string, mapKey func(path, key string) string, problems *[]string) {
	for t.Kind() == reflect.Pointer {
		if v == nil {
			return // a nil pointer is null by design
		}
		t = t.Elem()
	}
	if t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) {
		return
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if v == nil {
			if t.Kind() == reflect.Slice {
				*problems = append(*problems, path+": null where a list is meant (write [])")
			}
			return
		}
		if t.Elem().Kind() == reflect.Uint8 { // []byte: base64
			return
		}
		list, ok := v.([]any)
		if !ok {
			*problems = append(*problems, fmt.Sprintf("%s: %T where a list is meant", path, v))
			return
		}
		for i, x := range list {
			walk(x, t.Elem(), fmt.Sprintf("%s[%d]", path, i), mapKey, problems)
		}
	case reflect.Map:
		if v == nil {
			*problems = append(*problems, path+": null where an object is meant (write {})")
			return
		}
		m, ok := v.(map[string]any)
		if !ok {
			*problems = append(*problems, fmt.Sprintf("%s: %T where an object is meant", path, v))
			return
		}
		for k, x := range m {
			if mapKey != nil {
				if p := mapKey(path, k); p != "" {
					*problems = append(*problems, fmt.Sprintf("%s: key %q: %s", path, k, p))
				}
			}
			walk(x, t.Elem(), path+"."+k, mapKey, problems)
		}
	case reflect.Struct:
		if t.Implements(textMarshaler) {
			return
		}
		m, ok := v.(map[string]any)
		if !ok {
			if v != nil {
				*problems = append(*problems, fmt.Sprintf("%s: %T where an object is meant", path, v))
			}
			return
		}
		fields := map[string]reflect.Type{}
		collectFields(t, fields)
		for k, x := range m {
			if !SnakeCase(k) {
				*problems = append(*problems, fmt.Sprintf("%s: key %q is not snake_case", path, k))
			}
			ft, ok := fields[k]
			if !ok {
				*problems = append(*problems, fmt.Sprintf("%s: key %q is not a field of %s", path, k, t))
				continue
			}
			walk(x, ft, path+"."+k, mapKey, problems)
		}
	}
}

// collectFields maps the JSON names of t's fields (embedded structs'
// fields promoted, as encoding/json does) to their types.
func collectFields(t reflect.Type, out map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				collectFields(ft, out)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := out[name]; !dup {
			out[name] = f.Type
		}
	}
}

// Filled returns a copy of v in which every nil slice and map reachable
// through exported struct fields, slices, arrays, maps and pointers is
// empty, so that encoding/json writes [] and {} for them instead of null.
// v itself is left as it is (code may tell nil from empty: a fit that was
// not made), so the copy is deep where it has to change; values behind
// interfaces and unexported fields are shared.
func Filled[T any](v T) T {
	return filled(reflect.ValueOf(&v).Elem()).Interface().(T)
}

// filled returns v, or a copy of it with its nil lists and maps empty.
func filled(v reflect.Value) reflect.Value {
	t := v.Type()
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(filled(v.Elem()))
		return p
	case reflect.Struct:
		out := reflect.New(t).Elem()
		out.Set(v) // unexported fields too, shallow
		for i := range v.NumField() {
			if t.Field(i).IsExported() {
				out.Field(i).Set(filled(v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return reflect.MakeSlice(t, 0, 0)
		}
		out := reflect.MakeSlice(t, v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(filled(v.Index(i)))
		}
		return out
	case reflect.Array:
		out := reflect.New(t).Elem()
		for i := range v.Len() {
			out.Index(i).Set(filled(v.Index(i)))
		}
		return out
	case reflect.Map:
		out := reflect.MakeMapWithSize(t, v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(it.Key(), filled(it.Value()))
		}
		return out
	}
	return v
}
