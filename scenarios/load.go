package scenarios

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/gcload/gcload/internal/yamlx"
)

//go:embed *.yaml scenario.schema.json
var files embed.FS

// ErrNotShipped is returned by ShippedFile for a name that is not a shipped
// scenario.
var ErrNotShipped = errors.New("no such shipped scenario")

// Error is every problem found in a scenario; Error prints one per line.
type Error struct {
	Problems []error
}

// Error prints the problems, one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e *Error) Unwrap() []error { return e.Problems }

// Load reads the scenario file at path — or, when no such file exists and
// its base name is that of a shipped scenario ("smoke", "smoke.yaml",
// "scenarios/smoke.yaml"), the shipped copy — applies overrides (--set
// KEY=VALUE), fills defaults and validates it. The error is an *Error
// listing every problem when the scenario is invalid; the spec is nil
// then.
func Load(file string, overrides []string) (*Spec, *yamlx.Positions, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("load scenario: %w", err)
		}
		b, serr := ShippedFile(file)
		if serr != nil {
			return nil, nil, fmt.Errorf("load scenario: %w (and no shipped scenario is named %q; shipped: %s)",
				err, shippedName(file), strings.Join(Shipped(), ", "))
		}
		data = b
		if ext := filepath.Ext(file); ext != ".yaml" && ext != ".yml" {
			file += ".yaml"
		}
	}
	return Parse(file, data, overrides)
}

// Parse is Load of data read from file (the name positions are reported
// against).
func Parse(file string, data []byte, overrides []string) (*Spec, *yamlx.Positions, error) {
	var s Spec
	pos, errs := yamlx.Decode(file, data, &s, overrides)
	s.Defaults()
	for _, v := range s.Validate(pos) {
		if !relatedToAny(v, errs, pos) {
			errs = append(errs, v)
		}
	}
	if len(errs) > 0 {
		sortByPosition(errs)
		unknownFirst(errs)
		return nil, pos, &Error{Problems: errs}
	}
	return &s, pos, nil
}

// unknownFirst puts the unknown keys first: they are what the author has
// to fix, and other problems often follow from them.
func unknownFirst(errs []error) {
	sort.SliceStable(errs, func(i, j int) bool { return isUnknown(errs[i]) && !isUnknown(errs[j]) })
}

func isUnknown(e error) bool {
	var ye *yamlx.Error
	return errors.As(e, &ye) && ye.Unknown
}

// relatedToAny reports whether a validation problem is most likely a
// consequence of a decoding problem (a field left unset): it is about the
// same field, a field under it, or a field above it other than a
// top-level one ("phases: no phase signs users in" stands on its own);
// or it is about the key an unknown key most likely meant, or a field
// under it ("user:" for "users:" leaves users.count unset).
func relatedToAny(v error, decoding []error, pos *yamlx.Positions) bool {
	var ve *yamlx.Error
	if !errors.As(v, &ve) {
		return false
	}
	topLevel := ve.Field != "" && !strings.ContainsAny(ve.Field, ".[")
	for _, d := range decoding {
		var de *yamlx.Error
		if !errors.As(d, &de) {
			continue
		}
		if de.Suggest != "" && !pos.Has(de.Suggest) && (de.Suggest == ve.Field || yamlx.Related(de.Suggest, ve.Field) && len(ve.Field) > len(de.Suggest)) {
			return true // the key was misspelt: its value is missing, not wrong
		}
		if !yamlx.Related(de.Field, ve.Field) {
			continue
		}
		if above := len(ve.Field) < len(de.Field); !above || !topLevel {
			return true
		}
	}
	return false
}

// sortByPosition orders problems by line, those from --set after those of
// the file, keeping the order of problems on one line.
func sortByPosition(errs []error) {
	key := func(e error) (int, int) {
		var ye *yamlx.Error
		if !errors.As(e, &ye) {
			return 0, 0
		}
		if strings.HasPrefix(ye.Pos, "--set ") {
			return 2, 0
		}
		if i := strings.LastIndexByte(ye.Pos, ':'); i >= 0 {
			if n, err := strconv.Atoi(ye.Pos[i+1:]); err == nil {
				return 1, n
			}
		}
		return 0, 0
	}
	sort.SliceStable(errs, func(i, j int) bool {
		gi, li := key(errs[i])
		gj, lj := key(errs[j])
		return gi < gj || gi == gj && li < lj
	})
}

// YAML returns the spec as YAML (as run: with the defaults filled when
// Defaults was called), in a form Load reads back to an equal spec.
func (s *Spec) YAML() ([]byte, error) {
	return yamlx.Marshal(s)
}

// Shipped lists the names of the scenarios shipped with gcload ("smoke",
// "peak", ...), sorted.
func Shipped() []string {
	entries, _ := fs.ReadDir(files, ".")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// ShippedFile returns the contents of a shipped scenario, named "smoke",
// "smoke.yaml" or "scenarios/smoke.yaml".
func ShippedFile(name string) ([]byte, error) {
	n := shippedName(name)
	b, err := files.ReadFile(n + ".yaml")
	if err != nil || n == "" {
		return nil, fmt.Errorf("%w: %q (shipped: %s)", ErrNotShipped, name, strings.Join(Shipped(), ", "))
	}
	return b, nil
}

// shippedName is the shipped scenario name a path refers to.
func shippedName(p string) string {
	n := path.Base(filepath.ToSlash(p))
	for _, ext := range []string{".yaml", ".yml"} {
		if s, ok := strings.CutSuffix(n, ext); ok {
			return s
		}
	}
	if n == "." || n == "/" || strings.ContainsAny(n, "*?[\\") {
		return ""
	}
	return n
}

// Schema returns the JSON Schema (draft 2020-12) of scenario files, for
// editors (yaml-language-server) and tools.
func Schema() []byte {
	b, _ := files.ReadFile("scenario.schema.json")
	return b
}
