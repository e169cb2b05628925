package refserver_test

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/adminapi"
	"github.com/gcload/gcload/refserver/store"
)

// jsonShape lists the JSON paths of t's encoding with the Go kind of each
// leaf ("channel.posts": "uint64", "sip.Responses": "map[int]uint64").
func jsonShape(t reflect.Type, prefix string, out map[string]string) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct {
		// a list of objects: its elements' fields ("pool.servers[].id")
		jsonShape(t.Elem(), strings.TrimSuffix(prefix, ".")+"[].", out)
		return
	}
	if t.Kind() == reflect.Struct && t != reflect.TypeFor[time.Time]() {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			jsonShape(f.Type, prefix+name+".", out)
		}
		return
	}
	out[strings.TrimSuffix(prefix, ".")] = leaf(t)
}

// leaf names a type by its kinds (store.Privacy and string are both
// "string" on the wire).
func leaf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Map:
		return "map[" + leaf(t.Key()) + "]" + leaf(t.Elem())
	case reflect.Slice:
		return "[]" + leaf(t.Elem())
	case reflect.Struct:
		return t.String()
	}
	return t.Kind().String()
}

func sameShape(t *testing.T, served, wire reflect.Type) {
	t.Helper()
	a, b := map[string]string{}, map[string]string{}
	jsonShape(served, "", a)
	jsonShape(wire, "", b)
	var paths []string
	for p := range a {
		paths = append(paths, p)
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		switch {
		case b[p] == "":
			t.Errorf("the server serves %s (%s) that %s lacks: add it to refserver/adminapi", p, a[p], wire)
		case a[p] == "":
			t.Errorf("%s has %s (%s) that the server does not serve", wire, p, b[p])
		case a[p] != b[p]:
			t.Errorf("%s: the server serves %s, %s has %s", p, a[p], wire, b[p])
		}
	}
}

// TestStatsWireType: adminapi.Stats, what the admin client decodes GET
// /api/stats into, has the JSON shape of what the server serves
// (refserver.Stats), field for field: a counter added to the server and
// not to the wire type fails here.
func TestStatsWireType(t *testing.T) {
	t.Parallel()
	sameShape(t, reflect.TypeFor[refserver.Stats](), reflect.TypeFor[adminapi.Stats]())
}

// TestRoomWireType: adminapi.Room holds every field of a stored room
// (admin.WireRoom copies them).
func TestRoomWireType(t *testing.T) {
	t.Parallel()
	sameShape(t, reflect.TypeFor[store.Room](), reflect.TypeFor[adminapi.Room]())
	sameShape(t, reflect.TypeFor[store.Invitation](), reflect.TypeFor[adminapi.Invitation]())
}
