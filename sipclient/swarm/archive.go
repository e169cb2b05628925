package swarm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/gcload/gcload/refserver/adminapi"
	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/sipclient"
)

// Archive reads a reference server's compliance archive (its admin API;
// *adminclient.Client implements it).
type Archive interface {
	ArchiveHead(ctx context.Context) (string, error)
	Archive(ctx context.Context, after string, limit int) (adminapi.Archive, error)
}

// archivePage is the records read per request by the cross-check.
const archivePage = 2000

// maxExamples bounds the examples a cross-check keeps of each finding.
const maxExamples = 5

// Record kinds the cross-check counts per user and room.
const (
	kindJoin     = adminapi.KindJoin
	kindPart     = adminapi.KindPart
	kindBackchat = adminapi.KindBackchat
	kindDownload = adminapi.KindFileDownload
)

// evKey names what an archive record of JOIN, PART, BACKCHAT or
// FILEDOWNLOAD is about.
type evKey struct {
	kind       string
	user, room int32
}

// archiveLog counts, per user, room and kind, the joins, parts and history
// views the server acknowledged, and those whose answer never came (the
// server may or may not have done them).
type archiveLog struct {
	mu            sync.Mutex
	acked, unsure map[evKey]int32
}

func newArchiveLog() *archiveLog {
	return &archiveLog{acked: map[evKey]int32{}, unsure: map[evKey]int32{}}
}

// note records the outcome of a command about rooms: done (acknowledged),
// refused with an error reply (nothing to archive) or unknown (any other
// error: a timeout, a lost connection).
func (l *archiveLog) note(kind string, user int32, rooms []int32, err error) {
	if l == nil {
		return
	}
	var re *sipclient.ReplyError
	if err != nil && errors.As(err, &re) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.acked
	if err != nil {
		m = l.unsure
	}
	for _, r := range rooms {
		m[evKey{kind, user, r}]++
	}
}

// checkArchive reads the archive after cursor from and compares it with
// what this shard's users did: every acknowledged post (and, for a file
// post, its upload), join, part, history view and file download must be
// there exactly once; what the server refused or what
// was never sent must not be; what went unanswered may be there once.
// Records of other users, rooms, runs or shards are not this run's.
func (s *Swarm) checkArchive(ctx context.Context, from string) *reports.Compliance {
	c := &reports.Compliance{Examples: []string{}}
	users := make(map[string]int32, len(s.plan.Users))
	for i, u := range s.plan.Users {
		if s.o.Shard.Owns(int32(i)) {
			users[u] = int32(i)
		}
	}
	rooms := make(map[string]int32, len(s.plan.Rooms))
	for i, r := range s.plan.Rooms {
		rooms[r.ID] = int32(i)
	}
	got := map[evKey]int32{}
	posts := map[int32]int32{}   // by slot
	uploads := map[int32]int32{} // FILEUPLOAD records, by slot
	shard := int32(max(s.o.Shard.Index, 1))
	after := from
	for {
		page, err := s.o.Archive.Archive(ctx, after, archivePage)
		if err != nil {
			c.Error = fmt.Sprintf("reading the compliance archive after %q: %v", after, err)
			return c
		}
		if len(page.Records) == 0 {
			break
		}
		for _, r := range page.Records {
			room, ok := rooms[r.Room]
			if !ok {
				continue
			}
			switch r.Kind {
			case adminapi.KindChat:
				m, ok := parseMarker(r.Text, s.plan.RunTag)
				if !ok || m.shard != shard || m.room != room || m.index < 0 || m.index >= s.plan.Rooms[room].Posts {
					continue
				}
				posts[s.acct.base[room]+m.index]++
			case adminapi.KindFileUpload:
				// its detail is the file's name: the post's marker
				m, ok := parseMarker(r.Detail, s.plan.RunTag)
				if !ok || m.shard != shard || m.room != room || m.index < 0 || m.index >= s.plan.Rooms[room].Posts {
					continue
				}
				uploads[s.acct.base[room]+m.index]++
			case adminapi.KindFileDownload:
				u, ok := users[r.User]
				if _, mine := parseMarker(r.Detail, s.plan.RunTag); !ok || !mine {
					continue // another user's, or a file of another run
				}
				got[evKey{r.Kind, u, room}]++
			case adminapi.KindJoin, adminapi.KindPart, adminapi.KindBackchat:
				u, ok := users[r.User]
				if !ok || (r.Kind == adminapi.KindPart && r.Detail != "") {
					continue // not ours; a part the user did not send cmd:part for
				}
				got[evKey{r.Kind, u, room}]++
			}
		}
		after = page.Next
	}
	example := func(format string, args ...any) {
		if len(c.Examples) < maxExamples {
			c.Examples = append(c.Examples, fmt.Sprintf(format, args...))
		}
	}
	// posts
	for r, ops := range s.plan.PostOp {
		for i, oi := range ops {
			if !s.o.Shard.Owns(s.plan.Ops[oi].User) {
				continue
			}
			slot := s.acct.base[r] + int32(i)
			ps := &s.acct.posts[slot]
			what := fmt.Sprintf("post %d of room %s by %s", i, s.plan.Rooms[r].ID, s.plan.Users[s.plan.Ops[oi].User])
			judge := func(what string, n int32) {
				switch st := ps.status.Load(); {
				case st == postAcked:
					c.Checked++
					if n == 0 {
						c.Missing++
						example("missing: acknowledged %s", what)
					} else if n > 1 {
						c.Extra += int64(n - 1)
						example("extra: acknowledged %s archived %d times", what, n)
					}
				case st == postFailed || (st == postPending && ps.sent.Load() != 0):
					if n > 1 {
						c.Extra += int64(n - 1)
						example("extra: unanswered %s archived %d times", what, n)
					}
				default: // rejected, dropped, skipped, never sent
					if n > 0 {
						c.Extra += int64(n)
						example("extra: %s, which was never stored, archived %d times", what, n)
					}
				}
			}
			judge(what, posts[slot])
			if s.plan.Ops[oi].File {
				judge("FILEUPLOAD of "+what, uploads[slot])
			} else if n := uploads[slot]; n > 0 {
				c.Extra += int64(n)
				example("extra: FILEUPLOAD of %s, a text post, archived %d times", what, n)
			}
		}
	}
	// joins, parts, history views
	l := s.archive
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := map[evKey]bool{}
	for k := range l.acked {
		keys[k] = true
	}
	for k := range l.unsure {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	for k := range keys {
		acked, unsure, n := l.acked[k], l.unsure[k], got[k]
		c.Checked += int64(acked)
		what := fmt.Sprintf("%s of %s in room %s", k.kind, s.plan.Users[k.user], s.plan.Rooms[k.room].ID)
		switch {
		case n < acked:
			c.Missing += int64(acked - n)
			example("missing: %d of %d acknowledged %s", acked-n, acked, what)
		case n > acked+unsure:
			c.Extra += int64(n - acked - unsure)
			example("extra: %s archived %d times, acknowledged %d (%d unanswered)", what, n, acked, unsure)
		}
	}
	return c
}
