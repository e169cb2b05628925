package check

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/xccos"
)

var searchRules = []string{ruleid.SearchMatch, ruleid.SearchAccess}

// probeMsgSearch: the msgsrch extension (docs/protocol.md). The first two
// users post to the chat room, the first three times and the second twice,
// with a keyword of this run; a search by that keyword (in another case)
// and the first user must return exactly the first user's three, newest
// first. The first user posts a secret to the closed room; the fourth user,
// not a member, must not find it, and a search naming the closed room is
// refused 403; a search naming the disabled room is refused 409.
func probeMsgSearch(ctx context.Context, s *suite, pr *probeRun) error {
	room := s.room(s.t.Rooms.Chat)
	a, err := s.connect(ctx, pr, s.t.Users[0])
	if err != nil {
		return err
	}
	b, err := s.connect(ctx, pr, s.t.Users[1])
	if err != nil {
		return err
	}
	if err := s.joinAll(ctx, []*member{a, b}, room); err != nil {
		return err
	}
	kw := "gcsearch-" + s.runID
	var mine []string
	for i, p := range []*member{a, b, a, b, a} {
		text := fmt.Sprintf("gcload-conform %s post %d", strings.ToUpper(kw), i)
		if err := s.within(ctx, func(ctx context.Context) error { _, err := p.Post(ctx, room, text); return err }); err != nil {
			return fmt.Errorf("post to %s: %w", room, err)
		}
		if p == a {
			mine = append([]string{text}, mine...) // newest first
		}
	}
	var found []xccos.Chat
	q := xccos.MsgQuery{Keyword: kw, Author: a.aor, Limit: 50}
	err = s.within(ctx, func(ctx context.Context) (err error) { found, err = b.SearchMessages(ctx, q); return err })
	var re *sipclient.ReplyError
	switch {
	case errors.As(err, &re) && re.Code == 400:
		for _, r := range searchRules {
			s.skip(r, fmt.Sprintf("the server has no msgsrch: it answered %d %s", re.Code, re.Text))
		}
		return nil
	case err != nil:
		s.fail(ruleid.SearchMatch, fmt.Sprintf("cmd:msgsrch by keyword and author: %v", err), nil)
	default:
		var got []string
		for _, m := range found {
			got = append(got, m.Text)
		}
		if strings.Join(got, "\n") != strings.Join(mine, "\n") {
			s.fail(ruleid.SearchMatch, fmt.Sprintf("cmd:msgsrch keyword=%q author=%s found %q; want %s's %d posts, newest first: %q", kw, a.aor, got, a.aor, len(mine), mine), nil)
		} else {
			s.ok(ruleid.SearchMatch)
		}
	}
	return s.searchAccess(ctx, pr, a)
}

// searchAccess: a non-member finds nothing of the closed room and is
// refused 403 naming it; the disabled room is refused 409.
func (s *suite) searchAccess(ctx context.Context, pr *probeRun, member *member) error {
	want := func(what string, code int, err error) {
		var re *sipclient.ReplyError
		switch {
		case err == nil:
			s.fail(ruleid.SearchAccess, fmt.Sprintf("%s was answered 200, want %d", what, code), nil)
		case errors.As(err, &re) && re.Code == code:
			s.ok(ruleid.SearchAccess)
		case errors.As(err, &re):
			s.fail(ruleid.SearchAccess, fmt.Sprintf("%s was refused with %d %s, want %d", what, re.Code, re.Text, code), nil)
		default:
			s.fail(ruleid.SearchAccess, fmt.Sprintf("%s: %v, want %d", what, err, code), nil)
		}
	}
	if s.t.Rooms.Disabled != "" {
		disabled := s.room(s.t.Rooms.Disabled)
		err := s.within(ctx, func(ctx context.Context) error {
			_, err := member.SearchMessages(ctx, xccos.MsgQuery{ChanURI: disabled})
			return err
		})
		want("cmd:msgsrch naming the disabled room "+disabled, 409, err)
	}
	if s.t.Rooms.Closed == "" {
		s.skip(ruleid.SearchAccess, "no closed room given (rooms.closed, or --admin to create one)")
		return nil
	}
	closed := s.room(s.t.Rooms.Closed)
	secret := "gcsecret-" + s.runID
	if err := s.within(ctx, func(ctx context.Context) error {
		if _, err := member.Join(ctx, closed); err != nil {
			return err
		}
		_, err := member.Post(ctx, closed, "gcload-conform "+secret)
		return err
	}); err != nil {
		return fmt.Errorf("post to the closed room %s: %w", closed, err)
	}
	m, err := s.connect(ctx, pr, s.t.Users[3])
	if err != nil {
		return err
	}
	var found []xccos.Chat
	if err := s.within(ctx, func(ctx context.Context) (err error) {
		found, err = m.SearchMessages(ctx, xccos.MsgQuery{Keyword: secret})
		return err
	}); err != nil {
		s.fail(ruleid.SearchAccess, fmt.Sprintf("cmd:msgsrch by %s over the rooms it may read: %v", m.aor, err), nil)
	} else if len(found) > 0 {
		s.fail(ruleid.SearchAccess, fmt.Sprintf("%s, not a member of the closed room %s, found %d of its posts by keyword: %q", m.aor, closed, len(found), found[0].Text), nil)
	} else {
		s.ok(ruleid.SearchAccess)
	}
	err = s.within(ctx, func(ctx context.Context) error {
		_, err := m.SearchMessages(ctx, xccos.MsgQuery{ChanURI: closed})
		return err
	})
	want("cmd:msgsrch naming the closed room "+closed+" by "+m.aor+", not a member,", 403, err)
	return nil
}
