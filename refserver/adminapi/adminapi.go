// Package adminapi holds the wire types of the reference server's HTTP
// JSON admin API (docs/admin-api.md): the bodies of its requests and
// answers and its paths. The server's handler (refserver/admin) and the
// harness's client (refserver/adminclient) both use these types, so the
// two cannot drift apart; the package imports only the standard library,
// so the harness gets the API without the server.
package adminapi

import (
	"net/url"
	"time"
)

// Paths of the API.
const (
	HealthPath = "/healthz"
	StatsPath  = "/api/stats"
	RoomsPath  = "/api/rooms"
	// ArchivePath reads the compliance archive: ?after=CURSOR&limit=N
	// answers an Archive.
	ArchivePath = "/api/archive"
	// ArchiveHeadPath answers the archive's newest settled cursor
	// (ArchiveHead).
	ArchiveHeadPath = "/api/archive/head"
	// AccountsPath lists (GET) and adds (POST) the accounts users sign in
	// with (a server started with --auth ntlm or digest).
	AccountsPath = "/api/accounts"
	// CategoriesPath lists the categories (GET); CategoryPath(id) reads
	// (GET) or creates and replaces (PUT) one.
	CategoriesPath = "/api/categories"
)

// CategoryPath is the path of one category.
func CategoryPath(id string) string { return CategoriesPath + "/" + url.PathEscape(id) }

// NewCategory is the body of PUT /api/categories/{id}: the category whole
// (a PUT replaces it). Name is required; Parent names the parent category
// ("": top level); Override stops the parent's members and creators from
// passing down to it.
type NewCategory struct {
	Name     string   `json:"name"`
	Parent   string   `json:"parent,omitempty"`
	Override bool     `json:"override,omitempty"`
	Members  []string `json:"members,omitempty"`
	Creators []string `json:"creators,omitempty"`
}

// Category is a category as the API answers it: its own lists, and the
// users it allows after inheritance (AllowedMembers may read its rooms as
// members do; AllowedCreators may create rooms in it with
// cmd:chancreate).
type Category struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Parent          string    `json:"parent,omitempty"`
	Override        bool      `json:"override,omitempty"`
	Members         []string  `json:"members"`
	Creators        []string  `json:"creators"`
	AllowedMembers  []string  `json:"allowed_members"`
	AllowedCreators []string  `json:"allowed_creators"`
	Created         time.Time `json:"created"`
}

// MaxArchiveRead bounds the records of one GET /api/archive.
const MaxArchiveRead = 10000

// Archive record kinds (ArchiveRecord.Kind).
const (
	KindJoin         = "JOIN"
	KindPart         = "PART"
	KindChat         = "CHAT"
	KindBackchat     = "BACKCHAT"
	KindFileUpload   = "FILEUPLOAD"
	KindFileDownload = "FILEDOWNLOAD"
)

// ArchiveRecord is one record of the compliance archive.
type ArchiveRecord struct {
	// Cursor is the record's place ("TX.ID"); records come in cursor
	// order.
	Cursor string    `json:"cursor"`
	Kind   string    `json:"kind"`
	Room   string    `json:"room"`
	User   string    `json:"user"`
	Time   time.Time `json:"time"`
	// Seq and Text: a CHAT record's post.
	Seq  uint64 `json:"seq,omitempty"`
	Text string `json:"text,omitempty"`
	// Detail: a file's name, why a PART happened without cmd:part
	// ("session ended", "evicted"; empty for cmd:part), the number of
	// posts a BACKCHAT read.
	Detail string `json:"detail,omitempty"`
}

// Archive is the answer of GET /api/archive: records after the cursor
// asked, and Next, the cursor to ask for the next page (the one asked when
// there is no record).
type Archive struct {
	Records []ArchiveRecord `json:"records"`
	Next    string          `json:"next"`
}

// ArchiveHead is the answer of GET /api/archive/head.
type ArchiveHead struct {
	Cursor string `json:"cursor"`
}

// RoomPath is the path of one room; sub (optional) names a part of it
// ("members", "disable", "online", "invitations", ...).
func RoomPath(id string, sub ...string) string {
	p := RoomsPath + "/" + url.PathEscape(id)
	for _, s := range sub {
		p += "/" + s
	}
	return p
}

// Privacy values of a room (OCS R2): who finds it and who reads it.
const (
	Open   = "open"   // anyone finds and reads
	Closed = "closed" // anyone finds, only members read (the default)
	Secret = "secret" // only members find and read
)

// Room types.
const (
	Normal     = "normal"
	Auditorium = "auditorium" // only presenters and managers post
)

// Role is a list of a room's users that PUT /api/rooms/{id}/{role}
// replaces.
type Role string

// Roles, as they appear in the path.
const (
	Members    Role = "members"
	Managers   Role = "managers"
	Presenters Role = "presenters"
)

