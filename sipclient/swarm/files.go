package swarm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gcload/gcload/reports"
	"github.com/gcload/gcload/sipclient"
	"github.com/gcload/gcload/xccos"
)

// ErrFileCorrupt: a downloaded file differs from the one uploaded.
var ErrFileCorrupt = errors.New("the downloaded file differs from the uploaded one")

// fileState is what a shard knows of the files of a run: the URL of each
// file post it received (by post slot), for its downloads.
type fileState struct {
	http *http.Client
	mu   sync.Mutex
	urls map[int32]string
}

func newFileState() *fileState {
	return &fileState{
		http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second, ForceAttemptHTTP2: false}},
		urls: map[int32]string{},
	}
}

func (f *fileState) url(slot int32) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.urls[slot]
}

func (f *fileState) received(slot int32, url string) {
	f.mu.Lock()
	f.urls[slot] = url
	f.mu.Unlock()
}

// fileContent is the content of a file post: a pattern naming the run,
// the room and the post, to size bytes, so that any shard can check a
// download without having seen the upload.
type fileContent struct {
	pattern []byte
	left    int64
	off     int
}

func newFileContent(tag string, room, index, size int32) *fileContent {
	return &fileContent{pattern: []byte(tag + ":" + strconv.Itoa(int(room)) + ":" + strconv.Itoa(int(index)) + " the quick brown fox jumps over the lazy dog\n"), left: int64(size)}
}

func (c *fileContent) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && c.left > 0 {
		chunk := c.pattern[c.off:]
		if int64(len(chunk)) > c.left {
			chunk = chunk[:c.left]
		}
		k := copy(p[n:], chunk)
		n += k
		c.left -= int64(k)
		c.off = (c.off + k) % len(c.pattern)
	}
	return n, nil
}

func contentSum(tag string, room, index, size int32) string {
	h := sha256.New()
	_, _ = io.Copy(h, newFileContent(tag, room, index, size))
	return hex.EncodeToString(h.Sum(nil))
}

// upload performs a file post: an upload token, the HTTP upload, and the
// post's accounting as a message's (acknowledged at the 201, delivered
// with its marker as the file's name).
func (s *Swarm) upload(ctx context.Context, u *vuser, op *Op, due, start time.Time) {
	ps := s.acct.post(op.Room, op.Index)
	if !s.ready(u, op.Room) {
		ps.status.Store(postSkipped)
		return
	}
	room := s.plan.Rooms[op.Room].URI
	m := marker{room: op.Room, index: op.Index, shard: int32(max(s.o.Shard.Index, 1)), floor: s.acct.floor(op.Room), intended: s.ref(due).UnixMicro()}
	name := string(appendPostText(nil, s.plan.RunTag, m, 0))
	ps.sent.Store(s.ref(start).UnixNano())
	tok, err := u.client.UploadToken(ctx, room, name)
	if err == nil {
		err = sipclient.UploadFile(ctx, s.files.http, tok, newFileContent(s.plan.RunTag, op.Room, op.Index, op.Size), int64(op.Size))
	}
	var re *sipclient.ReplyError
	var he *sipclient.HTTPError
	switch {
	case errors.As(err, &re), errors.As(err, &he) && he.Status < 500:
		// refused: no file post was made
		ps.status.Store(postRejected)
		s.fail("file_upload", err)
		return
	case err != nil:
		ps.status.Store(postFailed)
		s.fail("file_upload", err)
		return
	}
	now := time.Now()
	ps.acked.Store(s.ref(now).UnixNano())
	ps.status.CompareAndSwap(postPending, postAcked)
	s.rec.Record(reports.OpFileUpload, now.Sub(due))
	s.rec.Record(reports.OpFileUploadService, now.Sub(start))
	s.rec.Add(reports.CounterPosts, 1)
	s.acct.ackedLive(op.Room, ps)
	s.phaseDone(pUpload, op.At)
}

