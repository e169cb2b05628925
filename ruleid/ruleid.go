// Package ruleid names the protocol rules of gcload's conformance suite:
// one constant per rule, its stable ID (the string in reports, JUnit files,
// --rules and docs/conformance.md). The client checks some of them on
// every message (sipclient), the suite holds the catalogue of what each
// means and where it comes from (sipclient/check), and the reference
// server's faults name the rules they break (refserver/fault); all three
// import these names, so a rule has one name and a fault cannot name a
// rule that does not exist (TestFaultsNameKnownRules in refserver/fault).
//
// The package imports nothing, so that both the harness and the server
// may use it.
package ruleid

// Rule IDs, in the catalogue's report order.
const (
	// Sign-in (XCCOS §2).
	Register     = "register/sipe-headers"
	Provisioning = "register/provisioning"

	// SIP transport and transactions.
	KeepAlive     = "sip/keepalive-crlf"
	TxMatch       = "sip/transaction-match"
	NoBranch      = "sip/no-branch"
	UnknownDialog = "dialog/481-unknown"

	// The lookup service.
	LookupURI  = "lookup/requri-uri"
	RoundRobin = "lookup/round-robin"
	Cancel487  = "flow/cancel-487"

	// INFOs and envelopes, checked on every message.
	Info200Empty     = "info/200-empty"
	InfoContentType  = "info/content-type"
	InDialog         = "info/in-dialog"
	WellFormed       = "envelope/well-formed"
	Namespace        = "envelope/namespace"
	Version          = "envelope/version"
	NoServerCommands = "envelope/no-server-commands"
	CommandID        = "reply/commandid-envid"
	ReplyOnce        = "reply/exactly-once"
	ChatFields       = "fanout/chat-fields"

	// Fan-out, notices, history, access and limits.
	ExactlyOnce  = "fanout/exactly-once"
	AuthorEcho   = "fanout/author-echo"
	Order        = "fanout/order"
	NoSpoofing   = "post/no-spoofing"
	JoinNotice   = "join/ntc-join"
	PartNotice   = "part/ntc-part"
	HistoryOrder = "history/persisted-order"
	ClosedRoom   = "access/closed-room-403"
	DisabledRoom = "room/disabled-409"
	MessageSize  = "limits/message-size"

	// Room management by managers [extension: cmd:chanupd].
	ManagerOnly = "manage/manager-only"
	Invitation  = "manage/invitation"
	// Categories [extension: categories with inherited rights, cmd:chancreate].
	CategoryMembership = "category/inherited-membership"
	CategoryCreator    = "category/creator-only"
	// Authentication (MS-SIPAE, RFC 3261 digest), checked when the target
	// has credentials.
	Challenge       = "auth/challenge"
	ServerSignature = "auth/server-signature"
	RefuseUnsigned  = "auth/refuse-unsigned"
	Identity        = "auth/identity"
	// File posts through the web service (docs/protocol.md, "File posts").
	FileTokenAccess = "file/token-access"
	FileUploadOnce  = "file/upload-single-use"
	FilePostFanout  = "file/post-fanout"
	FileRoundTrip   = "file/round-trip"

	// Message search (the msgsrch extension, docs/protocol.md).
	SearchMatch  = "msgsrch/match"
	SearchAccess = "msgsrch/access"
)

// all lists every rule ID once, in report order (TestAllListsEveryConstant
// holds it to the constants above).
var all = []string{
	Register, Provisioning,
	KeepAlive, TxMatch, NoBranch, UnknownDialog,
	LookupURI, RoundRobin, Cancel487,
	Info200Empty, InfoContentType, InDialog, WellFormed, Namespace, Version, NoServerCommands, CommandID, ReplyOnce, ChatFields,
	ExactlyOnce, AuthorEcho, Order, NoSpoofing, JoinNotice, PartNotice, HistoryOrder, ClosedRoom, DisabledRoom, MessageSize,
	ManagerOnly, Invitation,
	CategoryMembership, CategoryCreator,
	Challenge, ServerSignature, RefuseUnsigned, Identity,
	FileTokenAccess, FileUploadOnce, FilePostFanout, FileRoundTrip,
	SearchMatch, SearchAccess,
}

// All returns every rule ID, in report order.
func All() []string { return append([]string(nil), all...) }

// Known reports whether id is a rule's ID.
func Known(id string) bool {
	for _, r := range all {
		if r == id {
			return true
		}
	}
	return false
}
