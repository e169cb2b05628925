package check

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"net/http"

	"github.com/gcload/gcload/ruleid"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/xccos"
)

var fileRules = []string{ruleid.FileTokenAccess, ruleid.FileUploadOnce, ruleid.FilePostFanout, ruleid.FileRoundTrip}

// probeFiles: file posts through the web service (docs/protocol.md, "File
// posts"), unless the server answers cmd:getfutok 400 (file posts off,
// filepost=false): then the file rules are skipped. The first user
// uploads to the chat room; the upload token must not serve twice; the
// post must reach the uploader and the second member, each once, with an
// ftdb naming the file; the second member downloads the same bytes; a
// non-member of the closed room gets no token for it, neither to upload
// nor to download a file posted there.
func probeFiles(ctx context.Context, s *suite, pr *probeRun) error {
	room := s.room(s.t.Rooms.Chat)
	up, err := s.connect(ctx, pr, s.t.Users[0])
	if err != nil {
		return err
	}
	other, err := s.connect(ctx, pr, s.t.Users[1])
	if err != nil {
		return err
	}
	if err := s.joinAll(ctx, []*member{up, other}, room); err != nil {
		return err
	}
	hc := &http.Client{Timeout: s.o.Timeout}
	name := "gcload-conform-" + s.runID + ".bin"
	data := bytes.Repeat([]byte("gcload "+s.runID+"\x00\xff\n"), 200)
	var tok *sipclient.FileToken
	err = s.within(ctx, func(ctx context.Context) (err error) { tok, err = up.UploadToken(ctx, room, name); return err })
	var re *sipclient.ReplyError
	if errors.As(err, &re) && re.Code == 400 {
		// file posts off (filepost=false): nothing to hold the server to
		for _, r := range fileRules {
			s.skip(r, fmt.Sprintf("file posts are off: cmd:getfutok was answered %d %s", re.Code, re.Text))
		}
		return nil
	}
	if err != nil {
		s.fail(ruleid.FileTokenAccess, fmt.Sprintf("cmd:getfutok by %s, a member of %s: %v", up.aor, room, err), nil)
		return nil
	}
	s.ok(ruleid.FileTokenAccess)
	if err := s.within(ctx, func(ctx context.Context) error {
		return sipclient.UploadFile(ctx, hc, tok, bytes.NewReader(data), int64(len(data)))
	}); err != nil {
		return fmt.Errorf("upload to %s: %w", tok.ServerURI, err)
	}
	// the same token again: refused
	err = s.within(ctx, func(ctx context.Context) error {
		return sipclient.UploadFile(ctx, hc, tok, bytes.NewReader(data), int64(len(data)))
	})
	var he *sipclient.HTTPError
	switch {
	case err == nil:
		s.fail(ruleid.FileUploadOnce, "a second upload with the same token to "+tok.ServerURI+" was accepted", nil)
	case errors.As(err, &he) && he.Status >= 400 && he.Status < 500:
		s.ok(ruleid.FileUploadOnce)
	default:
		s.fail(ruleid.FileUploadOnce, fmt.Sprintf("a second upload with the same token: %v, want a 4xx refusal", err), nil)
	}
	s.judgeFilePost(ctx, []*member{up, other}, up.aor, name, tok.FileURL)
	// the other member downloads the same bytes
	var dt *sipclient.FileToken
	if err := s.within(ctx, func(ctx context.Context) (err error) {
		dt, err = other.DownloadToken(ctx, room, tok.FileURL)
		return err
	}); err != nil {
		s.fail(ruleid.FileTokenAccess, fmt.Sprintf("cmd:getfdtok by %s, a member of %s: %v", other.aor, room, err), nil)
	} else {
		s.ok(ruleid.FileTokenAccess)
		var got bytes.Buffer
		err := s.within(ctx, func(ctx context.Context) error { _, _, err := sipclient.DownloadFile(ctx, hc, dt, &got); return err })
		switch {
		case err != nil:
			s.fail(ruleid.FileRoundTrip, fmt.Sprintf("download of %s by %s: %v", tok.FileURL, other.aor, err), nil)
		case !bytes.Equal(got.Bytes(), data):
			s.fail(ruleid.FileRoundTrip, fmt.Sprintf("%s downloaded %d bytes (SHA-256 %s) of a file of %d (SHA-256 %s)", other.aor, got.Len(), hexSum(got.Bytes()), len(data), hexSum(data)), nil)
		default:
			s.ok(ruleid.FileRoundTrip)
		}
	}
	return s.fileNonMember(ctx, pr, up, hc)
}

