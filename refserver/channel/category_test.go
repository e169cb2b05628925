package channel_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver/channel"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/sipclient"
)

// categoryTree: top allows carol (member and creator); mid, below it,
// adds dave; own, below top, overrides: only erin. Rooms: in-mid and
// secret-mid (secret) in mid, in-own in own, all without roles for them.
func categoryTree(t *testing.T, faults fault.Set) *env {
	t.Helper()
	carol, dave, erin := user("carol"), user("dave"), user("erin")
	e := start(t, "", func(c *channel.Config) { c.Faults = faults },
		store.Room{ID: "in-mid", Name: "In mid", Category: "mid", Members: []string{user("alice")}},
		store.Room{ID: "secret-mid", Name: "Secret mid", Category: "mid", Privacy: store.Secret},
		store.Room{ID: "in-own", Name: "In own", Category: "own"},
		store.Room{ID: "label", Name: "Only a label", Category: "Engineering"})
	ctx := t.Context()
	for _, c := range []store.Category{
		{ID: "top", Name: "Top", Members: []string{carol}, Creators: []string{carol}},
		{ID: "mid", Name: "Mid", Parent: "top", Members: []string{dave}},
		{ID: "own", Name: "Own", Parent: "top", Override: true, Members: []string{erin}},
	} {
		if _, err := e.hub.PutCategory(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func code(err error) int {
	var re *sipclient.ReplyError
	if errors.As(err, &re) {
		return re.Code
	}
	if err == nil {
		return 200
	}
	return -1
}

// TestCategoryInheritance: a user a category allows reads the rooms below
// it (joins, finds a secret one) unless a category between overrides;
// nobody else does; a room whose category is only a label inherits
// nothing; a category changed takes its users out of the rooms below.
func TestCategoryInheritance(t *testing.T) {
	t.Parallel()
	e := categoryTree(t, fault.Set{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	carol, dave, erin, bob := e.connect(t, user("carol")), e.connect(t, user("dave")), e.connect(t, user("erin")), e.connect(t, user("bob"))
	for _, tc := range []struct {
		c    *sipclient.Client
		room string
		want int
	}{
		{carol, "in-mid", 200},     // from top, through mid
		{dave, "in-mid", 200},      // mid's own
		{bob, "in-mid", 403},       // nobody's
		{carol, "secret-mid", 200}, // a secret room: found and read through the category
		{bob, "secret-mid", 404},   // and hidden from the others
		{carol, "in-own", 403},     // own overrides top
		{dave, "in-own", 403},
		{erin, "in-own", 200},
		{erin, "in-mid", 403}, // rights pass down, not up or sideways
		{carol, "label", 403}, // not a category: a label
	} {
		if _, err := tc.c.Join(ctx, room(tc.room)); code(err) != tc.want {
			t.Errorf("%s joins %s: %v, want %d", tc.c.User(), tc.room, err, tc.want)
		}
	}
	found, err := carol.SearchRooms(ctx, "secret")
	if err != nil || len(found) != 1 {
		t.Errorf("carol's chansrch for the secret room: %+v, %v", found, err)
	}
	// top no longer allows carol: she leaves the room she was in
	if _, err := e.hub.PutCategory(ctx, store.Category{ID: "top", Name: "Top", Creators: []string{user("carol")}}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, carol, sipclient.Parted); ev.User != user("carol") {
		t.Fatalf("carol was told %+v", ev)
	}
	if _, err := carol.Join(ctx, room("in-mid")); code(err) != 403 {
		t.Errorf("carol joins in-mid after top dropped her: %v, want 403", err)
	}
	// the hub lists the categories as they now are
	st2 := e.hub.Categories()
	if len(st2) != 3 || st2[2].ID != "top" || len(st2[2].Members) != 0 {
		t.Errorf("categories: %+v", st2)
	}
	// the hierarchy stays sound
	for _, bad := range []store.Category{
		{ID: "top", Name: "Top", Parent: "mid"},      // a cycle
		{ID: "x", Name: "X", Parent: "nope"},         // no such parent
		{ID: "y", Name: "Y", Members: []string{"y"}}, // not a user
	} {
		if _, err := e.hub.PutCategory(ctx, bad); !errors.Is(err, channel.ErrInvalid) {
			t.Errorf("PutCategory(%+v): %v, want ErrInvalid", bad, err)
		}
	}
}

// TestCategoryFaults: each fault breaks the rule it names.
func TestCategoryFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		f    fault.Name
		who  string
		room string
		want int
	}{
		{fault.IgnoreCategoryMembers, "carol", "in-mid", 403},
		{fault.IgnoreCategoryOverride, "carol", "in-own", 200},
	} {
		t.Run(string(tc.f), func(t *testing.T) {
			t.Parallel()
			e := categoryTree(t, fault.Set{}.With(tc.f))
			c := e.connect(t, user(tc.who))
			if _, err := c.Join(t.Context(), room(tc.room)); code(err) != tc.want {
				t.Errorf("%s joins %s: %v, want %d", tc.who, tc.room, err, tc.want)
			}
		})
	}
}

// TestCreateRoomInCategory: cmd:chancreate from a creator the category
// allows (inherited from its parent) creates the room, with the creator as
// its manager and invitations for the members it names; anyone else is
// refused 403 and nothing is created (under let-anyone-create, done).
func TestCreateRoomInCategory(t *testing.T) {
	t.Parallel()
	for _, faults := range []fault.Set{{}, fault.Set{}.With(fault.LetAnyoneCreate)} {
		t.Run(faults.String(), func(t *testing.T) {
			t.Parallel()
			e := categoryTree(t, faults)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			carol, bob, frank := e.connect(t, user("carol")), e.connect(t, user("bob")), e.connect(t, user("frank"))
			_, err := bob.CreateRoom(ctx, sipclient.NewRoom{URI: room("bobs"), Name: "Bob's", Category: "mid"})
			if faults.Empty() {
				if code(err) != 403 {
					t.Fatalf("bob's chancreate: %v, want 403", err)
				}
				if _, err := e.hub.Room("bobs"); !errors.Is(err, channel.ErrNotFound) {
					t.Fatalf("the refused chancreate made a room: %v", err)
				}
			} else if err != nil {
				t.Fatalf("let-anyone-create: bob's chancreate: %v", err)
			}
			got, err := carol.CreateRoom(ctx, sipclient.NewRoom{URI: room("new"), Name: "New", Topic: "t", Category: "mid", Privacy: "secret", Members: []string{user("frank")}})
			if err != nil || got.URI != room("new") || got.Name != "New" {
				t.Fatalf("carol's chancreate: %+v, %v", got, err)
			}
			r, err := e.hub.Room("new")
			if err != nil || r.Category != "mid" || r.Privacy != store.Secret || !slices.Equal(r.Managers, []string{user("carol")}) ||
				!slices.Equal(r.Members, []string{user("carol"), user("frank")}) {
				t.Fatalf("the room created: %+v, %v", r, err)
			}
			if invs, err := frank.Invitations(ctx); err != nil || len(invs) != 1 || invs[0].ChanURI != room("new") || invs[0].Author != user("carol") {
				t.Fatalf("frank's invitations: %+v, %v", invs, err)
			}
			if _, err := frank.Join(ctx, room("new")); err != nil {
				t.Fatalf("frank joins the room made for him: %v", err)
			}
			for _, tc := range []struct {
				r    sipclient.NewRoom
				want int
			}{
				{sipclient.NewRoom{URI: room("new"), Name: "Again", Category: "mid"}, 409},
				{sipclient.NewRoom{URI: room("other"), Name: "Other", Category: "nope"}, 404},
				{sipclient.NewRoom{URI: room("other"), Name: "Other", Category: "own"}, 403}, // own overrides top's creators
				{sipclient.NewRoom{URI: room("other"), Name: "", Category: "mid"}, 400},
				{sipclient.NewRoom{URI: "ma-chan://elsewhere/x", Name: "X", Category: "mid"}, 400},
			} {
				if faults.Has(fault.LetAnyoneCreate) && tc.want == 403 {
					continue
				}
				if _, err := carol.CreateRoom(ctx, tc.r); code(err) != tc.want {
					t.Errorf("chancreate %+v: %v, want %d", tc.r, err, tc.want)
				}
			}
		})
	}
}
