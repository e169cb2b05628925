package channel

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/refserver/web"
	"github.com/gcload/gcload/xccos"
)

// fileToken handles cmd:getfutok (upload) and cmd:getfdtok (download):
// data holds <ftdb channelUri=ROOM fileUrl=NAME-or-URL/>; the reply is
// rpl:getftok with the ftdb (fileUrl the file's URL) and the token, whose
// serveruri is the URL to PUT the file to or GET it from.
func (h *Hub) fileToken(s *session, envid uint64, name string, d *xccos.Data) {
	const rpl = "getftok"
	upload := name == "getfutok"
	if h.cfg.Files == nil {
		s.reply(rpl, envid, CodeBadRequest, "file posts are not enabled on this server (filepost=false)", nil)
		return
	}
	if d.File == nil || d.File.ChannelURI == "" {
		s.reply(rpl, envid, CodeBadRequest, "cmd:"+name+" needs <ftdb channelUri=ROOM fileUrl=…/>", nil)
		return
	}
	uri := d.File.ChannelURI
	r := h.roomByURI(uri)
	if r == nil {
		s.reply(rpl, envid, CodeNotFound, "no room "+uri+" on this server", nil)
		return
	}
	if code, text := h.fileAccess(r, s.user, upload); code != 0 {
		s.reply(rpl, envid, code, text, nil)
		return
	}
	h.query(s, rpl, envid, func() {
		ctx, cancel := h.queryContext(10 * time.Second)
		defer cancel()
		var tok, url string
		var err error
		if upload {
			tok, url, err = h.cfg.Files.UploadToken(ctx, s.user, r.id, d.File.FileURL)
		} else {
			url = d.File.FileURL
			tok, err = h.cfg.Files.DownloadToken(ctx, s.user, r.id, url)
		}
		if err != nil {
			code := CodeServer
			switch {
			case errors.Is(err, web.ErrBadName):
				code = CodeBadRequest
			case errors.Is(err, web.ErrBadURL):
				code = CodeNotFound
			case errors.Is(err, web.ErrTooMany):
				code = CodeTooLong
			case errors.Is(err, web.ErrBusy):
				code = CodeBusy
			}
			s.reply(rpl, envid, code, err.Error(), nil)
			return
		}
		s.reply(rpl, envid, CodeOK, "", &xccos.Data{
			File:  &xccos.FTDB{ChannelURI: r.uri, FileURL: url},
			Token: &xccos.Token{Token: tok, ServerURI: url},
		})
	})
}

// fileAccess returns 0 when user may upload to (upload) or download from
// a room, else the XCCOS code and text of the refusal.
func (h *Hub) fileAccess(r *room, user string, upload bool) (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.hiddenFrom(user):
		return CodeNotFound, "no room " + r.uri + " on this server"
	case r.info.Disabled:
		return CodeDisabled, "room " + r.uri + " is disabled"
	case h.cfg.Faults.Has(fault.FileTokenNonMember):
		return 0, ""
	case !r.canRead(user):
		return CodeForbidden, user + " is not a member of " + r.uri
	case upload && !r.canPost(user):
		return CodeForbidden, "only presenters post in auditorium " + r.uri
	}
	return 0, ""
}

// FileAccess implements web.Rooms.
func (h *Hub) FileAccess(user, roomID string, upload bool) error {
	r := h.room(roomID)
	if r == nil {
		return fmt.Errorf("no room %q", roomID)
	}
	if code, text := h.fileAccess(r, user, upload); code != 0 {
		return errors.New(text)
	}
	return nil
}

// FilePost implements web.Rooms: the post announcing an uploaded file is
// stored like a message (its text the file's name) and fanned out to
// every member online once durable, with an ftdb naming the file.
func (h *Hub) FilePost(ctx context.Context, f store.File) error {
	r := h.room(f.RoomID)
	if r == nil {
		return fmt.Errorf("no room %q", f.RoomID)
	}
	done := make(chan error, 1)
	r.mu.Lock()
	if r.info.Disabled {
		r.mu.Unlock()
		return fmt.Errorf("room %s is disabled", r.uri)
	}
	m := store.Message{RoomID: r.id, Seq: r.nextSeq + 1, Author: f.Uploader, TS: h.cfg.Now().UTC(), Text: xccos.SanitizeText(f.Name), File: f.ID}
	if h.cfg.Faults.Has(fault.DropArchiveRecords) && h.stats.archiveSeq.Add(1)%10 == 0 {
		m.SkipArchive = true // a post like the others: its CHAT and FILEUPLOAD records go
	}
	if h.cfg.Faults.Has(fault.DropFileRecords) && h.stats.fileArchiveSeq.Add(1)%5 == 0 {
		m.SkipUploadArchive = true
	}
	p := &pending{hub: h, room: r, msg: m, envid: h.envids.Next(), done: done}
	var err error
	if h.pool != nil {
		err = h.postPool(r, p)
	} else {
		err = h.st.Append(m, p.durable)
	}
	if err != nil {
		r.mu.Unlock()
		h.stats.busy.Add(1)
		return fmt.Errorf("busy: the store is behind: %w", err)
	}
	if h.pool == nil {
		r.nextSeq++
	}
	r.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("file post: %w", ctx.Err())
	}
}

// fileOf is the ftdb of a stored file post (nil for a text post or when
// file posts are off).
func (h *Hub) fileOf(uri string, m store.Message) *xccos.FTDB {
	if m.File == "" || h.cfg.Files == nil {
		return nil
	}
	return &xccos.FTDB{ChannelURI: uri, FileURL: h.cfg.Files.FileURL(m.File)}
}
