// Package fault is the reference server's set of deliberate misbehaviours:
// `gcload serve --misbehave NAME[,NAME]` switches on faults so that tests
// can show each conformance rule (docs/conformance.md) and each accounting
// figure catching the fault it is about. Each fault is narrow: it breaks one
// rule and leaves everything else working, so that a conformance run with
// one fault on fails exactly the rules the fault names.
package fault

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gcload/gcload/ruleid"
)

// Name names a fault.
type Name string

// Fault describes one misbehaviour.
type Fault struct {
	Name Name
	// Rules are the conformance rules (package ruleid) that the
	// fault breaks: `gcload conform` fails exactly these. A fault with
	// none is caught by a load run's figures instead.
	Rules []string
	// Figures are the result figures of `gcload run` (threshold metrics,
	// docs/results.md) that show the fault in a load run, if any.
	Figures []string
	What    string
}

// The faults, one or more per rule.
const (
	RegisterHeaders     Name = "register-headers"
	NoProvisioning      Name = "no-provisioning"
	KeepAliveClose      Name = "keepalive-close"
	NonSIPChannelURI    Name = "non-sip-channel-uri"
	NoRoundRobin        Name = "no-round-robin"
	IgnoreCancel        Name = "ignore-cancel"
	Info200Body         Name = "info-200-body"
	InfoContentType     Name = "info-content-type"
	ReplyOutsideDialog  Name = "reply-outside-dialog"
	MalformedEnvelope   Name = "malformed-envelope"
	InvalidChars        Name = "invalid-chars"
	WrongNamespace      Name = "wrong-namespace"
	WrongVersion        Name = "wrong-version"
	ServerCommand       Name = "server-command"
	WrongCommandID      Name = "wrong-commandid"
	DuplicateReply      Name = "duplicate-reply"
	ChatNoTS            Name = "chat-no-ts"
	DropDeliveries      Name = "drop-deliveries"
	DuplicateDeliveries Name = "duplicate-deliveries"
	NoEcho              Name = "no-echo"
	ReorderDeliveries   Name = "reorder-deliveries"
	AcceptSpoofedAuthor Name = "accept-spoofed-author"
	NoJoinNotice        Name = "no-ntc-join"
	NoPartNotice        Name = "no-ntc-part"
	HistoryReversed     Name = "history-reversed"
	LetNonMembersIn     Name = "let-non-members-in"
	DisabledRoomOpen    Name = "disabled-room-open"
	AcceptUnknownDialog Name = "accept-unknown-dialog"
	NoSizeLimit         Name = "no-size-limit"
	MismatchedResponse  Name = "mismatched-response"
	RequireBranch       Name = "require-branch"
	FileTokenNonMember  Name = "file-token-non-member"
	FileTokenReuse      Name = "file-token-reuse"
	FileCorrupt         Name = "file-corrupt"
	FilePostAuthorOnly  Name = "file-post-author-only"
	SearchIgnoreAuthor  Name = "msgsrch-ignore-author"
	SearchAllRooms      Name = "msgsrch-all-rooms"
	// DropArchiveRecords breaks no conformance rule: the compliance
	// cross-check of a load run catches it (compliance_missing).
	DropArchiveRecords Name = "drop-archive-records"
	// DuplicateArchiveRecords: caught by compliance_extra.
	DuplicateArchiveRecords Name = "duplicate-archive-records"
	// DropFileRecords: caught by compliance_missing when the run has
	// file posts or downloads.
	DropFileRecords        Name = "drop-file-records"
	LetAnyoneManage        Name = "let-anyone-manage"
	NoInvitation           Name = "no-invitation"
	IgnoreCategoryMembers  Name = "ignore-category-members"
	IgnoreCategoryOverride Name = "ignore-category-override"
	LetAnyoneCreate        Name = "let-anyone-create"
	NoChallenge            Name = "no-challenge"
	BadServerSignature     Name = "bad-server-signature"
	AcceptUnsigned         Name = "accept-unsigned"
	NoIdentityBinding      Name = "no-identity-binding"

	// A server that answers the INFO carrying a command 200 but never
	// sends its reply, one command at a time.
	IgnoreGetServerInfo Name = "ignore-command=getserverinfo"
	IgnoreMsgSrch       Name = "ignore-command=msgsrch"
	IgnoreChanSrch      Name = "ignore-command=chansrch"
	IgnoreGetInv        Name = "ignore-command=getinv"
	IgnoreBCContext     Name = "ignore-command=bccontext"
	IgnorePart          Name = "ignore-command=part"
)

// IgnoreCommand is the fault that leaves cmd:name unanswered (ok false
// when there is none for that command).
func IgnoreCommand(name string) (Name, bool) {
	n := Name("ignore-command=" + name)
	_, ok := Lookup(n)
	return n, ok
}