// Room is a room as the API answers it (GET, and the answer of every
// change).
type Room struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Topic       string   `json:"topic,omitempty"`
	Category    string   `json:"category,omitempty"`
	Privacy     string   `json:"privacy"`
	Type        string   `json:"type"`
	Disabled    bool     `json:"disabled"`
	Members     []string `json:"members"`
	Managers    []string `json:"managers"`
	Presenters  []string `json:"presenters"`
	// LastSeq is the sequence number of the room's newest stored post.
	LastSeq uint64    `json:"last_seq"`
	Created time.Time `json:"created"`
}

// NewRoom is the body of POST /api/rooms. ID and Name are required;
// Privacy defaults to closed, Type to normal; users are sip:user@domain.
type NewRoom struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Topic       string   `json:"topic,omitempty"`
	Category    string   `json:"category,omitempty"`
	Privacy     string   `json:"privacy,omitempty"`
	Type        string   `json:"type,omitempty"`
	Disabled    bool     `json:"disabled,omitempty"`
	Members     []string `json:"members,omitempty"`
	Managers    []string `json:"managers,omitempty"`
	Presenters  []string `json:"presenters,omitempty"`
}

// RoomPatch is the body of PATCH /api/rooms/{id}: the fields present (not
// nil) are changed, the others kept. A role list replaces its holders.
type RoomPatch struct {
	Name        *string   `json:"name,omitempty"`
	Description *string   `json:"description,omitempty"`
	Topic       *string   `json:"topic,omitempty"`
	Category    *string   `json:"category,omitempty"`
	Privacy     *string   `json:"privacy,omitempty"`
	Type        *string   `json:"type,omitempty"`
	Members     *[]string `json:"members,omitempty"`
	Managers    *[]string `json:"managers,omitempty"`
	Presenters  *[]string `json:"presenters,omitempty"`
}

// Users is the body of PUT /api/rooms/{id}/{role} (the server also takes
// a bare JSON array) and the answer of GET /api/rooms/{id}/online.
type Users struct {
	Users []string `json:"users"`
}

// NewInvitation is the body of POST /api/rooms/{id}/invitations.
type NewInvitation struct {
	User string `json:"user"`
	By   string `json:"by"`
}

// Invitation is an invitation as the API answers it.
type Invitation struct {
	ID      int64     `json:"id"`
	Room    string    `json:"room"`
	User    string    `json:"user"`
	By      string    `json:"by,omitempty"`
	Created time.Time `json:"created"`
}

// Health is the answer of GET /healthz.
type Health struct {
	Status string `json:"status"`
}

// NewAccount is one account of POST /api/accounts: the user's address,
// the login it signs in with (empty: the address's user part) and its
// password, which the server keeps only as the hashes its schemes need.
type NewAccount struct {
	URI      string `json:"uri"`
	User     string `json:"user,omitempty"`
	Password string `json:"password"`
}

// NewAccounts is the body of POST /api/accounts (the server also takes a
// bare JSON array). An account with a URI the server has replaces it.
type NewAccounts struct {
	Accounts []NewAccount `json:"accounts"`
}

// AccountsAdded is the answer of POST /api/accounts: how many accounts
// the request added or replaced and how many the server now has.
type AccountsAdded struct {
	Added    int `json:"added"`
	Accounts int `json:"accounts"`
}

// Account is an account as GET /api/accounts answers it: no password, no
// hash.
type Account struct {
	URI  string `json:"uri"`
	User string `json:"user,omitempty"`
}

// Accounts is the answer of GET /api/accounts.
type Accounts struct {
	Accounts []Account `json:"accounts"`
}

// Error is the body of every answer outside 2xx.
type Error struct {
	Error string `json:"error"`
}

// Stats is the answer of GET /api/stats: the server's counters.
// refserver's TestStatsWireType holds it to what the server serves.
type Stats struct {
	Registered int `json:"registered"`
	// RegisterLimited counts REGISTERs refused over the users a
	// connection may hold.
	RegisterLimited uint64       `json:"register_limited"`
	Channel         ChannelStats `json:"channel"`
	Lookup          LookupStats  `json:"lookup"`
	Store           StoreStats   `json:"store"`
	SIP             SIPStats     `json:"sip"`
	Connections     int          `json:"connections"`
	Auth            AuthStats    `json:"auth"`
	// Pool is the pool the server is one of (on PostgreSQL), as it last
	// read the live servers; nil outside a pool.
	Pool *PoolStats `json:"pool,omitempty"`
	// Files are the web service's counters (nil when file posts are off).
	Files *FileStats `json:"files,omitempty"`
}

// FileStats are the counters of the web service for files.
type FileStats struct {
	Uploads   uint64 `json:"uploads"`   // files stored and posted
	Downloads uint64 `json:"downloads"` // files served whole
	Refused   uint64 `json:"refused"`   // requests refused (token, access, size, count)
	Tokens    int    `json:"tokens"`    // outstanding tokens
	// UnsharedServers (in a pool) are the live servers that do not share
	// this server's files folder.
	UnsharedServers []string `json:"unshared_servers,omitempty"`
}

