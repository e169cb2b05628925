package refserver

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/gcload/gcload/refserver/store"
	"gopkg.in/yaml.v3"
)

// RoomsFile is the YAML file of rooms given to `gcload serve --rooms`:
//
//	rooms:
//	  - id: room1                # the id part of ma-chan://domain/room1
//	    name: Room One
//	    topic: test topic
//	    description: ""
//	    category: Engineering
//	    privacy: closed          # open | closed (default) | secret
//	    type: normal             # normal (default) | auditorium
//	    members: [sip:alice@example.com, sip:bob@example.com]
//	    managers: [sip:alice@example.com]
//	    presenters: []
//	    disabled: false
//
// A room listed in the file is created at start, or updated if it exists:
// its settings and role lists become the file's. Its history is kept, and
// its disabled flag changes only if the file says disabled: true.
type RoomsFile struct {
	Rooms []store.Room
}

var roomKeys = map[string]bool{
	"id": true, "name": true, "topic": true, "description": true, "category": true, "privacy": true,
	"type": true, "members": true, "managers": true, "presenters": true, "disabled": true,
}

// LoadRoomsFile reads and validates a rooms file; every problem is reported
// at once with file, line and field.
func LoadRoomsFile(path string) ([]store.Room, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rooms file: %w", err)
	}
	return ParseRooms(path, b)
}

// ParseRooms parses the content of a rooms file named name.
func ParseRooms(name string, b []byte) ([]store.Room, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	errAt := func(n *yaml.Node, field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s: %s", name, n.Line, field, fmt.Sprintf(format, args...)))
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file: want a mapping with a rooms list", name)
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping with a rooms list", name, top.Line)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Value == "rooms" {
			list = v
		} else {
			errAt(k, k.Value, "unknown field (want rooms)")
		}
	}
	if list == nil {
		errs = append(errs, fmt.Errorf("%s: no rooms list", name))
		return nil, errors.Join(errs...)
	}
	if list.Kind != yaml.SequenceNode {
		errAt(list, "rooms", "want a list of rooms")
		return nil, errors.Join(errs...)
	}
	var rooms []store.Room
	seen := map[string]int{}
	for i, n := range list.Content {
		field := fmt.Sprintf("rooms[%d]", i)
		if n.Kind != yaml.MappingNode {
			errAt(n, field, "want a mapping")
			continue
		}
		for j := 0; j+1 < len(n.Content); j += 2 {
			k := n.Content[j]
			if !roomKeys[k.Value] {
				errAt(k, field+"."+k.Value, "unknown field (known: %s)", strings.Join(sortedKeys(roomKeys), ", "))
			}
		}
		var spec struct {
			ID, Name, Topic, Description, Category, Privacy, Type string
			Members, Managers, Presenters                         []string
			Disabled                                              bool
		}
		if err := n.Decode(&spec); err != nil {
			errAt(n, field, "%v", err)
			continue
		}
		r := store.Room{
			ID: spec.ID, Name: spec.Name, Topic: spec.Topic, Description: spec.Description, Category: spec.Category,
			Privacy: store.Privacy(spec.Privacy), Type: store.RoomType(spec.Type), Disabled: spec.Disabled,
			Members: spec.Members, Managers: spec.Managers, Presenters: spec.Presenters,
		}
		at := func(key string) *yaml.Node {
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == key {
					return n.Content[j+1]
				}
			}
			return n
		}
		if r.ID == "" {
			errAt(n, field+".id", "missing")
		} else if !store.ValidID(r.ID) {
			errAt(at("id"), field+".id", "%q: use 1-128 letters, digits, '-', '_' or '.'", r.ID)
		} else if prev, dup := seen[r.ID]; dup {
			errAt(at("id"), field+".id", "%q is also the id of rooms[%d]", r.ID, prev)
		} else {
			seen[r.ID] = i
		}
		if r.Name == "" {
			errAt(n, field+".name", "missing")
		}
		if r.Privacy != "" && !r.Privacy.Valid() {
			errAt(at("privacy"), field+".privacy", "%q: want open, closed or secret", r.Privacy)
		}
		if r.Type != "" && !r.Type.Valid() {
			errAt(at("type"), field+".type", "%q: want normal or auditorium", r.Type)
		}
		for _, role := range []struct {
			key   string
			users []string
		}{{"members", r.Members}, {"managers", r.Managers}, {"presenters", r.Presenters}} {
			for k, u := range role.users {
				if !store.ValidUser(u) {
					node := at(role.key)
					if node.Kind == yaml.SequenceNode && k < len(node.Content) {
						node = node.Content[k]
					}
					errAt(node, fmt.Sprintf("%s.%s[%d]", field, role.key, k), "%q: want sip:user@domain", u)
				}
			}
		}
		for _, l := range []*[]string{&r.Members, &r.Managers, &r.Presenters} {
			if *l == nil {
				*l = []string{}
			}
		}
		rooms = append(rooms, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rooms, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
