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
	"github.com/gcload/gcload/xccos"
)

// TestManagersUpdateRooms: cmd:chanupd from a member who is not a manager
// is refused 403 and changes nothing; a manager's changes the topic and
// privacy, adds a member (who gets an invitation) and takes one out (who
// leaves the room); bad input is refused 400. With the faults, a member
// may manage, and no invitation is made.
func TestManagersUpdateRooms(t *testing.T) {
	t.Parallel()
	alice, bob, carol, dave := user("alice"), user("bob"), user("carol"), user("dave")
	eng := closedRoom("eng", alice, bob)
	eng.Managers = []string{alice}
	for _, faults := range []fault.Set{{}, fault.Set{}.With(fault.LetAnyoneManage).With(fault.NoInvitation)} {
		t.Run(faults.String(), func(t *testing.T) {
			t.Parallel()
			e := start(t, "", func(c *channel.Config) { c.Faults = faults }, eng)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			a, b, c := e.connect(t, alice), e.connect(t, bob), e.connect(t, carol)
			if _, err := b.Join(ctx, room("eng")); err != nil {
				t.Fatal(err)
			}
			_, err := b.UpdateRoom(ctx, room("eng"), sipclient.RoomUpdate{Topic: "bob's"})
			var re *sipclient.ReplyError
			if faults.Empty() {
				if !errors.As(err, &re) || re.Code != 403 {
					t.Fatalf("a member's chanupd: %v, want 403", err)
				}
				if r, _ := e.hub.Room("eng"); r.Topic == "bob's" {
					t.Fatal("the refused chanupd changed the topic")
				}
			} else if err != nil {
				t.Fatalf("let-anyone-manage: a member's chanupd: %v", err)
			}
			got, err := a.UpdateRoom(ctx, room("eng"), sipclient.RoomUpdate{Topic: "releases", Privacy: "open", AddMembers: []string{carol, dave}, RemoveMembers: []string{bob, dave}})
			if err != nil || got.Topic != "releases" || len(got.Props) != 1 || got.Props[0] != (xccos.KV{ID: xccos.PropPrivacy, Value: "open"}) {
				t.Fatalf("the manager's chanupd: %+v, %v", got, err)
			}
			r, _ := e.hub.Room("eng")
			if r.Topic != "releases" || r.Privacy != store.Open || !slices.Equal(r.Members, []string{alice, carol}) {
				t.Fatalf("room after the update: %+v", r)
			}
			if faults.Empty() {
				// carol is invited, dave (added and removed at once) is not
				invs, err := c.Invitations(ctx)
				if err != nil || len(invs) != 1 || invs[0].ChanURI != room("eng") || invs[0].Author != alice {
					t.Fatalf("carol's invitations: %+v, %v", invs, err)
				}
				// closed again: bob, no longer a member, leaves the room he was online in
				if _, err := a.UpdateRoom(ctx, room("eng"), sipclient.RoomUpdate{Privacy: "closed"}); err != nil {
					t.Fatal(err)
				}
				if ev := next(t, b, sipclient.Parted); ev.User != bob {
					t.Fatalf("bob was told %+v", ev)
				}
			} else if invs, err := c.Invitations(ctx); err != nil || len(invs) != 0 {
				t.Fatalf("no-invitation: carol's invitations %+v, %v", invs, err)
			}
			for _, bad := range []sipclient.RoomUpdate{{}, {Privacy: "public"}, {AddMembers: []string{"carol"}}} {
				if _, err := a.UpdateRoom(ctx, room("eng"), bad); !errors.As(err, &re) || re.Code != 400 {
					t.Errorf("chanupd %+v: %v, want 400", bad, err)
				}
			}
			if _, err := a.UpdateRoom(ctx, room("nope"), sipclient.RoomUpdate{Topic: "x"}); !errors.As(err, &re) || re.Code != 404 {
				t.Errorf("chanupd of no room: %v, want 404", err)
			}
		})
	}
}
