// Package web is the reference server's web service for files (the Group
// Chat "web service"): it issues the short-lived tokens that cmd:getfutok
// and cmd:getfdtok hand to clients, and moves files over HTTP(S) with
// them. Files are kept in a folder, named by their id; their metadata is
// in the store (store.File), written once the bytes are durable and before
// the file post is appended, so the compliance archive can refer to them.
//
// The flow (docs/protocol.md, "File posts"):
//
//	cmd:getfutok <ftdb channelUri=ROOM fileUrl=NAME/>
//	  → rpl:getftok <ftdb channelUri=ROOM fileUrl=URL/><token token=T serveruri=URL/>
//	PUT URL, Authorization: Bearer T, the bytes  → 201, the post is durable
//	  → every member online gets a grpchat whose <chat> is NAME, with <ftdb>
//	cmd:getfdtok <ftdb channelUri=ROOM fileUrl=URL/>
//	  → rpl:getftok <ftdb …/><token token=T2 serveruri=URL/>
//	GET URL, Authorization: Bearer T2 → 200, the bytes
//
// The compliance archive gets a FILEUPLOAD record in the transaction of
// the file post (the store writes it with the post's CHAT record) and a
// FILEDOWNLOAD record, durable before a download's first byte is sent.
//
// An upload token is for one user, one room and one file id, and is spent
// by the upload that completes (an upload cut short leaves it usable until
// it expires, and two uploads cannot use it at once); a download token is
// for one user, one room and one file, until it expires. The user's access
// to the room is checked again when a token is used.
package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gcload/gcload/refserver/fault"
	"github.com/gcload/gcload/refserver/store"
	"github.com/gcload/gcload/xccos"
)

// Defaults of Config.
const (
	DefaultMaxFileSize     = 10 << 20
	DefaultMaxFilesPerRoom = 10000
	DefaultTokenTTL        = time.Minute
	DefaultMaxTokens       = 100000
	// DefaultMaxUserTokens bounds the outstanding tokens of one user (a
	// client needs one or two at a time).
	DefaultMaxUserTokens = 64
	// MaxNameLen bounds a file's name, in characters.
	MaxNameLen = 255
	// PathPrefix is the path under which files are served.
	PathPrefix = "/files/"
)

// Errors of token requests, for errors.Is (the channel service maps them
// to XCCOS codes).
var (
	ErrBadName  = errors.New("web: bad file name")               // 400
	ErrBadURL   = errors.New("web: not a file of this server")   // 404
	ErrTooMany  = errors.New("web: room file limit reached")     // 413
	ErrBusy     = errors.New("web: too many outstanding tokens") // 503
	ErrDisabled = errors.New("web: file posts are not enabled")
)

// Rooms is what the web service needs of the channel services.
type Rooms interface {
	// FileAccess returns nil when user may download (upload false) or
	// upload (upload true) files in the room, or an error saying why not.
	FileAccess(user, roomID string, upload bool) error
	// FilePost appends the post announcing f, made by f.Uploader, and
	// returns once it is durable and fanned out, or failed.
	FilePost(ctx context.Context, f store.File) error
}

// Config configures a Service.
type Config struct {
	// Dir is the folder of the files (created if missing).
	Dir   string
	Store store.Store
	// BaseURL is the service's URL as clients reach it
	// (http://127.0.0.1:PORT); set it with SetBaseURL once listening.
	BaseURL         string
	MaxFileSize     int64
	MaxFilesPerRoom int
	TokenTTL        time.Duration
	MaxTokens       int
	MaxUserTokens   int
	Now             func() time.Time
	Logger          *slog.Logger
	Faults          fault.Set
}

// Service issues tokens and serves uploads and downloads.
type Service struct {
	cfg   Config
	rooms Rooms

	mu     sync.Mutex
	base   string
	tokens map[string]*grant
	byUser map[string][]string // each user's tokens, oldest first
	// countMu serializes the room-limit check with the metadata insert
	countMu sync.Mutex

	statsMu sync.Mutex
	stats   Stats

	// downloadSeq numbers downloads for the drop-file-records fault
	downloadSeq atomic.Uint64
}

