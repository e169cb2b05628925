package yamlx

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxVisits bounds the work of one Decode, so that documents expanding
// aliases exponentially ("billion laughs") fail instead of hanging.
const maxVisits = 1_000_000

// Decode parses data (the contents of file) as one YAML document, applies
// overrides ("KEY=VALUE" strings, as given to --set), and decodes the
// result into out, a non-nil pointer (usually to a struct with yaml tags).
//
// Decoding is strict and keeps going: unknown keys (listing the known
// ones), duplicate keys, values of the wrong type and values a
// yaml.Unmarshaler rejects are all reported, each as an *Error positioned
// "FILE:LINE" or "--set KEY". A field with a problem keeps its value (a
// pointer on the way to it may have been allocated).
// Struct fields are named by their yaml tags (the lowercased field name
// without one); ",inline" structs are flattened; pointers, slices, maps
// with string keys, yaml.Unmarshaler and encoding.TextUnmarshaler values
// are supported. Merge keys (<<) and aliases are resolved.
//
// An override KEY is a field path: "users.count", "phases[1].duration", or
// "phases.steady.duration" (the element of a list whose name field is
// "steady"). VALUE is parsed as YAML, so it can be a scalar or a flow
// collection (thresholds=["lost == 0"]); an empty VALUE is null. Missing
// intermediate mappings are created; an index one past the end of a list
// appends to it. An override naming a field the struct does not have is
// reported like an unknown key.
//
// The returned Positions are never nil, even when there are errors.
func Decode(file string, data []byte, out any, overrides []string) (*Positions, []error) {
	d := &decoder{
		file:    file,
		pos:     newPositions(file),
		set:     make(map[*yaml.Node]string),
		active:  make(map[*yaml.Node]bool),
		structs: make(map[reflect.Type]*structInfo),
		visits:  maxVisits,
	}
	v := reflect.ValueOf(out)
	if !v.IsValid() || v.Kind() != reflect.Pointer || v.IsNil() {
		return d.pos, []error{&Error{Pos: file, Msg: fmt.Sprintf("cannot decode into %T: want a non-nil pointer", out)}}
	}
	root, err := d.parse(data)
	if err != nil {
		return d.pos, []error{err}
	}
	for _, o := range overrides {
		root = d.override(root, o)
	}
	if root.Line > 0 {
		d.pos.at[""] = fmt.Sprintf("%s:%d", file, root.Line)
	} else {
		d.pos.at[""] = d.where(root)
	}
	d.decode(root, v.Elem(), "")
	return d.pos, d.errs
}

type decoder struct {
	file    string
	pos     *Positions
	set     map[*yaml.Node]string // nodes given by overrides: "--set KEY"
	active  map[*yaml.Node]bool   // collections being decoded (alias cycles)
	structs map[reflect.Type]*structInfo
	visits  int
	errs    []error
}

var (
	lineRE     = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	typeLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)
	anchorRE   = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// parse parses one document, returning its root node (an empty mapping
// for an empty document).
func (d *decoder) parse(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, &Error{Pos: d.file, Msg: fmt.Sprintf("yaml parser failed: %v", r)}
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: 1}, nil
		}
		return nil, d.syntaxError(err, data)
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return nil, &Error{Pos: fmt.Sprintf("%s:%d", d.file, next.Line), Msg: "more than one YAML document (want one)"}
	} else if !errors.Is(err, io.EOF) {
		return nil, d.syntaxError(err, data)
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: doc.Line}, nil
		}
		return doc.Content[0], nil
	}
	return &doc, nil
}

// parserProblems are the problems yaml.v3's parser (not its scanner)
// reports; it gives their line 0-based (line 0 not at all).
const parserProblems = "\n" +
	"did not find expected <stream-start>\n" +
	"did not find expected <document start>\n" +
	"did not find expected node content\n" +
	"did not find expected '-' indicator\n" +
	"did not find expected key\n" +
	"did not find expected ',' or ']'\n" +
	"did not find expected ',' or '}'\n" +
	"found undefined tag handle\n" +
	"found incompatible YAML document\n" +
	"found duplicate %YAML directive\n" +
	"found duplicate %TAG directive\n"

