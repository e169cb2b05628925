// Package store defines the reference server's durable storage: rooms and
// their roles, the posted messages of every room in posting order, and
// invitations. Implementations acknowledge an appended message only once it
// is durable, and batch appends so durability does not cost a disk flush
// per post (group commit). The embedded default is store/sqlite.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gcload/gcload/xccos"
)

// Sentinel errors.
var (
	ErrNotFound = errors.New("store: not found")
	ErrClosed   = errors.New("store: closed")
	// ErrBusy: Append could not queue a message now, because the store
	// is behind (its queue of messages waiting for a commit is full).
	ErrBusy = errors.New("store: busy")
)

// Privacy of a room (OCS R2): who can find it and who can read it.
type Privacy string

// Privacy values.
const (
	Open   Privacy = "open"   // anyone finds and reads
	Closed Privacy = "closed" // anyone finds, only members read (the default)
	Secret Privacy = "secret" // only members find and read
)

// Valid reports whether p is a known privacy.
func (p Privacy) Valid() bool { return p == Open || p == Closed || p == Secret }

// RoomType is normal or auditorium (only presenters and managers post).
type RoomType string

// Room types.
const (
	Normal     RoomType = "normal"
	Auditorium RoomType = "auditorium"
)

// Valid reports whether t is a known type.
func (t RoomType) Valid() bool { return t == Normal || t == Auditorium }

// Role of a user in a room.
type Role string

// Roles.
const (
	Member    Role = "member"
	Manager   Role = "manager"
	Presenter Role = "presenter"
)

// Room is a chat room (a channel). Rooms are never deleted: they are
// disabled, and keep their history.
type Room struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Topic       string   `json:"topic,omitempty"`
	Category    string   `json:"category,omitempty"`
	Privacy     Privacy  `json:"privacy"`
	Type        RoomType `json:"type"`
	Disabled    bool     `json:"disabled"`
	Members     []string `json:"members"`
	Managers    []string `json:"managers"`
	Presenters  []string `json:"presenters"`
	// LastSeq is the sequence number of the room's newest stored message.
	LastSeq uint64    `json:"last_seq"`
	Created time.Time `json:"created"`
}

// Validate checks a room's fields.
func (r *Room) Validate() error {
	var errs []error
	if !ValidID(r.ID) {
		errs = append(errs, fmt.Errorf("id %q: use 1-128 letters, digits, '-', '_' or '.'", r.ID))
	}
	if r.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	for _, f := range []struct{ name, value string }{{"name", r.Name}, {"description", r.Description}, {"topic", r.Topic}, {"category", r.Category}} {
		if at, c := xccos.InvalidChar(f.value); at >= 0 {
			errs = append(errs, fmt.Errorf("%s: %U at byte %d is not a character XCCOS can carry", f.name, c, at))
		}
	}
	if r.Privacy != "" && !r.Privacy.Valid() {
		errs = append(errs, fmt.Errorf("privacy %q: want open, closed or secret", r.Privacy))
	}
	if r.Type != "" && !r.Type.Valid() {
		errs = append(errs, fmt.Errorf("type %q: want normal or auditorium", r.Type))
	}
	for _, list := range [][]string{r.Members, r.Managers, r.Presenters} {
		for _, u := range list {
			if !ValidUser(u) {
				errs = append(errs, fmt.Errorf("user %q: want sip:user@domain", u))
			}
		}
	}
	return errors.Join(errs...)
}

// Defaults fills empty privacy and type.
func (r *Room) Defaults() {
	if r.Privacy == "" {
		r.Privacy = Closed
	}
	if r.Type == "" {
		r.Type = Normal
	}
}

// ValidID reports whether s can be a room id (the id part of ma-chan://).
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ValidUser reports whether s is a sip:user@domain address of record, in
// characters XCCOS can carry.
func ValidUser(s string) bool {
	if len(s) < 7 || s[:4] != "sip:" || !xccos.ValidText(s) {
		return false
	}
	at := -1
	for i := 4; i < len(s); i++ {
		switch c := s[i]; {
		case c == '@':
			if at >= 0 {
				return false
			}
			at = i
		case c <= ' ' || c == '<' || c == '>' || c == ';' || c == '"' || c == 0x7f:
			return false
		}
	}
	return at > 4 && at < len(s)-1
}