// fileNonMember: the fourth user, not a member of the closed room, gets
// no token to upload to it nor to download a file posted in it.
func (s *suite) fileNonMember(ctx context.Context, pr *probeRun, member *member, hc *http.Client) error {
	if s.t.Rooms.Closed == "" {
		s.skip(ruleid.FileTokenAccess, "no closed room given (rooms.closed, or --admin to create one)")
		return nil
	}
	closed := s.room(s.t.Rooms.Closed)
	var tok *sipclient.FileToken
	data := []byte("closed " + s.runID)
	if err := s.within(ctx, func(ctx context.Context) (err error) {
		if tok, err = member.UploadToken(ctx, closed, "closed-"+s.runID+".txt"); err != nil {
			return err
		}
		return sipclient.UploadFile(ctx, hc, tok, bytes.NewReader(data), int64(len(data)))
	}); err != nil {
		return fmt.Errorf("upload by %s to the closed room %s: %w", member.aor, closed, err)
	}
	m, err := s.connect(ctx, pr, s.t.Users[3])
	if err != nil {
		return err
	}
	for _, c := range []struct {
		what string
		ask  func(ctx context.Context) (*sipclient.FileToken, error)
	}{
		{"cmd:getfutok", func(ctx context.Context) (*sipclient.FileToken, error) {
			return m.UploadToken(ctx, closed, "intruder.txt")
		}},
		{"cmd:getfdtok", func(ctx context.Context) (*sipclient.FileToken, error) {
			return m.DownloadToken(ctx, closed, tok.FileURL)
		}},
	} {
		err := s.within(ctx, func(ctx context.Context) error { _, err := c.ask(ctx); return err })
		var re *sipclient.ReplyError
		switch {
		case err == nil:
			s.fail(ruleid.FileTokenAccess, fmt.Sprintf("%s, not a member, got a token from %s for the closed room %s", m.aor, c.what, closed), nil)
		case errors.As(err, &re) && re.Code == 403:
			s.ok(ruleid.FileTokenAccess)
		case errors.As(err, &re):
			s.fail(ruleid.FileTokenAccess, fmt.Sprintf("%s by a non-member of the closed room %s was refused with %d %s, want 403", c.what, closed, re.Code, re.Text), nil)
		default:
			return fmt.Errorf("%s: %w", c.what, err)
		}
	}
	return nil
}

// judgeFilePost: each member gets the file post once, from the uploader,
// with the file's name and an ftdb naming it.
func (s *suite) judgeFilePost(ctx context.Context, ms []*member, author, name, url string) {
	posts := func(evs []sipclient.Event) []*xccos.Chat {
		var out []*xccos.Chat
		for _, e := range evs {
			if e.Kind == sipclient.Delivery && e.Chat != nil && e.Chat.File != nil && e.Chat.File.FileURL == url {
				out = append(out, e.Chat)
			}
		}
		return out
	}
	for _, m := range ms {
		m.in.waitFor(ctx, s.o.Timeout, func(evs []sipclient.Event) bool { return len(posts(evs)) > 0 })
	}
	for _, m := range ms {
		got := posts(m.in.snapshot())
		switch {
		case len(got) == 0:
			s.fail(ruleid.FilePostFanout, fmt.Sprintf("%s got no file post naming %s within %v", m.aor, url, s.o.Timeout), nil)
		case len(got) > 1:
			s.fail(ruleid.FilePostFanout, fmt.Sprintf("%s got the file post of %s %d times", m.aor, url, len(got)), nil)
		case got[0].Author != author || got[0].Text != name:
			s.fail(ruleid.FilePostFanout, fmt.Sprintf("%s got the file post of %s from %q named %q, want from %s named %q", m.aor, url, got[0].Author, got[0].Text, author, name), nil)
		default:
			s.ok(ruleid.FilePostFanout)
		}
	}
}

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