var catalog = []Fault{
	{RegisterHeaders, []string{ruleid.Register}, nil, "the REGISTER 200 lists Supported values on one line (msrtc-event-categories, adhoclist)"},
	{NoProvisioning, []string{ruleid.Provisioning}, nil, "the provisioning SUBSCRIBE is answered 200 with no body"},
	{KeepAliveClose, []string{ruleid.KeepAlive}, nil, "a CRLF keep-alive closes the connection"},
	{NonSIPChannelURI, []string{ruleid.LookupURI}, nil, "the console flow's 183 names a ma-chan: URI instead of a sip: channel service"},
	{NoRoundRobin, []string{ruleid.RoundRobin}, nil, "the lookup service always hands out the first channel service"},
	{IgnoreCancel, []string{ruleid.Cancel487}, nil, "a CANCEL of a pending lookup INVITE is answered 200 but the INVITE is not ended with 487"},
	{Info200Body, []string{ruleid.Info200Empty}, nil, "the 200 to every client INFO carries a body"},
	{InfoContentType, []string{ruleid.InfoContentType}, nil, "the channel service's INFOs carry Content-Type text/xml"},
	{ReplyOutsideDialog, []string{ruleid.InDialog, ruleid.Invitation}, nil, "rpl:getinv is sent in a new Call-ID, outside the client's dialog"},
	{MalformedEnvelope, []string{ruleid.WellFormed}, nil, "every join reply is followed by an INFO whose envelope is cut short"},
	{InvalidChars, []string{ruleid.WellFormed}, nil, "every join reply is followed by an ntc:join naming a user whose address holds a control character (\\x01), which XML does not allow"},
	{WrongNamespace, []string{ruleid.Namespace}, nil, "replies carry xmlns=\"urn:example:wrong\""},
	{WrongVersion, []string{ruleid.Version}, nil, "replies carry ver=\"2\""},
	{ServerCommand, []string{ruleid.NoServerCommands}, nil, "every join reply is followed by a cmd:getinv from the server"},
	{WrongCommandID, []string{ruleid.CommandID, ruleid.SearchMatch, ruleid.SearchAccess}, nil, "rpl:msgsrch names the command's envid plus one (so no search's reply is found either)"},
	{DuplicateReply, []string{ruleid.ReplyOnce}, nil, "rpl:chansrch is sent twice, the second time one second after the first (a slow server's duplicate)"},
	{ChatNoTS, []string{ruleid.ChatFields}, nil, "deliveries carry no ts attribute"},
	{DropDeliveries, []string{ruleid.ExactlyOnce}, []string{"lost"}, "one delivery in 100 to a member other than the author (the 100th, 200th, ...) is not sent"},
	{DuplicateDeliveries, []string{ruleid.ExactlyOnce}, []string{"duplicated"}, "one delivery in 100 to a member other than the author (the 50th, 150th, ...) is sent twice"},
	{NoEcho, []string{ruleid.AuthorEcho}, []string{"lost"}, "the author does not get its own post back"},
	{ReorderDeliveries, []string{ruleid.Order}, []string{"out_of_order"}, "one delivery in 10 to a member other than the author is held back and sent after that member's next delivery"},
	{AcceptSpoofedAuthor, []string{ruleid.NoSpoofing}, []string{"spoofed"}, "a post whose author attribute names another user is delivered under that name"},
	{NoJoinNotice, []string{ruleid.JoinNotice}, nil, "members online are not sent ntc:join when someone joins"},
	{NoPartNotice, []string{ruleid.PartNotice}, nil, "members online are not sent ntc:part when someone leaves"},
	{HistoryReversed, []string{ruleid.HistoryOrder}, nil, "cmd:bccontext returns the messages newest first"},
	{LetNonMembersIn, []string{ruleid.ClosedRoom, ruleid.FileTokenAccess, ruleid.SearchAccess, ruleid.CategoryMembership}, nil, "users who are not members may join, read and post in closed rooms (and get file tokens for them, and search them, and join a room below a category that overrides the one allowing them)"},
	{DisabledRoomOpen, []string{ruleid.DisabledRoom}, nil, "disabled rooms can be joined"},
	{AcceptUnknownDialog, []string{ruleid.UnknownDialog}, nil, "in-dialog requests for unknown dialogs are answered 200"},
	{NoSizeLimit, []string{ruleid.MessageSize}, nil, "messages and stories over the advertised limits are accepted"},
	{MismatchedResponse, []string{ruleid.TxMatch}, nil, "the 200 to OPTIONS carries another CSeq number than the request"},
	{RequireBranch, []string{ruleid.NoBranch}, nil, "requests without a Via branch (as SIPE sends them) are refused with 400"},
	{FileTokenNonMember, []string{ruleid.FileTokenAccess}, nil, "cmd:getfutok and cmd:getfdtok give tokens to users who may not read the room, and the web service takes them"},
	{FileTokenReuse, []string{ruleid.FileUploadOnce}, nil, "an upload token stays valid after its upload completed (until it expires)"},
	{FileCorrupt, []string{ruleid.FileRoundTrip}, nil, "downloads return the file with its first byte inverted"},
	{FilePostAuthorOnly, []string{ruleid.FilePostFanout}, nil, "a file post is delivered to its uploader only, not to the other members online"},
	{SearchIgnoreAuthor, []string{ruleid.SearchMatch}, nil, "cmd:msgsrch ignores the author criterion"},
	{SearchAllRooms, []string{ruleid.SearchAccess}, nil, "cmd:msgsrch searches every room, whether the user may read it or not, disabled ones included"},
	{DropArchiveRecords, nil, []string{"compliance_missing"}, "one post in 10 (the 10th, 20th, ...; file posts count) is stored, acknowledged and delivered without its compliance archive records"},
	{DuplicateArchiveRecords, nil, []string{"compliance_extra"}, "one join in 5 (the 5th, 10th, ...) is recorded twice in the compliance archive"},
	{DropFileRecords, nil, []string{"compliance_missing"}, "one file post in 5 (the 5th, 10th, ...) is stored, acknowledged and delivered with its CHAT record but without its FILEUPLOAD record, and one download in 5 is served without its FILEDOWNLOAD record"},
	{LetAnyoneManage, []string{ruleid.ManagerOnly}, nil, "cmd:chanupd from a member who is not a manager is done like a manager's"},
	{NoInvitation, []string{ruleid.Invitation}, nil, "a member added with cmd:chanupd gets no invitation"},
	{IgnoreCategoryMembers, []string{ruleid.CategoryMembership}, nil, "a user allowed in a room only through its category (or a parent category) is treated as a non-member: refused 403"},
	{IgnoreCategoryOverride, []string{ruleid.CategoryMembership}, nil, "a category that overrides its parent's rights still inherits them: a user allowed only at the parent may join rooms below it"},
	{LetAnyoneCreate, []string{ruleid.CategoryCreator}, nil, "cmd:chancreate from a user who is not a creator of the category is done like a creator's"},
	{NoChallenge, []string{ruleid.Challenge}, nil, "with --auth ntlm or digest, a REGISTER without credentials is accepted (200) instead of challenged"},
	{BadServerSignature, []string{ruleid.ServerSignature}, nil, "with --auth ntlm, the rspauth of every message the server signs has one digit changed"},
	{AcceptUnsigned, []string{ruleid.RefuseUnsigned}, nil, "with --auth ntlm, requests after sign-in are accepted unsigned or with a signature that does not verify"},
	{NoIdentityBinding, []string{ruleid.Identity}, nil, "a signed-in user's requests From another user are accepted (the From is not checked against the user the signature or the connection authenticated)"},
	{IgnoreGetServerInfo, []string{ruleid.CommandID, ruleid.LookupURI, ruleid.MessageSize}, nil, "cmd:getserverinfo is answered 200 and never replied to (the probes that need the server's limits cannot go on)"},
	{IgnoreMsgSrch, []string{ruleid.CommandID, ruleid.SearchMatch, ruleid.SearchAccess}, nil, "cmd:msgsrch is answered 200 and never replied to (so no search can be judged either)"},
	{IgnoreChanSrch, []string{ruleid.ReplyOnce}, nil, "cmd:chansrch is answered 200 and never replied to (zero replies, not one)"},
	{IgnoreGetInv, []string{ruleid.InDialog, ruleid.Invitation}, nil, "cmd:getinv is answered 200 and never replied to"},
	{IgnoreBCContext, []string{ruleid.HistoryOrder, ruleid.ClosedRoom}, nil, "cmd:bccontext is answered 200 and never replied to"},
	{IgnorePart, []string{ruleid.PartNotice}, nil, "cmd:part is answered 200 and never replied to (nor is anyone told)"},
}