// Category is a node of the category hierarchy rooms live in (OCS R2 and
// Lync: every room is in a category; the category says who may be a
// member of its rooms and who may create rooms in it). A room names its
// category by ID in Room.Category. Categories are never deleted.
//
// Rights are inherited down the tree: a category's allowed members are its
// own Members plus its parent's allowed members, and likewise its
// creators, unless Override is set, in which case its own lists are all
// (docs/protocol.md, "Categories").
type Category struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Parent is the parent category's ID ("": a top-level category).
	Parent string `json:"parent,omitempty"`
	// Override: the category does not inherit its parent's members and
	// creators.
	Override bool      `json:"override,omitempty"`
	Members  []string  `json:"members"`
	Creators []string  `json:"creators"`
	Created  time.Time `json:"created"`
}

// MaxCategoryDepth bounds the depth of the hierarchy (a top-level category
// is at depth 1).
const MaxCategoryDepth = 16

// Validate checks a category's own fields (CheckCategories checks the
// hierarchy).
func (c *Category) Validate() error {
	var errs []error
	if !ValidID(c.ID) {
		errs = append(errs, fmt.Errorf("id %q: use 1-128 letters, digits, '-', '_' or '.'", c.ID))
	}
	if c.Name == "" {
		errs = append(errs, errors.New("name is empty"))
	}
	if at, ch := xccos.InvalidChar(c.Name); at >= 0 {
		errs = append(errs, fmt.Errorf("name: %U at byte %d is not a character XCCOS can carry", ch, at))
	}
	if c.Parent != "" && !ValidID(c.Parent) {
		errs = append(errs, fmt.Errorf("parent %q: not a category id", c.Parent))
	}
	if c.Parent == c.ID && c.ID != "" {
		errs = append(errs, errors.New("parent: a category cannot be its own parent"))
	}
	for _, list := range [][]string{c.Members, c.Creators} {
		for _, u := range list {
			if !ValidUser(u) {
				errs = append(errs, fmt.Errorf("user %q: want sip:user@domain", u))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckCategories checks a whole hierarchy: every category valid, IDs
// unique, every parent a category of the set, no cycle, at most
// MaxCategoryDepth deep.
func CheckCategories(cats []Category) error {
	byID := make(map[string]*Category, len(cats))
	var errs []error
	for i := range cats {
		c := &cats[i]
		if err := c.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("category %q: %w", c.ID, err))
			continue
		}
		if byID[c.ID] != nil {
			errs = append(errs, fmt.Errorf("category %q: defined twice", c.ID))
			continue
		}
		byID[c.ID] = c
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, c := range cats {
		depth := 1
		for p := c.Parent; p != ""; p = byID[p].Parent {
			if byID[p] == nil {
				errs = append(errs, fmt.Errorf("category %q: parent %q is not a category", c.ID, p))
				break
			}
			if p == c.ID {
				errs = append(errs, fmt.Errorf("category %q: it is its own ancestor (a cycle)", c.ID))
				break
			}
			if depth++; depth > MaxCategoryDepth {
				errs = append(errs, fmt.Errorf("category %q: more than %d levels deep (or a cycle above it)", c.ID, MaxCategoryDepth))
				break
			}
		}
	}
	return errors.Join(errs...)
}

// Rights are the users a category allows, after inheritance.
type Rights struct {
	Members, Creators map[string]bool
}

// Inherit computes every category's rights: its own members and creators,
// plus its parent's rights unless it overrides them. cats must pass
// CheckCategories.
func Inherit(cats []Category) map[string]Rights {
	byID := make(map[string]*Category, len(cats))
	for i := range cats {
		byID[cats[i].ID] = &cats[i]
	}
	out := make(map[string]Rights, len(cats))
	var walk func(id string, depth int) Rights
	walk = func(id string, depth int) Rights {
		if r, ok := out[id]; ok {
			return r
		}
		c := byID[id]
		r := Rights{Members: map[string]bool{}, Creators: map[string]bool{}}
		if c == nil || depth > MaxCategoryDepth {
			return r
		}
		if c.Parent != "" && !c.Override {
			p := walk(c.Parent, depth+1)
			for u := range p.Members {
				r.Members[u] = true
			}
			for u := range p.Creators {
				r.Creators[u] = true
			}
		}
		for _, u := range c.Members {
			r.Members[u] = true
		}
		for _, u := range c.Creators {
			r.Creators[u] = true
		}
		out[id] = r
		return r
	}
	for _, c := range cats {
		walk(c.ID, 1)
	}
	return out
}

// Message is one stored post.
type Message struct {
	RoomID string
	Seq    uint64 // per room, from 1, in posting order
	Author string
	TS     time.Time // server time of the post
	Text   string
	Story  bool
	// File is the id of the file a file post announces (see File); empty
	// for a text post. The text of a file post is the file's name.
	File string
	// SkipArchive stores the post without its CHAT archive record: only
	// the drop-archive-records fault sets it.
	SkipArchive bool
	// SkipUploadArchive stores a file post with its CHAT record but
	// without its FILEUPLOAD record: only the drop-file-records fault
	// sets it.
	SkipUploadArchive bool
}

// File is the metadata of an uploaded file (the web service keeps the
// bytes in its folder, named by ID). A row is written once the bytes are
// durable and before the file's post is appended, so every file post names
// a stored file; the compliance archive can refer to files by ID.
type File struct {
	ID       string    `json:"id"`
	RoomID   string    `json:"room"`
	Uploader string    `json:"uploader"`
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	SHA256   string    `json:"sha256"` // hex
	Created  time.Time `json:"created"`
}

// Query selects stored messages (the message-search extension).
type Query struct {
	RoomIDs  []string // rooms to search (the caller restricts to readable rooms)
	Author   string
	Keyword  string // case-insensitive substring of the text
	From, To time.Time
	Limit    int
}

// Invitation asks a user to join a room.
type Invitation struct {
	ID      int64     `json:"id"`
	RoomID  string    `json:"room"`
	User    string    `json:"user"`
	By      string    `json:"by,omitempty"`
	Created time.Time `json:"created"`
}

// Presence is how many sessions a user has online in a room on one server
// of a pool (0: none, the user left).
type Presence struct {
	Room, User string
	Sessions   int
	// Server is the server they are on.
	Server string
}

// Stats are counters of the storage engine.
type Stats struct {
	Appended uint64 // messages made durable
	Commits  uint64 // transactions committed (each one disk flush)
	Failed   uint64 // appends that failed
}

// Store is the reference server's durable storage.
type Store interface {
	// Rooms returns every room with its roles and last sequence number.
	Rooms(ctx context.Context) ([]Room, error)
	// PutRoom creates a room, or updates an existing room's name,
	// description, topic, category, privacy, type and roles. A new room
	// takes r.Disabled; an existing room keeps its disabled flag (see
	// SetDisabled) and its history.
	PutRoom(ctx context.Context, r Room) error
	// SetRole replaces the users holding role in a room.
	SetRole(ctx context.Context, roomID string, role Role, users []string) error
	// SetDisabled disables or enables a room.
	SetDisabled(ctx context.Context, roomID string, disabled bool) error
	// Append queues m and returns; done is called once m and its CHAT
	// archive record are durable, in one transaction (err
	// nil) or failed. Messages are made durable in the order they are
	// appended, and every done is called on one goroutine, in that order
	// (the channel hub's fan-out relies on it: it shares one write batch
	// among them). Append never blocks, as its caller holds the lock of
	// the room that done takes: when the store cannot queue m now it
	// returns ErrBusy (behind) or ErrClosed, and done is not called.
	Append(m Message, done func(err error)) error
	// History returns up to last messages of a room, oldest first.
	History(ctx context.Context, roomID string, last int) ([]Message, error)
	// Search finds messages, newest first.
	Search(ctx context.Context, q Query) ([]Message, error)
	// AddInvitation stores an invitation and returns it with its id.
	AddInvitation(ctx context.Context, inv Invitation) (Invitation, error)
	// Invitations lists every outstanding invitation, in order of ID.
	Invitations(ctx context.Context) ([]Invitation, error)
	// DeleteInvitations removes a user's invitations to a room.
	DeleteInvitations(ctx context.Context, user, roomID string) error
	// AddFile stores the metadata of an uploaded file; an ID already
	// stored is an error.
	AddFile(ctx context.Context, f File) error
	// File returns the metadata of a file, or ErrNotFound.
	File(ctx context.Context, id string) (File, error)
	// CountFiles returns how many files a room holds.
	CountFiles(ctx context.Context, roomID string) (int, error)
	// Archive: the compliance archive, written in the transactions of
	// the events it records.
	Archive
	// Categories returns every category, sorted by ID.
	Categories(ctx context.Context) ([]Category, error)
	// PutCategory creates a category or replaces an existing one's name,
	// parent, override flag, members and creators. The caller checks the
	// hierarchy (CheckCategories).
	PutCategory(ctx context.Context, c Category) error
	// Stats returns counters.
	Stats() Stats
	// Close waits for queued appends and closes the store.
	Close() error
}

// EventKind is the type of a compliance archive record, as the product's
// XML adapter names it (docs/compliance.md).
type EventKind string

// Event kinds.
const (
	EventJoin         EventKind = "JOIN"         // a user entered a room
	EventPart         EventKind = "PART"         // a user left a room
	EventChat         EventKind = "CHAT"         // a post (written by Append itself)
	EventBackchat     EventKind = "BACKCHAT"     // a user read a room's history
	EventFileUpload   EventKind = "FILEUPLOAD"   // a user uploaded a file to a room
	EventFileDownload EventKind = "FILEDOWNLOAD" // a user downloaded a room's file
)

// Valid reports whether k is a known kind.
func (k EventKind) Valid() bool {
	switch k {
	case EventJoin, EventPart, EventChat, EventBackchat, EventFileUpload, EventFileDownload:
		return true
	}
	return false
}

// Part details: why a PART was recorded when the user did not send
// cmd:part (an explicit part has no detail).
const (
	PartSessionEnded = "session ended" // BYE, or the connection went away
	PartEvicted      = "evicted"       // lost the right to read the room, or the room was disabled
)

// Event is one record of the compliance archive. A CHAT record is written
// by Append in the transaction of its post, and so is a file post's
// FILEUPLOAD (after its CHAT); the others by Record.
type Event struct {
	// Cursor is the record's place in the archive, given by the store:
	// records are read back in cursor order.
	Cursor Cursor
	Kind   EventKind
	RoomID string
	User   string
	TS     time.Time
	// Seq is a CHAT record's post (its text is read from the post), and
	// a FILEUPLOAD's: the file post, whose CHAT record Append writes with
	// it, in the same transaction.
	Seq  uint64
	Text string
	// Detail: a file's name (FILEUPLOAD, FILEDOWNLOAD), why a user left
	// (PART: PartSessionEnded, PartEvicted; empty for cmd:part), the
	// number of posts read (BACKCHAT).
	Detail string
}

// Cursor is a place in the archive: records are read in increasing
// (TX, ID) order. SQLite leaves TX 0 (its single writer commits in ID
// order); PostgreSQL sets it to the writing transaction's ID, and readers
// only get records of transactions older than every one in progress, so a
// pool's servers committing out of ID order never leave a record behind a
// reader's cursor.
type Cursor struct {
	TX uint64
	ID int64
}

// String renders a cursor as "TX.ID" (ParseCursor reads it back).
func (c Cursor) String() string { return fmt.Sprintf("%d.%d", c.TX, c.ID) }

// Less orders cursors.
func (c Cursor) Less(o Cursor) bool { return c.TX < o.TX || c.TX == o.TX && c.ID < o.ID }

// ParseCursor reads "TX.ID" (or "" for the start of the archive).
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	tx, id, ok := strings.Cut(s, ".")
	t, err1 := strconv.ParseUint(tx, 10, 64)
	i, err2 := strconv.ParseInt(id, 10, 64)
	if !ok || err1 != nil || err2 != nil || i < 0 {
		return Cursor{}, fmt.Errorf("archive cursor %q: want TX.ID, two decimal numbers", s)
	}
	return Cursor{TX: t, ID: i}, nil
}

// ArchiveQuery selects archive records.
type ArchiveQuery struct {
	After Cursor // records after this cursor
	// Since and Until (optional) bound the records' time: Since <= TS < Until.
	Since, Until time.Time
	Limit        int // at most this many (default and maximum MaxArchiveRead)
}

// MaxArchiveRead bounds the records of one ReadArchive.
const MaxArchiveRead = 10000

// Archive is the compliance archive of a store.
type Archive interface {
	// Record queues archive records (JOIN, PART, BACKCHAT, FILEUPLOAD,
	// FILEDOWNLOAD) and returns; done is called once they are durable
	// (err nil) or failed, on the writer's goroutine, in order with the
	// posts: they share the group commit of Append. Like Append it never
	// blocks: ErrBusy or ErrClosed, and done is not called.
	Record(events []Event, done func(err error)) error
	// ReadArchive returns records after q.After in cursor order (with
	// a CHAT record's text), and the cursor of the last one returned
	// (q.After if none). Only settled records are returned: no record
	// can later appear before the returned cursor.
	ReadArchive(ctx context.Context, q ArchiveQuery) ([]Event, Cursor, error)
	// ArchiveHead returns the cursor of the newest settled record.
	ArchiveHead(ctx context.Context) (Cursor, error)
	// ExportCursor and SetExportCursor keep where the named exporter
	// stopped (the zero Cursor when it never ran).
	ExportCursor(ctx context.Context, name string) (Cursor, error)
	SetExportCursor(ctx context.Context, name string, c Cursor) error
}

// CheckEvents checks the records given to Record: at least one, each of a
// kind Record takes (CHAT records are Append's).
func CheckEvents(events []Event) error {
	if len(events) == 0 {
		return errors.New("record: no events")
	}
	for _, e := range events {
		if !e.Kind.Valid() || e.Kind == EventChat {
			return fmt.Errorf("record: kind %q: want JOIN, PART, BACKCHAT, FILEUPLOAD or FILEDOWNLOAD", e.Kind)
		}
	}
	return nil
}
