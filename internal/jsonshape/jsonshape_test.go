package jsonshape

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Name string `json:"name"`
}

type embedded struct {
	Posts int `json:"posts"`
}

type doc struct {
	Rooms   []inner          `json:"rooms"`
	Counts  map[string]int64 `json:"counts"`
	At      time.Time        `json:"at"`
	Next    *inner           `json:"next,omitempty"`
	Bad     string           // no tag: PascalCase key
	Skipped string           `json:"-"`
	embedded
}

func TestCheck(t *testing.T) {
	good := `{"rooms":[{"name":"a"}],"counts":{"sip.200":3},"at":"2025-01-01T00:00:00Z","next":null,"posts":1}`
	if p := Check([]byte(good), reflect.TypeFor[doc](), false, nil); len(p) != 0 {
		t.Errorf("good document: %v", p)
	}
	for _, c := range []struct{ json, want string }{
		{`{"rooms":null}`, "$.rooms: null where a list is meant"},
		{`{"counts":null}`, "$.counts: null where an object is meant"},
		{`{"Bad":"x"}`, `$: key "Bad" is not snake_case`},
		{`{"rooms":[{"Name":"a"}]}`, `$.rooms[0]: key "Name" is not snake_case`},
		{`{"other":1}`, `$: key "other" is not a field of jsonshape.doc`},
		{`{"rooms":{}}`, "$.rooms: map[string]interface {} where a list is meant"},
		{`{`, "not JSON"},
	} {
		p := Check([]byte(c.json), reflect.TypeFor[doc](), false, nil)
		if len(p) == 0 || !strings.Contains(strings.Join(p, "\n"), c.want) {
			t.Errorf("%s: problems %q, want %q", c.json, p, c.want)
		}
	}
	// map keys go to the caller; JSON lines are checked line by line
	lines := "{\"counts\":{\"ok\":1}}\n{\"counts\":{\"Not OK\":1}}\n"
	p := Check([]byte(lines), reflect.TypeFor[doc](), true, func(path, key string) string {
		if !SnakeCase(key) {
			return "not a name"
		}
		return ""
	})
	if len(p) != 1 || !strings.HasPrefix(p[0], `line 2: $.counts: key "Not OK": not a name`) {
		t.Errorf("lines: %q", p)
	}
	for _, s := range []string{"a", "p99_9_us", "gomaxprocs", "x1_y2"} {
		if !SnakeCase(s) {
			t.Errorf("%q is snake_case", s)
		}
	}
	for _, s := range []string{"", "A", "goVersion", "a__b", "_a", "a_", "a-b", "a.b"} {
		if SnakeCase(s) {
			t.Errorf("%q is not snake_case", s)
		}
	}
}

func TestFilled(t *testing.T) {
	type deep struct {
		List []int          `json:"list"`
		Map  map[string]int `json:"map"`
	}
	type top struct {
		Items []deep          `json:"items"`
		Ptr   *deep           `json:"ptr"`
		Arr   [1]deep         `json:"arr"`
		ByKey map[string]deep `json:"by_key"`
		None  []int           `json:"none"`
		inner []int
	}
	v := top{Items: []deep{{}}, Ptr: &deep{}, ByKey: map[string]deep{"a": {}}, inner: []int{1}}
	f := Filled(v)
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if p := Check(b, reflect.TypeFor[top](), false, nil); len(p) != 0 {
		t.Errorf("Filled: %s: %v", b, p)
	}
	// the original is untouched: nil stays nil (code may tell nil from
	// empty), however deep it is
	if v.None != nil || v.Items[0].List != nil || v.Ptr.Map != nil || v.Arr[0].List != nil || v.ByKey["a"].List != nil {
		t.Errorf("Filled changed its argument: %+v", v)
	}
	if len(f.inner) != 1 {
		t.Error("an unexported field was lost")
	}
}
