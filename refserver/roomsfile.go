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
//	categories:                  # optional: the category hierarchy
//	  - id: eng                  # rooms name it in their category field
//	    name: Engineering
//	    members: [sip:carol@example.com]   # may read every room below
//	    creators: [sip:carol@example.com]  # may create rooms below (cmd:chancreate)
//	  - id: eng-secret
//	    name: Engineering, restricted
//	    parent: eng              # a category of this file
//	    override: true           # eng's members and creators do not pass down
//	    members: []
//	rooms:
//	  - id: room1                # the id part of ma-chan://domain/room1
//	    name: Room One
//	    topic: test topic
//	    description: ""
//	    category: eng            # a category's id (or any label)
//	    privacy: closed          # open | closed (default) | secret
//	    type: normal             # normal (default) | auditorium
//	    members: [sip:alice@example.com, sip:bob@example.com]
//	    managers: [sip:alice@example.com]
//	    presenters: []
//	    disabled: false
//
// A room listed in the file is created at start, or updated if it exists:
// its settings and role lists become the file's. Its history is kept, and
// its disabled flag changes only if the file says disabled: true. A
// category listed is created or replaced likewise, before the rooms. A
// room whose category is not the id of a category (of the file, or
// created before through the admin API) has no inherited rights: the
// category is then only a label.
type RoomsFile struct {
	Categories []store.Category
	Rooms      []store.Room
}

var categoryKeys = map[string]bool{
	"id": true, "name": true, "parent": true, "override": true, "members": true, "creators": true,
}

// ReadRoomsFile reads and validates a rooms file with its categories;
// every problem is reported at once with file, line and field.
func ReadRoomsFile(path string) (RoomsFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return RoomsFile{}, fmt.Errorf("rooms file: %w", err)
	}
	return ParseRoomsFile(path, b)
}

var roomKeys = map[string]bool{
	"id": true, "name": true, "topic": true, "description": true, "category": true, "privacy": true,
	"type": true, "members": true, "managers": true, "presenters": true, "disabled": true,
}

// LoadRoomsFile reads and validates a rooms file and returns its rooms
// (ReadRoomsFile returns its categories too).
func LoadRoomsFile(path string) ([]store.Room, error) {
	rf, err := ReadRoomsFile(path)
	return rf.Rooms, err
}

// ParseRooms parses the content of a rooms file named name and returns
// its rooms.
func ParseRooms(name string, b []byte) ([]store.Room, error) {
	rf, err := ParseRoomsFile(name, b)
	return rf.Rooms, err
}

// ParseRoomsFile parses the content of a rooms file named name.
func ParseRoomsFile(name string, b []byte) (RoomsFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return RoomsFile{}, fmt.Errorf("%s: %w", name, err)
	}
	var errs []error
	errAt := func(n *yaml.Node, field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s:%d: %s: %s", name, n.Line, field, fmt.Sprintf(format, args...)))
	}
	if len(doc.Content) == 0 {
		return RoomsFile{}, fmt.Errorf("%s: empty file: want a mapping with a rooms list", name)
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return RoomsFile{}, fmt.Errorf("%s:%d: want a mapping with a rooms list", name, top.Line)
	}
	var list, catList *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		switch k.Value {
		case "rooms":
			list = v
		case "categories":
			catList = v
		default:
			errAt(k, k.Value, "unknown field (want categories, rooms)")
		}
	}
	var cats []store.Category
	if catList != nil {
		cats = parseCategories(catList, errAt)
	}
	if list == nil {
		errs = append(errs, fmt.Errorf("%s: no rooms list", name))
		return RoomsFile{}, errors.Join(errs...)
	}
	if list.Kind != yaml.SequenceNode {
		errAt(list, "rooms", "want a list of rooms")
		return RoomsFile{}, errors.Join(errs...)
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
		return RoomsFile{}, err
	}
	return RoomsFile{Categories: cats, Rooms: rooms}, nil
}

// parseCategories reads the categories list, reporting problems with errAt.
func parseCategories(list *yaml.Node, errAt func(n *yaml.Node, field, format string, args ...any)) []store.Category {
	if list.Kind != yaml.SequenceNode {
		errAt(list, "categories", "want a list of categories")
		return nil
	}
	var cats []store.Category
	nodes := map[string]*yaml.Node{}
	seen := map[string]int{}
	for i, n := range list.Content {
		field := fmt.Sprintf("categories[%d]", i)
		if n.Kind != yaml.MappingNode {
			errAt(n, field, "want a mapping")
			continue
		}
		at := func(key string) *yaml.Node {
			for j := 0; j+1 < len(n.Content); j += 2 {
				if n.Content[j].Value == key {
					return n.Content[j+1]
				}
			}
			return n
		}
		for j := 0; j+1 < len(n.Content); j += 2 {
			if k := n.Content[j]; !categoryKeys[k.Value] {
				errAt(k, field+"."+k.Value, "unknown field (known: %s)", strings.Join(sortedKeys(categoryKeys), ", "))
			}
		}
		var spec struct {
			ID, Name, Parent  string
			Override          bool
			Members, Creators []string
		}
		if err := n.Decode(&spec); err != nil {
			errAt(n, field, "%v", err)
			continue
		}
		c := store.Category{ID: spec.ID, Name: spec.Name, Parent: spec.Parent, Override: spec.Override, Members: spec.Members, Creators: spec.Creators}
		ok := true
		switch prev, dup := seen[c.ID]; {
		case c.ID == "":
			errAt(n, field+".id", "missing")
			ok = false
		case !store.ValidID(c.ID):
			errAt(at("id"), field+".id", "%q: use 1-128 letters, digits, '-', '_' or '.'", c.ID)
			ok = false
		case dup:
			errAt(at("id"), field+".id", "%q is also the id of categories[%d]", c.ID, prev)
			ok = false
		default:
			seen[c.ID] = i
			nodes[c.ID] = n
		}
		if c.Name == "" {
			errAt(n, field+".name", "missing")
			ok = false
		}
		for _, role := range []struct {
			key   string
			users []string
		}{{"members", c.Members}, {"creators", c.Creators}} {
			for k, u := range role.users {
				if !store.ValidUser(u) {
					node := at(role.key)
					if node.Kind == yaml.SequenceNode && k < len(node.Content) {
						node = node.Content[k]
					}
					errAt(node, fmt.Sprintf("%s.%s[%d]", field, role.key, k), "%q: want sip:user@domain", u)
					ok = false
				}
			}
		}
		if c.Members == nil {
			c.Members = []string{}
		}
		if c.Creators == nil {
			c.Creators = []string{}
		}
		if ok {
			cats = append(cats, c)
		}
	}
	// the hierarchy: parents of this file, no cycle, not too deep
	for i, c := range cats {
		if c.Parent == "" {
			continue
		}
		if _, ok := seen[c.Parent]; !ok {
			errAt(nodes[c.ID], fmt.Sprintf("categories[%d].parent", seen[c.ID]), "%q is not the id of a category of this file", c.Parent)
			cats[i].Parent = "" // reported; keeps the check below to the rest
		}
	}
	if err := store.CheckCategories(cats); err != nil {
		for _, e := range unjoin(err) {
			errAt(list, "categories", "%v", e)
		}
	}
	return cats
}

// unjoin splits an errors.Join error into its errors.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
