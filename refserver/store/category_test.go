package store

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestCheckCategories(t *testing.T) {
	ok := []Category{{ID: "a", Name: "A"}, {ID: "b", Name: "B", Parent: "a"}, {ID: "c", Name: "C", Parent: "b"}}
	if err := CheckCategories(ok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cats []Category
		want string
	}{
		{[]Category{{ID: "a", Name: "A", Parent: "nope"}}, `category "a": parent "nope" is not a category`},
		{[]Category{{ID: "a", Name: "A", Parent: "b"}, {ID: "b", Name: "B", Parent: "a"}}, "cycle"},
		{[]Category{{ID: "a", Name: "A", Parent: "a"}}, "its own parent"},
		{[]Category{{ID: "a", Name: "A"}, {ID: "a", Name: "A2"}}, "defined twice"},
		{[]Category{{ID: "a", Name: "A", Members: []string{"bob"}}}, `user "bob"`},
		{[]Category{{ID: "a"}}, "name is empty"},
	} {
		err := CheckCategories(tc.cats)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want an error saying %q", tc.cats, err, tc.want)
		}
	}
	var deep []Category
	for i := range MaxCategoryDepth + 1 {
		c := Category{ID: fmt.Sprint("c", i), Name: "x"}
		if i > 0 {
			c.Parent = fmt.Sprint("c", i-1)
		}
		deep = append(deep, c)
	}
	if err := CheckCategories(deep); err == nil || !strings.Contains(err.Error(), "levels deep") {
		t.Errorf("a hierarchy %d deep: %v", len(deep), err)
	}
	if err := CheckCategories(deep[:MaxCategoryDepth]); err != nil {
		t.Errorf("a hierarchy %d deep: %v", MaxCategoryDepth, err)
	}
}

func TestInherit(t *testing.T) {
	cats := []Category{
		{ID: "top", Name: "T", Members: []string{"sip:a@d"}, Creators: []string{"sip:c@d"}},
		{ID: "mid", Name: "M", Parent: "top", Members: []string{"sip:b@d"}},
		{ID: "leaf", Name: "L", Parent: "mid"},
		{ID: "own", Name: "O", Parent: "mid", Override: true, Members: []string{"sip:x@d"}},
	}
	r := Inherit(cats)
	got := func(id string) string {
		return fmt.Sprint(slices.Sorted(maps.Keys(r[id].Members)), slices.Sorted(maps.Keys(r[id].Creators)))
	}
	for id, want := range map[string]string{
		"top":  "[sip:a@d] [sip:c@d]",
		"mid":  "[sip:a@d sip:b@d] [sip:c@d]",
		"leaf": "[sip:a@d sip:b@d] [sip:c@d]",
		"own":  "[sip:x@d] []",
	} {
		if g := got(id); g != want {
			t.Errorf("rights of %s: %s, want %s", id, g, want)
		}
	}
}