// AuthStats are the registrar's authentication counters.
type AuthStats struct {
	// Scheme is how users are authenticated: none, ntlm or digest.
	Scheme string `json:"scheme"`
	// Challenges counts the 401s sent to REGISTERs (each step of an NTLM
	// sign-in is one).
	Challenges uint64 `json:"challenges"`
	// SignIns counts users authenticated; TrunkSignIns users registered on
	// a trusted mutual-TLS trunk without a challenge.
	SignIns      uint64 `json:"signins"`
	TrunkSignIns uint64 `json:"trunk_signins"`
	// Failures counts credentials that did not authenticate.
	Failures uint64 `json:"failures"`
	// Unsigned, BadSignatures and Impersonations count requests refused
	// after sign-in: no signature, one that did not verify (replays
	// included), or From another user than the one authenticated.
	Unsigned       uint64 `json:"unsigned"`
	BadSignatures  uint64 `json:"bad_signatures"`
	Impersonations uint64 `json:"impersonations"`
	// SecurityAssociations are the NTLM associations alive; Accounts the
	// accounts the server keeps.
	SecurityAssociations int `json:"security_associations"`
	Accounts             int `json:"accounts"`
}

// PoolStats say which pool a server is in: its own ID and the live
// servers it hands out channel services of.
type PoolStats struct {
	ID      string       `json:"id"`
	Servers []PoolServer `json:"servers"`
}

// PoolServer is one live server of a pool.
type PoolServer struct {
	ID   string   `json:"id"`
	URIs []string `json:"uris"` // its channel services
	Load int64    `json:"load"` // its open channel sessions
}

// ChannelStats are the channel services' counters.
type ChannelStats struct {
	Sessions       int    `json:"sessions"`        // open channel sessions
	Posts          uint64 `json:"posts"`           // posts stored and fanned out
	Rejected       uint64 `json:"rejected"`        // posts refused with an error reply
	Deliveries     uint64 `json:"deliveries"`      // grpchat INFOs sent
	DeliveryErrors uint64 `json:"delivery_errors"` // deliveries answered with an error or timed out
	Notices        uint64 `json:"notices"`         // ntc INFOs sent
	Commands       uint64 `json:"commands"`        // commands answered
	SessionsOpened uint64 `json:"sessions_opened"`
	// Busy counts posts and queries refused with 503 (the store or the
	// query workers behind); Limited the requests refused by a limit on
	// one client.
	Busy    uint64 `json:"busy"`
	Limited uint64 `json:"limited"`
	// FaultDropped and FaultDuplicated count deliveries a fault
	// (--misbehave) dropped or sent twice.
	FaultDropped    uint64 `json:"fault_dropped,omitempty"`
	FaultDuplicated uint64 `json:"fault_duplicated,omitempty"`
	// ArchiveFailed counts the archive records of parts the user did not
	// ask for (session ended, access lost) that could not be written.
	ArchiveFailed uint64 `json:"archive_failed"`
	// PoolCarried and PoolRead count, in a pool, the other servers' posts
	// this server got in their notifications, and those it read from the
	// table (a notification missed, or a post too large to carry).
	PoolCarried uint64 `json:"pool_carried,omitempty"`
	PoolRead    uint64 `json:"pool_read,omitempty"`
}

// LookupStats are the lookup service's counters.
type LookupStats struct {
	Lookups uint64 `json:"lookups"` // channel URIs handed out
	Cancels uint64 `json:"cancels"` // console-flow INVITEs cancelled
	Dialogs int    `json:"dialogs"` // lookup dialogs open
	Limited uint64 `json:"limited"` // lookup INVITEs refused over the per-user limit
}

// StoreStats are the store's counters.
type StoreStats struct {
	Appended uint64 // posts made durable
	Commits  uint64 // transactions committed (each one disk flush)
	Failed   uint64 // appends that failed
}

// SIPStats are the SIP endpoint's counters (sipnet.Stats), under their
// Go names.
type SIPStats struct {
	Malformed          uint64 // messages that could not be scanned or framed
	KeepAlives         uint64 // CRLF keep-alives received
	Retransmissions    uint64 // requests and responses re-sent over UDP
	StrayResponses     uint64 // responses matching no transaction
	Timeouts           uint64 // client transactions that timed out
	LateResponses      uint64 // final answers after their transaction timed out
	AbsorbedRetransmit uint64 // retransmitted requests answered from the transaction
	// Responses counts the responses received, by status code.
	Responses map[int]uint64
	// Socket system calls and the messages and bytes they carried.
	Reads, Writes, MessagesIn, MessagesOut uint64
	BytesIn, BytesOut                      uint64
	// Limits: connections refused, closed without a sign-in in time,
	// closed with a message half-sent, and messages refused as too large.
	Refused, SignInTimeouts, MessageTimeouts, TooLarge uint64
	// TLS handshakes that failed, and responses refused by a connection's
	// signature check (MS-SIPAE).
	HandshakeFailures, ResponsesRefused uint64
}
