package channel_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/gcload/gcload/refserver/channel"
	"github.com/gcload/gcload/sipclient"
)

// TestGatheredNotices: with a notice delay, the joins and parts of a window
// reach each member online as one notice naming them all, and each member
// hears of exactly what it would have heard one notice at a time: the
// joins after its own, never itself. Without a delay the same joins and
// parts take one notice per user and member.
func TestGatheredNotices(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                 string
		delay                time.Duration
		joinINFOs, partINFOs uint64
	}{
		// alice hears of bob, carol, dave; bob of carol, dave; carol of dave
		{"gathered", time.Second, 3, 2},
		{"one by one", 0, 6, 5}, // carol hears of bob's part too
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			names := []string{"alice", "bob", "carol", "dave"}
			var members []string
			for _, n := range names {
				members = append(members, user(n))
			}
			e := start(t, "", func(c *channel.Config) { c.NoticeDelay = tc.delay }, closedRoom("eng", members...))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var cs []*sipclient.Client
			for _, u := range members {
				cs = append(cs, e.connect(t, u))
			}
			start := time.Now()
			for _, c := range cs {
				if _, err := c.Join(ctx, room("eng")); err != nil {
					t.Fatal(err)
				}
			}
			if tc.delay > 0 && time.Since(start) >= tc.delay {
				t.Skipf("the four joins took %v, longer than the window of %v: the machine is too slow for this test", time.Since(start), tc.delay)
			}
			for i, c := range cs[:3] {
				var got []string
				for range members[i+1:] {
					got = append(got, next(t, c, sipclient.Joined).User)
				}
				if !slices.Equal(got, members[i+1:]) {
					t.Fatalf("%s heard of joins %v, want %v", names[i], got, members[i+1:])
				}
			}
			waitNotices(t, e.hub, tc.joinINFOs)
			// every notice is in: dave heard of no join, his own was the last
			for len(cs[3].Events()) > 0 {
				if ev := <-cs[3].Events(); ev.Kind == sipclient.Joined {
					t.Fatalf("dave heard of a join: %+v", ev)
				}
			}
			// bob and carol leave: alice and dave hear of both (gathered, carol
			// has gone when the window's notices go out)
			for _, c := range cs[1:3] {
				if err := c.Close(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for _, i := range []int{0, 3} {
				var got []string
				for range 2 {
					got = append(got, next(t, cs[i], sipclient.Parted).User)
				}
				slices.Sort(got)
				if !slices.Equal(got, members[1:3]) {
					t.Fatalf("%s heard of parts %v, want %v", names[i], got, members[1:3])
				}
			}
			waitNotices(t, e.hub, tc.joinINFOs+tc.partINFOs)
		})
	}
}

// waitNotices waits until the hub has sent want notice INFOs, failing when
// it sent more or, after 5 s, fewer.
func waitNotices(t *testing.T, h *channel.Hub, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := h.Stats().Notices
		if got > want {
			t.Fatalf("%d notice INFOs sent, want %d", got, want)
		}
		if got == want {
			// and no more come within a window
			time.Sleep(1200 * time.Millisecond)
			if got := h.Stats().Notices; got != want {
				t.Fatalf("%d notice INFOs sent, want %d", got, want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d notice INFOs sent after 5s, want %d", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