func (d *decoder) syntaxError(err error, data []byte) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	if strings.Contains(parserProblems, "\n"+msg+"\n") {
		line++
	}
	if m := anchorRE.FindStringSubmatch(msg); m != nil && line == 0 {
		if i := bytes.Index(data, []byte("*"+m[1])); i >= 0 {
			line = 1 + bytes.Count(data[:i], []byte("\n"))
		}
	}
	if line == 0 {
		return &Error{Pos: d.file, Msg: msg}
	}
	return &Error{Pos: fmt.Sprintf("%s:%d", d.file, line), Msg: msg}
}

// where is the position of a node.
func (d *decoder) where(n *yaml.Node) string {
	if s, ok := d.set[n]; ok {
		return s
	}
	if n.Line == 0 {
		return d.file
	}
	return fmt.Sprintf("%s:%d", d.file, n.Line)
}

// whereKV is the position of a mapping entry: the override that gave its
// value, or the line of its key.
func (d *decoder) whereKV(k, v *yaml.Node) string {
	if s, ok := d.set[v]; ok {
		return s
	}
	return d.where(k)
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.where(n), Field: path, Msg: fmt.Sprintf(format, args...)})
}

// spend counts one unit of work; false means the budget is exhausted
// (reported once).
func (d *decoder) spend(n *yaml.Node, path string) bool {
	d.visits--
	if d.visits == 0 {
		d.errorf(n, path, "document too large (too many nodes or aliases)")
	}
	return d.visits > 0
}

// resolve follows aliases; nil means a cycle (reported).
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if n.Alias == nil || hops > 100 {
			d.errorf(n, path, "alias *%s cannot be resolved", n.Value)
			return nil
		}
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line}
		}
		return d.resolve(n.Content[0], path)
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" || n.Kind == 0
}

var (
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// decode decodes n into v, which is settable.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if !d.spend(n, path) {
		return
	}
	orig := n
	if n = d.resolve(n, path); n == nil {
		return
	}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(orig, v.Elem(), path)
		return
	}
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if d.active[n] {
			d.errorf(orig, path, "alias refers to a value containing itself")
			return
		}
		d.active[n] = true
		defer delete(d.active, n)
	}
	if isNull(n) {
		v.SetZero()
		return
	}
	if v.CanAddr() {
		pt := v.Addr().Type()
		if pt.Implements(unmarshalerType) {
			if err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
				d.unmarshalError(n, path, err)
			}
			return
		}
		if pt.Implements(textUnmarshalerType) {
			if n.Kind != yaml.ScalarNode {
				d.errorf(n, path, "want a %s, got %s", kindName(v.Type()), Describe(n))
				return
			}
			if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(n.Value)); err != nil {
				d.errorf(n, path, "%s", err)
			}
			return
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.unmarshalError(n, path, err)
			return
		}
		if x == nil {
			v.SetZero()
			return
		}
		if xv := reflect.ValueOf(x); xv.Type().AssignableTo(v.Type()) {
			v.Set(xv)
		} else {
			d.errorf(n, path, "want a %s, got %s", v.Type(), Describe(n))
		}
	default:
		d.decodeScalar(n, v, path)
	}
}

