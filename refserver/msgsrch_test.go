package refserver_test

import (
	"bytes"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gcload/gcload/refserver"
	"github.com/gcload/gcload/refserver/refservertest"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/sipclient/sipclienttest"
	"github.com/gcload/gcload/xccos"
)

// TestMessageSearchEndToEnd: msgsrch over a real server, after a restart
// (so from the store): by keyword (any case), author, time range and
// room, newest first, bounded by its limit, only in rooms the user may
// read; a room the user may not read is refused 403, a disabled one 409;
// a file post is found with its ftdb, at the restarted server's URL.
func TestMessageSearchEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "gc.db")
	files := refserver.WithFiles(refserver.Files{Listen: "127.0.0.1:0", Dir: filepath.Join(dir, "files")})
	srv := refservertest.Start(t, refserver.WithDB(db), files,
		refserver.WithRooms(refservertest.Room("room1", fAlice, fBob), refservertest.Room("room2", fCarol)))
	ctx := ctxT(t)
	a := sipclienttest.Connect(t, srv.TCPAddr(), fAlice, sipclient.FlowClient)
	b := sipclienttest.Connect(t, srv.TCPAddr(), fBob, sipclient.FlowClient)
	c := sipclienttest.Connect(t, srv.TCPAddr(), fCarol, sipclient.FlowClient)
	for _, j := range []struct {
		c    *sipclient.Client
		room string
	}{{a, room1}, {b, room1}, {c, room2}} {
		if _, err := j.c.Join(ctx, j.room); err != nil {
			t.Fatal(err)
		}
	}
	post := func(c *sipclient.Client, room, text string) {
		t.Helper()
		if _, err := c.Post(ctx, room, text); err != nil {
			t.Fatal(err)
		}
	}
	post(a, room1, "Alpha report")
	post(a, room1, "beta")
	post(b, room1, "ALPHA again")
	post(c, room2, "alpha secret")
	tok, err := a.UploadToken(ctx, room1, "alpha.pdf")
	if err != nil {
		t.Fatal(err)
	}
	if err := sipclient.UploadFile(ctx, http.DefaultClient, tok, bytes.NewReader([]byte("%PDF")), 4); err != nil {
		t.Fatal(err)
	}
	waitFilePost(t, b)
	srv.Close()

	srv = refservertest.Start(t, refserver.WithDB(db), files)
	b = sipclienttest.Connect(t, srv.TCPAddr(), fBob, sipclient.FlowClient)
	texts := func(found []xccos.Chat) string {
		var out []string
		for _, m := range found {
			out = append(out, m.Text)
		}
		return strings.Join(out, "|")
	}
	search := func(q xccos.MsgQuery, want string) []xccos.Chat {
		t.Helper()
		found, err := b.SearchMessages(ctx, q)
		if err != nil {
			t.Fatalf("msgsrch %+v: %v", q, err)
		}
		if got := texts(found); got != want {
			t.Fatalf("msgsrch %+v found %q, want %q", q, got, want)
		}
		return found
	}
	found := search(xccos.MsgQuery{Keyword: "alpha"}, "alpha.pdf|ALPHA again|Alpha report")
	if f := found[0].File; f == nil || !strings.HasPrefix(f.FileURL, srv.FilesURL()+"/files/") || found[0].Author != fAlice {
		t.Fatalf("the file post found: %+v, file %+v (files now at %s)", found[0], f, srv.FilesURL())
	}
	search(xccos.MsgQuery{Author: fAlice}, "alpha.pdf|beta|Alpha report")
	search(xccos.MsgQuery{Author: fAlice, Keyword: "ALPHA", Limit: 1}, "alpha.pdf")
	search(xccos.MsgQuery{ChanURI: room1, From: xccos.FormatTime(found[1].TS), To: xccos.FormatTime(found[1].TS)}, "ALPHA again")
	search(xccos.MsgQuery{Keyword: "secret"}, "")
	var re *sipclient.ReplyError
	if _, err := b.SearchMessages(ctx, xccos.MsgQuery{ChanURI: room2}); !errors.As(err, &re) || re.Code != 403 {
		t.Fatalf("msgsrch in a room fBob may not read: %v, want 403", err)
	}
	if code := httpDo(t, srv, "POST", "/api/rooms/room1/disable", ""); code != 200 {
		t.Fatalf("disable: %d", code)
	}
	if _, err := b.SearchMessages(ctx, xccos.MsgQuery{ChanURI: room1}); !errors.As(err, &re) || re.Code != 409 {
		t.Fatalf("msgsrch in a disabled room: %v, want 409", err)
	}
	search(xccos.MsgQuery{Keyword: "alpha"}, "")
}