// download fetches a file posted earlier, whose post this shard received,
// and checks its bytes.
func (s *Swarm) download(ctx context.Context, u *vuser, op *Op, due, start time.Time) {
	if !s.ready(u, op.Room) {
		return
	}
	url := s.files.url(s.acct.base[op.Room] + op.Index)
	if url == "" {
		// the file post has not reached this shard (the upload failed,
		// was refused or is late)
		s.rec.Add(reports.CounterSkipped, 1)
		return
	}
	up := s.plan.Ops[s.plan.PostOp[op.Room][op.Index]]
	tok, err := u.client.DownloadToken(ctx, s.plan.Rooms[op.Room].URI, url)
	var n int64
	var sum string
	if err == nil {
		n, sum, err = sipclient.DownloadFile(ctx, s.files.http, tok, io.Discard)
		s.noteDownload(u.idx, op.Room, err)
	}
	if err == nil && (n != int64(up.Size) || sum != contentSum(s.plan.RunTag, op.Room, op.Index, up.Size)) {
		err = fmt.Errorf("%w: %s: %d bytes, SHA-256 %s; uploaded %d bytes", ErrFileCorrupt, url, n, sum, up.Size)
	}
	if err != nil {
		s.fail("file_download", err)
		return
	}
	now := time.Now()
	s.rec.Record(reports.OpFileDownload, now.Sub(due))
	s.rec.Record(reports.OpFileDownloadService, now.Sub(start))
	s.phaseDone(pDownload, op.At)
}

// noteDownload tells the compliance cross-check how a download went (a
// refused token request never reaches the web service: nothing to note).
// A download the web service refused (4xx) was not archived; one served
// whole was, corrupt or not; one that failed otherwise may have been.
func (s *Swarm) noteDownload(user, room int32, err error) {
	var he *sipclient.HTTPError
	if errors.As(err, &he) && he.Status < 500 {
		return
	}
	s.archive.note(kindDownload, user, []int32{room}, err)
}

// msgSearch searches stored posts (msgsrch): this run's posts by their
// marker, the user's own posts, or one room's.
func (s *Swarm) msgSearch(ctx context.Context, u *vuser, op *Op, due, start time.Time) {
	ms := s.phaseSpec(op).MessageSearch
	q := xccos.MsgQuery{Limit: ms.Limit}
	if op.Room >= 0 {
		if !s.ready(u, op.Room) {
			return
		}
		q.ChanURI = s.plan.Rooms[op.Room].URI
	} else if u.state.Load() != stOnline {
		s.rec.Add(reports.CounterSkipped, 1)
		return
	}
	switch ms.By {
	case "author":
		q.Author = u.client.User()
	case "keyword":
		q.Keyword = markerPrefix + s.plan.RunTag + ":"
	}
	_, err := u.client.SearchMessages(ctx, q)
	s.done(u, reports.OpMessageSearch, reports.OpMessageSearchService, due, start, err, op, pMsgSearch)
}

// manage is a membership change by a room's manager (cmd:chanupd): it
// adds the room's guest user of this change and takes out the previous
// change's. Guests are addresses no user of the plan has, so the planned
// members, and the deliveries they are owed, stay as they are.
func (s *Swarm) manage(ctx context.Context, u *vuser, op *Op, due, start time.Time) {
	if !s.isOnline(u) {
		return
	}
	up := sipclient.RoomUpdate{AddMembers: []string{s.guest(op.Room, op.Index)}}
	if op.Index > 0 {
		up.RemoveMembers = []string{s.guest(op.Room, op.Index-1)}
	}
	_, err := u.client.UpdateRoom(ctx, s.plan.Rooms[op.Room].URI, up)
	s.done(u, reports.OpManage, reports.OpManageService, due, start, err, op, pManage)
}

// guest is the address of the guest user a room's i-th membership change
// adds.
func (s *Swarm) guest(room, i int32) string {
	return "sip:gcload-guest-" + s.plan.Rooms[room].ID + "-" + strconv.Itoa(int(i)) + "@" + s.plan.Domain
}

// filePostDelivered records the URL of a delivered file post of this run.
func (s *Swarm) filePostDelivered(c *xccos.Chat) {
	mk, ok := parseMarker(c.Text, s.plan.RunTag)
	if !ok || int(mk.room) >= len(s.plan.Rooms) || mk.index < 0 || mk.index >= s.plan.Rooms[mk.room].Posts {
		return
	}
	s.files.received(s.acct.base[mk.room]+mk.index, c.File.FileURL)
}