func (d *decoder) unmarshalError(n *yaml.Node, path string, err error) {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		for _, e := range te.Errors {
			if m := typeLineRE.FindStringSubmatch(e); m != nil && d.set[n] == "" {
				d.errs = append(d.errs, &Error{Pos: d.file + ":" + m[1], Field: path, Msg: m[2]})
			} else {
				d.errorf(n, path, "%s", e)
			}
		}
		return
	}
	d.errorf(n, path, "%s", strings.TrimPrefix(err.Error(), "yaml: "))
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want %s, got %s", article(kindName(t)), Describe(n))
		return
	}
	tag := n.ShortTag()
	switch v.Kind() {
	case reflect.String:
		if tag == "!!binary" {
			d.errorf(n, path, "want a string, got binary data")
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			d.errorf(n, path, "%s is not a boolean (want true or false)", quote(n.Value))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if tag != "!!int" || n.Decode(&i) != nil {
			if tag == "!!int" {
				d.errorf(n, path, "%s is out of range", n.Value)
				return
			}
			d.errorf(n, path, "%s is not an integer", quote(n.Value))
			return
		}
		if v.OverflowInt(i) {
			d.errorf(n, path, "%s is out of range for %s", n.Value, t.Kind())
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		var u uint64
		if tag != "!!int" || n.Decode(&u) != nil {
			if tag == "!!int" {
				d.errorf(n, path, "%s is out of range (want a non-negative integer)", n.Value)
				return
			}
			d.errorf(n, path, "%s is not a non-negative integer", quote(n.Value))
			return
		}
		if v.OverflowUint(u) {
			d.errorf(n, path, "%s is out of range for %s", n.Value, t.Kind())
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		var f float64
		if (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			d.errorf(n, path, "%s is not a number", quote(n.Value))
			return
		}
		if v.OverflowFloat(f) {
			d.errorf(n, path, "%s is out of range for %s", n.Value, t.Kind())
			return
		}
		v.SetFloat(f)
	default:
		d.errorf(n, path, "cannot decode into a field of type %s", t)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "want a list, got %s", Describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		p := Index(path, i)
		d.pos.at[p] = d.where(e)
		d.decode(e, s.Index(i), p)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	t := v.Type()
	if t.Key().Kind() != reflect.String {
		d.errorf(n, path, "cannot decode into a map with %s keys", t.Key())
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", Describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(t))
	}
	seen := make(map[string]*yaml.Node)
	for _, kv := range d.pairs(n, path) {
		key, ok := d.key(kv, seen, path)
		if !ok {
			continue
		}
		p := Join(path, key)
		d.pos.at[p] = d.whereKV(kv.k, kv.v)
		e := reflect.New(t.Elem()).Elem()
		d.decode(kv.v, e, p)
		v.SetMapIndex(reflect.ValueOf(key).Convert(t.Key()), e)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping, got %s", Describe(n))
		return
	}
	info := d.structInfo(v.Type())
	seen := make(map[string]*yaml.Node)
	for _, kv := range d.pairs(n, path) {
		key, ok := d.key(kv, seen, path)
		if !ok {
			continue
		}
		p := Join(path, key)
		f, ok := info.byName[key]
		if !ok {
			msg := fmt.Sprintf("unknown key %s", quote(key))
			e := &Error{Pos: d.whereKV(kv.k, kv.v), Field: p, Unknown: true}
			if s := suggest(key, info.names); s != "" {
				msg += fmt.Sprintf(", did you mean %s?", quote(s))
				e.Suggest = Join(path, s)
			}
			if len(info.names) > 0 {
				msg += " (known keys: " + strings.Join(info.names, ", ") + ")"
			}
			e.Msg = msg
			d.errs = append(d.errs, e)
			continue
		}
		d.pos.at[p] = d.whereKV(kv.k, kv.v)
		fv, ok := fieldByIndex(v, f)
		if !ok {
			d.errorf(kv.k, p, "cannot decode into an embedded nil pointer")
			continue
		}
		d.decode(kv.v, fv, p)
	}
}

// fieldByIndex is v.FieldByIndex allocating embedded pointers on the way.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, false
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// key returns the key of a mapping entry, reporting non-scalar and
// duplicate keys. Merged entries never count as duplicates (the explicit
// entry or the first merge wins).
func (d *decoder) key(kv pair, seen map[string]*yaml.Node, path string) (string, bool) {
	k := d.resolve(kv.k, path)
	if k == nil {
		return "", false
	}
	if k.Kind != yaml.ScalarNode {
		d.errorf(kv.k, path, "want a string key, got %s", Describe(k))
		return "", false
	}
	key := k.Value
	if prev, ok := seen[key]; ok {
		if !kv.merged {
			d.errorf(kv.k, Join(path, key), "duplicate key (first given at %s)", d.where(prev))
		}
		return "", false
	}
	seen[key] = kv.k
	return key, true
}

type pair struct {
	k, v   *yaml.Node
	merged bool
}

// pairs returns the entries of mapping n, explicit ones first, then those
// brought in by merge keys (<<).
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var explicit, merged []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(v, path)...)
			continue
		}
		explicit = append(explicit, pair{k: k, v: v})
	}
	return append(explicit, merged...)
}

