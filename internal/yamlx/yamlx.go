// Package yamlx decodes YAML strictly and keeps positions: every unknown
// key, wrong type and bad value is reported at once as
// "FILE:LINE: FIELD.PATH: message", --set style overrides are applied to
// the document before decoding, and the line of every decoded field is kept
// so later (semantic) checks can point at it.
package yamlx

import (
	"fmt"
	"strings"
)

// Error is one problem with a document: where it is, which field, what.
type Error struct {
	// Pos is "FILE:LINE", "--set KEY" for a value given by an override, or
	// "" when unknown (a value built in code).
	Pos string
	// Field is the field path, such as "phases[1].posts.rate"; "" for the
	// document itself.
	Field string
	// Msg says what is wrong.
	Msg string
	// Unknown marks an unknown key; Suggest is then the path of the known
	// key it most likely meant ("" if none is close), whose value the
	// document therefore lacks.
	Unknown bool
	Suggest string
}

// Error formats the problem as "POS: FIELD: MSG", leaving out empty parts.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Pos != "" {
		b.WriteString(e.Pos)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Positions maps field paths ("users.count", "phases[1].posts.rate") to
// where their values were given: "FILE:LINE", or "--set KEY" for values
// given by an override. A nil *Positions knows no position.
type Positions struct {
	file string
	at   map[string]string
}

func newPositions(file string) *Positions {
	return &Positions{file: file, at: make(map[string]string)}
}

// File is the file name positions are reported against.
func (p *Positions) File() string {
	if p == nil {
		return ""
	}
	return p.file
}

// At returns where path was given ("FILE:LINE" or "--set KEY"), or where
// its nearest known ancestor was when path itself was not given (so a
// missing field points at its parent). It returns "" for a nil receiver.
func (p *Positions) At(path string) string {
	if p == nil {
		return ""
	}
	for {
		if s, ok := p.at[path]; ok {
			return s
		}
		if path == "" {
			return p.file
		}
		path = Parent(path)
	}
}

// Has reports whether path itself was given in the document or by an
// override.
func (p *Positions) Has(path string) bool {
	if p == nil {
		return false
	}
	_, ok := p.at[path]
	return ok
}

// Errorf returns an *Error about the field at path, positioned with At.
// It works on a nil receiver (no position).
func (p *Positions) Errorf(path, format string, args ...any) error {
	return &Error{Pos: p.At(path), Field: path, Msg: fmt.Sprintf(format, args...)}
}

// Parent returns the parent of a field path: "phases[1]" for
// "phases[1].posts", "phases" for "phases[1]", "" for "phases".
func Parent(path string) string {
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

// Related reports whether one of the field paths a and b is the other or
// an ancestor of it.
func Related(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if a == "" || a == b {
		return true
	}
	return strings.HasPrefix(b, a) && (b[len(a)] == '.' || b[len(a)] == '[')
}

// Join appends a key to a field path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index appends a list index to a field path.
func Index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