// Stats are counters of the web service.
type Stats struct {
	Uploads   uint64 `json:"uploads"`   // files stored and posted
	Downloads uint64 `json:"downloads"` // files served whole
	Refused   uint64 `json:"refused"`   // requests refused (token, access, size, count)
	Tokens    int    `json:"tokens"`    // outstanding tokens
	// UnsharedServers (in a pool) are the live servers that do not share
	// this server's files folder (set by the server, not the service).
	UnsharedServers []string `json:"unshared_servers,omitempty"`
}

type grant struct {
	upload  bool
	user    string
	room    string
	file    string // file id
	name    string // upload: the file's name
	expires time.Time
	inUse   bool // upload: an upload with this token is in progress
}

// New returns a service; SetRooms must be called before it serves.
func New(cfg Config) (*Service, error) {
	if cfg.Dir == "" || cfg.Store == nil {
		return nil, errors.New("web: config needs Dir and Store")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("web: files folder: %w", err)
	}
	if cfg.MaxFileSize <= 0 {
		cfg.MaxFileSize = DefaultMaxFileSize
	}
	if cfg.MaxFilesPerRoom <= 0 {
		cfg.MaxFilesPerRoom = DefaultMaxFilesPerRoom
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	if cfg.MaxUserTokens <= 0 {
		cfg.MaxUserTokens = DefaultMaxUserTokens
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, base: strings.TrimRight(cfg.BaseURL, "/"), tokens: map[string]*grant{}, byUser: map[string][]string{}}, nil
}

// SetRooms connects the service to the channel services.
func (s *Service) SetRooms(r Rooms) { s.rooms = r }

// SetBaseURL sets the URL clients reach the service at.
func (s *Service) SetBaseURL(u string) {
	s.mu.Lock()
	s.base = strings.TrimRight(u, "/")
	s.mu.Unlock()
}

// FileURL is the URL of the file with id.
func (s *Service) FileURL(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.base + PathPrefix + id
}

// FileID returns the id of a file URL of this service.
func (s *Service) FileID(url string) (string, bool) {
	s.mu.Lock()
	base := s.base
	s.mu.Unlock()
	id, ok := strings.CutPrefix(url, base+PathPrefix)
	if !ok || !validID(id) {
		return "", false
	}
	return id, true
}

// Stats returns counters.
func (s *Service) Stats() Stats {
	s.statsMu.Lock()
	st := s.stats
	s.statsMu.Unlock()
	s.mu.Lock()
	st.Tokens = len(s.tokens)
	s.mu.Unlock()
	return st
}

func (s *Service) count(f func(*Stats)) {
	s.statsMu.Lock()
	f(&s.stats)
	s.statsMu.Unlock()
}

// CheckName returns an error naming what is wrong with a file name.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty (send it in ftdb fileUrl)", ErrBadName)
	case len([]rune(name)) > MaxNameLen:
		return fmt.Errorf("%w: %d characters, at most %d", ErrBadName, len([]rune(name)), MaxNameLen)
	case strings.ContainsAny(name, "/\\"):
		return fmt.Errorf("%w: %q holds a path separator", ErrBadName, name)
	case !xccos.ValidText(name) || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("%w: %q holds a control character", ErrBadName, name)
	}
	return nil
}

// UploadToken issues a token for user to upload one file named name to a
// room; the caller has checked the user's access. It returns the token
// and the URL the file is to be PUT to (and will be read from).
func (s *Service) UploadToken(ctx context.Context, user, roomID, name string) (token, url string, err error) {
	if err := CheckName(name); err != nil {
		return "", "", err
	}
	n, err := s.cfg.Store.CountFiles(ctx, roomID)
	if err != nil {
		return "", "", err
	}
	if n >= s.cfg.MaxFilesPerRoom {
		return "", "", fmt.Errorf("%w: the room holds %d files, the limit is %d", ErrTooMany, n, s.cfg.MaxFilesPerRoom)
	}
	id, err := randomID(16)
	if err != nil {
		return "", "", err
	}
	token, err = s.issue(&grant{upload: true, user: user, room: roomID, file: id, name: name})
	return token, s.FileURL(id), err
}

// DownloadToken issues a token for user to download the file at url from
// a room; the caller has checked the user's access to the room. The file
// must be one of that room.
func (s *Service) DownloadToken(ctx context.Context, user, roomID, url string) (token string, err error) {
	id, ok := s.FileID(url)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrBadURL, url)
	}
	f, err := s.cfg.Store.File(ctx, id)
	if errors.Is(err, store.ErrNotFound) || err == nil && f.RoomID != roomID {
		return "", fmt.Errorf("%w: no file %q in room %q", ErrBadURL, url, roomID)
	}
	if err != nil {
		return "", err
	}
	return s.issue(&grant{user: user, room: roomID, file: id})
}