// All lists every fault, sorted by name.
func All() []Fault {
	out := append([]Fault(nil), catalog...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the fault named n.
func Lookup(n Name) (Fault, bool) {
	for _, c := range catalog {
		if c.Name == n {
			return c, true
		}
	}
	return Fault{}, false
}

// Set is a set of faults switched on; the zero Set has none.
type Set struct{ on map[Name]bool }

// Parse reads a comma-separated list of fault names.
func Parse(list string) (Set, error) {
	var s Set
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if _, ok := Lookup(Name(f)); !ok {
			names := make([]string, 0, len(catalog))
			for _, c := range All() {
				names = append(names, string(c.Name))
			}
			return Set{}, fmt.Errorf("fault: unknown misbehaviour %q (known: %s)", f, strings.Join(names, ", "))
		}
		s = s.With(Name(f))
	}
	return s, nil
}

// With returns the set with n switched on as well.
func (s Set) With(n Name) Set {
	m := make(map[Name]bool, len(s.on)+1)
	for k := range s.on {
		m[k] = true
	}
	m[n] = true
	return Set{on: m}
}

// Has reports whether fault n is on.
func (s Set) Has(n Name) bool { return s.on[n] }

// Empty reports whether no fault is on.
func (s Set) Empty() bool { return len(s.on) == 0 }

func (s Set) String() string {
	var names []string
	for n := range s.on {
		names = append(names, string(n))
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}