func (d *decoder) merge(v *yaml.Node, path string) []pair {
	if !d.spend(v, path) {
		return nil
	}
	src := d.resolve(v, path)
	if src == nil {
		return nil
	}
	if d.active[src] {
		d.errorf(v, path, "merge refers to a mapping containing itself")
		return nil
	}
	d.active[src] = true
	defer delete(d.active, src)
	var out []pair
	switch src.Kind {
	case yaml.MappingNode:
		for _, p := range d.pairs(src, path) {
			p.merged = true
			out = append(out, p)
		}
	case yaml.SequenceNode:
		for _, e := range src.Content {
			if m := d.resolve(e, path); m != nil && m.Kind == yaml.MappingNode {
				out = append(out, d.merge(e, path)...)
			} else if m != nil {
				d.errorf(e, path, "a merge (<<) takes mappings, got %s", Describe(m))
			}
		}
	default:
		d.errorf(v, path, "a merge (<<) takes a mapping or a list of mappings, got %s", Describe(src))
	}
	return out
}

type structInfo struct {
	byName map[string][]int
	names  []string // in declaration order
}

func (d *decoder) structInfo(t reflect.Type) *structInfo {
	if si, ok := d.structs[t]; ok {
		return si
	}
	si := &structInfo{byName: make(map[string][]int)}
	d.structs[t] = si
	for _, f := range Fields(t) {
		if _, dup := si.byName[f.Name]; dup {
			continue
		}
		si.byName[f.Name] = f.Index
		si.names = append(si.names, f.Name)
	}
	return si
}

// Field is a struct field as YAML sees it.
type Field struct {
	Name  string // the yaml key
	Index []int  // for reflect.Value.FieldByIndex
	Type  reflect.Type
	Tag   string // the whole yaml tag
}

// Fields lists the YAML fields of struct type t in declaration order,
// flattening ",inline" structs and skipping unexported and yaml:"-"
// fields.
func Fields(t reflect.Type) []Field {
	var out []Field
	var walk func(t reflect.Type, index []int, depth int)
	walk = func(t reflect.Type, index []int, depth int) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			inline := false
			for o := range strings.SplitSeq(opts, ",") {
				inline = inline || o == "inline"
			}
			idx := append(append([]int(nil), index...), i)
			if inline {
				ft := f.Type
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if ft.Kind() == reflect.Struct && depth < 10 {
					walk(ft, idx, depth+1)
				}
				continue
			}
			if !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			out = append(out, Field{Name: name, Index: idx, Type: f.Type, Tag: tag})
		}
	}
	if t.Kind() == reflect.Struct {
		walk(t, nil, 0)
	}
	return out
}

// Describe names what a node holds, for "want X, got Y" messages: "a
// mapping", "a list", "null", a quoted scalar (shortened past 40 bytes).
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return quote(n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "nothing"
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Struct, reflect.Map:
		return "mapping"
	case reflect.Slice, reflect.Array:
		return "list"
	}
	return "scalar"
}

func article(s string) string {
	if s != "" && strings.ContainsRune("aeiou", rune(s[0])) {
		return "an " + s
	}
	return "a " + s
}

// quote quotes a value for a message, shortening long ones.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strconv.Quote(s)
}

// suggest returns the known name closest to key, if it is close enough to
// be a typo.
func suggest(key string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if dist := editDistance(key, n, bestD); dist < bestD && dist <= len(n)/2 {
			best, bestD = n, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or at least max
// when it is max or more.
func editDistance(a, b string, limit int) int {
	if len(a) > 64 || len(b) > 64 {
		return limit
	}
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