func (s *Service) issue(g *grant) (string, error) {
	tok, err := randomID(32)
	if err != nil {
		return "", err
	}
	now := s.cfg.Now()
	g.expires = now.Add(s.cfg.TokenTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tokens) >= s.cfg.MaxTokens {
		for k, old := range s.tokens {
			if !now.Before(old.expires) && !old.inUse {
				s.forget(k)
			}
		}
		if len(s.tokens) >= s.cfg.MaxTokens {
			return "", fmt.Errorf("%w: %d outstanding, the limit; ask again when some expired (after at most %v)", ErrBusy, len(s.tokens), s.cfg.TokenTTL)
		}
	}
	if mine := s.byUser[g.user]; len(mine) >= s.cfg.MaxUserTokens {
		for _, k := range mine {
			if old := s.tokens[k]; old != nil && !now.Before(old.expires) && !old.inUse {
				s.forget(k)
			}
		}
		if n := len(s.byUser[g.user]); n >= s.cfg.MaxUserTokens {
			return "", fmt.Errorf("%w: %s holds %d tokens, the limit for one user; ask again when some were used or expired (after at most %v)", ErrBusy, g.user, n, s.cfg.TokenTTL)
		}
	}
	s.byUser[g.user] = append(s.byUser[g.user], tok)
	s.tokens[tok] = g
	return tok, nil
}

// forget removes a token; s.mu is held.
func (s *Service) forget(tok string) {
	g := s.tokens[tok]
	if g == nil {
		return
	}
	delete(s.tokens, tok)
	mine := s.byUser[g.user]
	for i, k := range mine {
		if k == tok {
			mine = append(mine[:i], mine[i+1:]...)
			break
		}
	}
	if len(mine) == 0 {
		delete(s.byUser, g.user)
	} else {
		s.byUser[g.user] = mine
	}
}

func randomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("web: random: %w", err)
	}
	if n == 32 {
		return base64.RawURLEncoding.EncodeToString(b), nil
	}
	return hex.EncodeToString(b), nil
}

func validID(id string) bool {
	if len(id) != 32 {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil && strings.ToLower(id) == id
}

// ServeHTTP serves PUT (upload) and GET (download) of PathPrefix+ID.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	if !ok || !validID(id) {
		s.refuse(w, http.StatusNotFound, "no file at "+strconv.Quote(r.URL.Path)+" (want "+PathPrefix+"ID, 32 hex digits)")
		return
	}
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		s.upload(w, r, id)
	case http.MethodGet, http.MethodHead:
		s.download(w, r, id)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST")
		s.refuse(w, http.StatusMethodNotAllowed, r.Method+" is not a file operation: PUT or POST uploads, GET downloads")
	}
}

func (s *Service) refuse(w http.ResponseWriter, code int, text string) {
	s.count(func(st *Stats) { st.Refused++ })
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gcload files"`)
	}
	http.Error(w, text, code)
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	switch {
	case h == "":
		return "", errors.New("no Authorization header: send Authorization: Bearer TOKEN, the token of rpl:getftok")
	case !ok || tok == "":
		return "", errors.New("the Authorization header is not a Bearer token")
	case len(tok) > 128:
		return "", fmt.Errorf("a token of %d bytes: tokens are 43", len(tok))
	}
	return tok, nil
}

// grantFor finds the grant of tok for a request on file id; for an upload
// it claims the grant (the caller releases or spends it).
func (s *Service) grantFor(tok, id string, upload bool) (grant, int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// a map lookup: tokens are 256 random bits, nothing to learn from
	// its timing
	g := s.tokens[tok]
	switch {
	case g == nil:
		return grant{}, http.StatusUnauthorized, "unknown token (never issued, spent, or expired and forgotten)"
	case !s.cfg.Now().Before(g.expires):
		s.forget(tok)
		return grant{}, http.StatusUnauthorized, "the token expired at " + g.expires.UTC().Format(time.RFC3339)
	case g.upload != upload:
		what := "a download token cannot upload"
		if g.upload {
			what = "an upload token cannot download"
		}
		return grant{}, http.StatusForbidden, what
	case g.file != id:
		return grant{}, http.StatusForbidden, "the token is for another file"
	case upload && g.inUse:
		return grant{}, http.StatusConflict, "an upload with this token is in progress"
	}
	if upload {
		g.inUse = true
	}
	return *g, 0, ""
}

