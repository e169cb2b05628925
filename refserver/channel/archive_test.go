package channel_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver/channel"
	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/store"
)

// archive reads every record of the hub's store.
func (e *env) archive(t *testing.T) []string {
	t.Helper()
	var out []string
	var cur store.Cursor
	for {
		page, next, err := e.st.ReadArchive(context.Background(), store.ArchiveQuery{After: cur})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		for _, ev := range page {
			out = append(out, fmt.Sprintf("%s %s %s %q %q", ev.Kind, ev.RoomID, ev.User, ev.Text, ev.Detail))
		}
		cur = next
	}
}

// TestArchiveRecordsEveryEvent: a join, a post, a history view, a part and
// a session's end are in the archive, each once, in order, by the time the
// client has the answer (the part nobody waited for, soon after).
func TestArchiveRecordsEveryEvent(t *testing.T) {
	t.Parallel()
	alice, bob := user("alice"), user("bob")
	e := start(t, "", nil, closedRoom("eng", alice, bob))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := e.connect(t, alice), e.connect(t, bob)
	if _, err := a.Join(ctx, room("eng")); err != nil {
		t.Fatal(err)
	}
	if got := e.archive(t); !slices.Equal(got, []string{`JOIN eng ` + alice + ` "" ""`}) {
		t.Fatalf("after the join's reply: %q", got)
	}
	if _, err := a.Post(ctx, room("eng"), "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.History(ctx, room("eng"), 10); err != nil {
		t.Fatal(err)
	}
	if err := a.Part(ctx, room("eng")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(ctx, room("eng")); err != nil {
		t.Fatal(err)
	}
	want := []string{
		`JOIN eng ` + alice + ` "" ""`,
		`CHAT eng ` + alice + ` "hello" ""`,
		`BACKCHAT eng ` + alice + ` "" "1"`,
		`PART eng ` + alice + ` "" ""`,
		`JOIN eng ` + bob + ` "" ""`,
	}
	if got := e.archive(t); !slices.Equal(got, want) {
		t.Fatalf("archive:\n got %q\nwant %q", got, want)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	want = append(want, `PART eng `+bob+` "" "session ended"`)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got := e.archive(t)
		if slices.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after bob's BYE:\n got %q\nwant %q", got, want)
		}
	}
}

// TestDropArchiveRecords: the drop-archive-records fault stores and
// acknowledges every post but archives nine in ten.
func TestDropArchiveRecords(t *testing.T) {
	t.Parallel()
	alice := user("alice")
	e := start(t, "", func(c *channel.Config) { c.Faults = fault.Set{}.With(fault.DropArchiveRecords) }, closedRoom("eng", alice))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := e.connect(t, alice)
	if _, err := a.Join(ctx, room("eng")); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, err := a.Post(ctx, room("eng"), fmt.Sprint("post ", i)); err != nil {
			t.Fatal(err)
		}
	}
	chats := 0
	for _, r := range e.archive(t) {
		if r[:4] == "CHAT" {
			chats++
		}
	}
	if h, err := e.st.History(ctx, "eng", 100); err != nil || len(h) != 20 || chats != 18 {
		t.Fatalf("%d posts stored (%v), %d archived; want 20 and 18", len(h), err, chats)
	}
}
