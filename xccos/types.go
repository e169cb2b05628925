package xccos

import "time"

// Namespace is the XML namespace of every XCCOS envelope.
const Namespace = "urn:parlano:xml:ns:xccos"

// Version is the only envelope version on the wire.
const Version = "1"

// Limits advertised by servers (sib messageSizeLimit / storySizeLimit) and
// the length past which a post is a story. Lengths count characters (runes)
// of the unescaped chat text.
const (
	MessageSizeLimit = 512
	StorySizeLimit   = 4096
	StoryThreshold   = 500
)

// Affiliation keys seen in aib elements.
const (
	AffMember  = "3984"
	AffManager = "12276"
)

// SuccessText is the text of a 200 resp element.
const SuccessText = "SUCCESS_OK"

// Kind is the kind of a top-level element of an envelope.
type Kind uint8

// The kinds of top-level element.
const (
	KindCommand Kind = iota + 1 // <cmd id="cmd:NAME">
	KindReply                   // <rpl id="rpl:NAME">
	KindNotice                  // <ntc id="ntc:NAME">
	KindChat                    // <grpchat id="grpchat">
)

// String returns the element name of the kind ("cmd", "rpl", "ntc",
// "grpchat"), or "unknown".
func (k Kind) String() string {
	switch k {
	case KindCommand:
		return "cmd"
	case KindReply:
		return "rpl"
	case KindNotice:
		return "ntc"
	case KindChat:
		return "grpchat"
	}
	return "unknown"
}

// Envelope is one <xccos> document.
type Envelope struct {
	// EnvID identifies the envelope. Clients start at a random 32-bit value;
	// servers send 64-bit values.
	EnvID uint64
	// Ver is the ver attribute as received ("1" on the wire).
	Ver string
	// NS is the default namespace declared on the root (Namespace on the wire).
	NS string
	// Items are the top-level elements in document order. Senders put one;
	// readers accept several rpl/ntc siblings.
	Items []Item
}

// Item is one top-level element: a command, a reply, a notice or a chat.
type Item struct {
	Kind Kind
	// Name is the part of the id after the "cmd:", "rpl:" or "ntc:" prefix
	// ("join" for cmd:join); "grpchat" for a chat.
	Name string
	// SeqID is the seqid attribute ("1" from every known client).
	SeqID string
	// Reply is set for rpl items: the commandid and resp children.
	Reply *ReplyInfo
	// Data is the <data> child; nil when absent, empty for <data/>.
	Data *Data
	// Chat is set for grpchat items (and is the shape of history msg items).
	Chat *Chat
}

// ReplyInfo carries the commandid and resp children of a reply.
type ReplyInfo struct {
	CommandSeqID string
	// CommandEnvID is the envid of the command this reply answers.
	CommandEnvID uint64
	// Code is the resp code: 200 for success.
	Code int
	// Text is the resp text: SuccessText for 200, a readable reason otherwise.
	Text string
}

// Chat is a post as sent by a client and as delivered by the server; the
// same shape is a msg element of a history reply.
type Chat struct {
	ChanURI string // chanUri: ma-chan://domain/id
	Author  string // author: sip:user@domain
	// TS is the parsed ts attribute; the zero time when absent.
	TS time.Time
	// TSRaw is the ts attribute as received (empty when absent).
	TSRaw string
	// Text is the unescaped text of the <chat> child.
	Text string
	// Story marks a long post (up to StorySizeLimit characters instead of
	// MessageSizeLimit): the story="true" attribute, an extension of this
	// project (docs/protocol.md).
	Story bool
	// File is set on a file post: an <ftdb channelUri fileUrl/> child
	// after <chat>, naming the uploaded file (whose name is the text).
	File *FTDB
}

// Data is the <data> child of a command, reply or notice. Each field holds
// the elements of that name found directly under <data>, in order.
type Data struct {
	Users    []UIB    // uib
	Channels []ChanIB // chanib
	ChanIDs  []ChanID // chanid
	Query    *QIB     // qib
	History  *BCQ     // bcq
	Server   *SIB     // sib
	Invites  []Inv    // inv
	File     *FTDB    // ftdb
	Token    *Token   // token
	Search   *MsgQuery
	// Unknown holds the names of elements the parser did not recognise, so a
	// checker can report them; they are not re-rendered.
	Unknown []string
}

// UIB is a user block.
type UIB struct {
	ID  string // id local to the reply, referenced from aib values
	URI string
	// Affiliations are aib children (ntc:join names the room this way).
	Affiliations []AIB
}

// ChanIB is a room (channel) block.
type ChanIB struct {
	URI          string
	Name         string
	Description  string
	Topic        string
	Info         []KV   // <info id="urn:parlano:ma:info:...">value</info>
	Props        []KV   // <prop id="urn:parlano:ma:prop:...">value</prop>
	Affiliations []AIB  // aib children: role key, comma list of uib ids
	Users        []UIB  // uib children (ntc:part names who left this way)
	Messages     []Chat // msg children of a history reply
}

// KV is an info or prop element: an id attribute and a text value.
type KV struct {
	ID    string
	Value string
}

// Info and prop ids.
const (
	InfoUserCount  = "urn:parlano:ma:info:ucnt"
	InfoVisibility = "urn:parlano:ma:info:visibilty" // sic, as on the wire
	PropFilePost   = "urn:parlano:ma:prop:filepost"
	PropInvite     = "urn:parlano:ma:prop:invite"
	PropLogged     = "urn:parlano:ma:prop:logged"
	// cmd:chanupd [extension] (docs/protocol.md): a room's new privacy
	// (open, closed, secret), and users (comma-separated sip: URIs) to
	// make members or to take out.
	PropPrivacy       = "urn:gcload:prop:privacy"
	PropAddMembers    = "urn:gcload:prop:addmembers"
	PropRemoveMembers = "urn:gcload:prop:removemembers"
	// cmd:chancreate [extension]: the category (its id) a new room is
	// created in.
	PropCategory = "urn:gcload:prop:category"
)

// ChanID names a room in cmd:join / cmd:bjoin.
type ChanID struct {
	Key    string // position in a bjoin, "0".."n-1"
	Domain string
	Value  string // the id part of ma-chan://domain/id
}

// AIB is an affiliation block.
type AIB struct {
	Key    string // role: AffMember, AffManager
	Domain string
	Value  string // comma list of uib ids, or a room id in notices
}

// QIB is a room search query.
type QIB struct {
	QType    string // "BYNAME"
	Criteria string // empty lists every room the user may see
	Extended string // "false"
}

// BCQ is a history query: <bcq><last cnt="N"/></bcq>.
type BCQ struct {
	Last int
}

// SIB is server information returned by getserverinfo.
type SIB struct {
	Domain           string
	InfoType         string
	ServerTime       string
	SearchLimit      string
	MessageSizeLimit string
	StorySizeLimit   string
	RootURI          string
	DBVersion        string
}

// Inv is an invitation block.
type Inv struct {
	InviteID string
	Domain   string
	ChanURI  string // extension: the room an invitation is for
	Author   string // extension: who invited
}

// FTDB is a file post descriptor.
type FTDB struct {
	ChannelURI string
	FileURL    string
}

// Token is a file transfer token.
type Token struct {
	Token     string
	ServerURI string
}

// MsgQuery is the message search extension (see docs/protocol.md): search
// stored posts by room, author, keyword and time range.
type MsgQuery struct {
	ChanURI  string
	Author   string
	Keyword  string
	From, To string // RFC 3339 / XCCOS timestamps, empty for open ends
	Limit    int
}