// release ends an upload's claim of its token: spent (deleted) when the
// upload completed, else usable again until it expires.
func (s *Service) release(tok string, spent bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.tokens[tok]
	if g == nil {
		return
	}
	g.inUse = false
	if spent && !s.cfg.Faults.Has(fault.FileTokenReuse) {
		s.forget(tok)
	}
}

func (s *Service) upload(w http.ResponseWriter, r *http.Request, id string) {
	tok, err := bearer(r)
	if err != nil {
		s.refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	g, code, text := s.grantFor(tok, id, true)
	if code != 0 {
		s.refuse(w, code, text)
		return
	}
	spent := false
	defer func() { s.release(tok, spent) }()
	if err := s.rooms.FileAccess(g.user, g.room, true); err != nil {
		s.refuse(w, http.StatusForbidden, err.Error())
		return
	}
	max := s.cfg.MaxFileSize
	if r.ContentLength > max {
		s.refuse(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a file of %d bytes: the limit is %d", r.ContentLength, max))
		return
	}
	sum, size, err := s.receive(r.Body, id, max)
	if errors.Is(err, errExists) {
		// only with file-token-reuse: the token served again; the bytes
		// replaced the file's, its row and post stay as they were
		s.count(func(st *Stats) { st.Uploads++ })
		w.WriteHeader(http.StatusCreated)
		return
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || errors.Is(err, errTooBig) {
			s.refuse(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is over the limit of %d bytes", max))
			return
		}
		s.refuse(w, http.StatusBadRequest, "upload not stored: "+err.Error())
		return
	}
	f := store.File{ID: id, RoomID: g.room, Uploader: g.user, Name: g.name, Size: size, SHA256: sum, Created: s.cfg.Now().UTC()}
	if code, text := s.record(r.Context(), f); code != 0 {
		os.Remove(s.path(id))
		s.refuse(w, code, text)
		return
	}
	spent = true
	if err := s.rooms.FilePost(r.Context(), f); err != nil {
		// the file is stored and can be read; its post failed
		s.refuse(w, http.StatusServiceUnavailable, "the file is stored but its post failed: "+err.Error())
		return
	}
	s.count(func(st *Stats) { st.Uploads++ })
	w.Header().Set("Location", s.FileURL(id))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, s.FileURL(id)+"\n")
}

// record checks the room's file limit and stores f's metadata.
func (s *Service) record(ctx context.Context, f store.File) (int, string) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	n, err := s.cfg.Store.CountFiles(ctx, f.RoomID)
	if err != nil {
		return http.StatusServiceUnavailable, "file store: " + err.Error()
	}
	if n >= s.cfg.MaxFilesPerRoom {
		return http.StatusRequestEntityTooLarge, fmt.Sprintf("the room holds %d files, the limit is %d", n, s.cfg.MaxFilesPerRoom)
	}
	if err := s.cfg.Store.AddFile(ctx, f); err != nil {
		return http.StatusServiceUnavailable, "file store: " + err.Error()
	}
	return 0, ""
}

var (
	errTooBig = errors.New("over the size limit")
	errExists = errors.New("the file exists")
)

func (s *Service) path(id string) string { return filepath.Join(s.cfg.Dir, id) }

// receive writes body to the file id, durably: a temporary file, synced,
// renamed into place, the folder synced. Nothing is left of a body cut
// short or over max bytes.
func (s *Service) receive(body io.Reader, id string, max int64) (sum string, size int64, err error) {
	tmp, err := os.CreateTemp(s.cfg.Dir, ".upload-*")
	if err != nil {
		return "", 0, fmt.Errorf("files folder: %w", err)
	}
	defer func() {
		if err != nil && tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, max+1))
	if err != nil {
		return "", 0, fmt.Errorf("after %d bytes: %w", size, err)
	}
	if size > max {
		return "", 0, errTooBig
	}
	if err = tmp.Sync(); err != nil {
		return "", 0, fmt.Errorf("files folder: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return "", 0, fmt.Errorf("files folder: %w", err)
	}
	// a link, not a rename: never over a stored file
	if err = os.Link(tmp.Name(), s.path(id)); err != nil {
		if errors.Is(err, fs.ErrExist) && s.cfg.Faults.Has(fault.FileTokenReuse) {
			if err = os.Rename(tmp.Name(), s.path(id)); err == nil {
				err = errExists
			}
			return "", 0, err
		}
		return "", 0, fmt.Errorf("files folder: %w", err)
	}
	os.Remove(tmp.Name())
	tmp = nil
	if d, derr := os.Open(s.cfg.Dir); derr == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return "", 0, fmt.Errorf("files folder: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), size, nil
}

func (s *Service) download(w http.ResponseWriter, r *http.Request, id string) {
	tok, err := bearer(r)
	if err != nil {
		s.refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	g, code, text := s.grantFor(tok, id, false)
	if code != 0 {
		s.refuse(w, code, text)
		return
	}
	if err := s.rooms.FileAccess(g.user, g.room, false); err != nil {
		s.refuse(w, http.StatusForbidden, err.Error())
		return
	}
	meta, err := s.cfg.Store.File(r.Context(), id)
	if err != nil {
		s.refuse(w, http.StatusNotFound, "no such file: "+err.Error())
		return
	}
	f, err := os.Open(s.path(id))
	if err != nil {
		s.refuse(w, http.StatusNotFound, "the file's bytes are missing from the files folder")
		return
	}
	defer f.Close()
	// the download is in the compliance archive before a byte is sent
	if err := s.archiveDownload(r.Context(), g, meta); err != nil {
		s.refuse(w, http.StatusServiceUnavailable, "busy: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment; filename="+strconv.Quote(meta.Name))
	w.Header().Set("X-Content-SHA256", meta.SHA256)
	var rd io.ReadSeeker = f
	if s.cfg.Faults.Has(fault.FileCorrupt) {
		rd = &flipFirst{ReadSeeker: f}
	}
	http.ServeContent(w, r, "", meta.Created, rd)
	s.count(func(st *Stats) { st.Downloads++ })
}

// archiveDownload records a FILEDOWNLOAD of the file by the grant's user
// and returns once the record is durable.
func (s *Service) archiveDownload(ctx context.Context, g grant, meta store.File) error {
	if s.cfg.Faults.Has(fault.DropFileRecords) && s.downloadSeq.Add(1)%5 == 0 {
		return nil // served without its record
	}
	done := make(chan error, 1)
	ev := []store.Event{{Kind: store.EventFileDownload, RoomID: g.room, User: g.user, TS: s.cfg.Now().UTC(), Detail: meta.Name}}
	if err := s.cfg.Store.Record(ev, func(err error) { done <- err }); err != nil {
		return fmt.Errorf("compliance archive: %w", err)
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("compliance archive: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("compliance archive: %w", ctx.Err())
	}
}

// flipFirst inverts the first byte of a file (the file-corrupt fault).
type flipFirst struct {
	io.ReadSeeker
	off int64
}

func (f *flipFirst) Read(p []byte) (int, error) {
	n, err := f.ReadSeeker.Read(p)
	if f.off == 0 && n > 0 {
		p[0] ^= 0xff
	}
	f.off += int64(n)
	return n, err
}

func (f *flipFirst) Seek(off int64, whence int) (int64, error) {
	n, err := f.ReadSeeker.Seek(off, whence)
	f.off = n
	return n, err
}

// Pool servers share one files folder (docs/protocol.md, File posts): a
// file uploaded through one is downloaded through any. Each server of a
// pool leaves a marker file in its folder, named by its ID; a server that
// does not find another live server's marker in its own folder knows the
// two do not share it.

// markerName is the name of a pool server's marker in the files folder.
func markerName(server string) string {
	h := sha256.Sum256([]byte(server))
	return ".gcload-server-" + hex.EncodeToString(h[:8])
}

// MarkFolder leaves this server's marker in the files folder.
func (s *Service) MarkFolder(server string) error {
	if err := os.WriteFile(filepath.Join(s.cfg.Dir, markerName(server)), []byte(server+"\n"), 0o640); err != nil {
		return fmt.Errorf("files folder: mark it as server %s's: %w", server, err)
	}
	return nil
}

// HasMarker reports whether the files folder holds a server's marker (the
// server shares it).
func (s *Service) HasMarker(server string) bool {
	_, err := os.Stat(filepath.Join(s.cfg.Dir, markerName(server)))
	return err == nil
}

// Dir is the files folder.
func (s *Service) Dir() string { return s.cfg.Dir }
