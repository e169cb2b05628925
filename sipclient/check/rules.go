// Package check is gcload's conformance suite: the protocol rules a group
// chat server is held to, each with a stable ID (package ruleid), the
// section of the protocol (shared/protocol/XCCOS.md, RFC 3261) it comes
// from, and the probes that exercise it against any server (`gcload conform`). Rules
// checked on every message (headers, envelopes, replies) are enforced by
// sipclient itself as Violations; the probes here drive the flows that
// exercise the rest (fan-out, notices, history, access, lookup, SIP edge
// cases) and attribute each failure to one rule. docs/conformance.md
// lists them for people.
package check

import (
	"sort"
	"strings"

	"github.com/gcload/gcload/ruleid"
)

// Rule is one protocol rule.
type Rule struct {
	ID string `json:"id"`
	// Title says what the server must do.
	Title string `json:"title"`
	// Ref is where the rule comes from.
	Ref string `json:"ref"`
	// Needs names what the probe needs besides users and a room
	// ("channel-services", "closed-room", "disabled-room",
	// "managed-room", "category-rooms", "create-category"), or "".
	Needs string `json:"needs,omitempty"`
}

// Rules is the catalog, in report order: one entry per ID of package
// ruleid (TestCatalogHasEveryRuleID), with what it means and where it
// comes from.
var Rules = []Rule{
	{ruleid.Register, "the REGISTER 200 has a positive Expires, Supported: msrtc-event-categories on its own line and Allow-Events: vnd-microsoft-provisioning-v2 without spaces after commas", "XCCOS §2.1", ""},
	{ruleid.Provisioning, "the provisioning SUBSCRIBE is answered 200 with a provisionGroupList body", "XCCOS §2.2", ""},
	{ruleid.KeepAlive, "a bare CRLF CRLF keep-alive on the connection is accepted silently and the connection keeps working", "XCCOS §2.3; RFC 5626 §3.5.1", ""},
	{ruleid.TxMatch, "every response carries its request's Via branch, Call-ID and CSeq (number and method)", "RFC 3261 §8.2.6.2, §17.1.3", ""},
	{ruleid.NoBranch, "requests without a Via branch (SIPE sends its INVITEs, ACKs and BYEs so) are handled: INVITE 200, BYE 200", "XCCOS §3c; RFC 3261 §17.2.3 (RFC 2543 matching)", ""},
	{ruleid.UnknownDialog, "an in-dialog request (To tag) on an unknown dialog is answered 481", "XCCOS §3c; RFC 3261 §12.2.2", ""},
	{ruleid.LookupURI, "rpl:requri (in the client flow and in the console flow's 183) names a sip: URI of a channel service in data/uib@uri", "XCCOS §3a, §3b, §6.4", ""},
	{ruleid.RoundRobin, "successive lookups hand out every channel service in turn", "XCCOS §1, §6.4", "channel-services"},
	{ruleid.Cancel487, "a CANCEL of a pending console-flow lookup INVITE is answered 200 and the INVITE 487", "XCCOS §3b; RFC 3261 §9.2", ""},
	{ruleid.Info200Empty, "every client INFO is answered 200 with no body", "XCCOS §3c, §6.1", ""},
	{ruleid.InfoContentType, "every XCCOS INFO from the server has Content-Type text/plain", "XCCOS §3c, §6.1", ""},
	{ruleid.InDialog, "replies, notices and deliveries come as INFO inside the client's channel dialog", "XCCOS §3c, §6.1", ""},
	{ruleid.WellFormed, "every XCCOS body is a well-formed xccos envelope with a uint64 envid", "XCCOS §4, §6.2", ""},
	{ruleid.Namespace, "the envelope's namespace is urn:parlano:xml:ns:xccos", "XCCOS §4, §6.2", ""},
	{ruleid.Version, `the envelope has ver="1"`, "XCCOS §4, §6.2", ""},
	{ruleid.NoServerCommands, "the server sends replies, notices and grpchat, never cmd:*", "XCCOS §4 (top-level elements)", ""},
	{ruleid.CommandID, "every rpl:X names the envid of the cmd:X it answers in commandid@envid", "XCCOS §4, §6.3", ""},
	{ruleid.ReplyOnce, "every command gets exactly one reply", "XCCOS §4, §6.3", ""},
	{ruleid.ChatFields, "every grpchat delivery carries chanUri, author and ts", "XCCOS §4 (Posts), §6.5", ""},
	{ruleid.ExactlyOnce, "each post reaches every other member online exactly once", "XCCOS §4 (grpchat), §6.5", ""},
	{ruleid.AuthorEcho, "each post comes back to its author exactly once", "XCCOS §4 (grpchat: the author included), §6.5", ""},
	{ruleid.Order, "each member receives a room's posts in posting order", "XCCOS §6.5", ""},
	{ruleid.NoSpoofing, "deliveries name the real poster as author; a post claiming another author is refused or rewritten", "XCCOS §6.5", ""},
	{ruleid.JoinNotice, "a join reply lists the joiner; the members online get ntc:join naming them", "XCCOS §4 (ntc:join), §6.6", ""},
	{ruleid.PartNotice, "after cmd:part the members online get ntc:part naming the leaver", "XCCOS §4 (ntc:part), §6.6", ""},
	{ruleid.HistoryOrder, "cmd:bccontext returns the room's persisted posts, oldest first, in posting order", "XCCOS §4 (bccontext), §6.7", ""},
	{ruleid.ClosedRoom, "a user who is not a member of a closed room is refused with 403 (join, history, post)", "XCCOS §4 (error replies), §5, §6.7", "closed-room"},
	{ruleid.DisabledRoom, "joining a disabled room is refused with 409", "XCCOS §4 (error replies), §5", "disabled-room"},
	{ruleid.MessageSize, "posts over the advertised messageSizeLimit (stories over storySizeLimit) are refused; posts at the limit are accepted", "XCCOS §4 (sib, Posts)", ""},
	{ruleid.ManagerOnly, "cmd:chanupd [extension] from a user who is not a manager of the room is refused with 403 and changes nothing; a manager's is done", "XCCOS §5 (managers edit membership and properties); docs/protocol.md, cmd:chanupd", "managed-room"},
	{ruleid.Invitation, "a user a manager adds to a room with cmd:chanupd gets an invitation to it in rpl:getinv", "XCCOS §4 (getinv), §5 (invitations); docs/protocol.md, cmd:chanupd", "managed-room"},
	{ruleid.CategoryMembership, "a user a room's category allows, directly or through a parent category, joins the closed room without holding a role in it; below a category that overrides its parent, the parent's users are refused 403", "XCCOS §5 (rooms live in categories); docs/protocol.md, Categories", "category-rooms"},
	{ruleid.CategoryCreator, "cmd:chancreate [extension] from a user the category does not allow to create rooms is refused with 403 and creates nothing; a creator's (inherited from a parent category) creates the room", "XCCOS §5 (roles: Creator); docs/protocol.md, cmd:chancreate", "create-category"},
	{ruleid.Challenge, "a REGISTER without credentials is challenged (401) with a challenge a client can answer: NTLM (realm, targetname; then an opaque and an NTLM CHALLENGE) or digest (realm, nonce, qop=auth)", "MS-SIPAE §3.3.5, §4.1; RFC 3261 §22", "credentials"},
	{ruleid.ServerSignature, "after an NTLM sign-in every final response and request the server sends carries an Authentication-Info signature that verifies", "MS-SIPAE §3.2.5.2, §3.3.5", "credentials"},
	{ruleid.RefuseUnsigned, "after an NTLM sign-in a request without a signature, or with one that does not verify, is refused (401 or 403)", "MS-SIPAE §3.3.5.2", "credentials"},
	{ruleid.Identity, "a signed-in user's request From another user is refused: the identity is the one signed in", "MS-SIPAE §3.3; RFC 3261 §22.1", "credentials"},
	{ruleid.FileTokenAccess, "cmd:getfutok / cmd:getfdtok give a member a token (rpl:getftok with token and serveruri) and refuse a non-member of a closed room with 403", "XCCOS §4 (getfutok, getfdtok), §5; docs/protocol.md, File posts", "file-posts"},
	{ruleid.FileUploadOnce, "an upload token serves one upload: a second upload with it is refused (4xx)", "docs/protocol.md, File posts [ours]", "file-posts"},
	{ruleid.FilePostFanout, "an uploaded file's post (grpchat with ftdb naming the file) reaches every member online once, the uploader included, under the uploader's name", "XCCOS §4 (ftdb), §6.5; docs/protocol.md, File posts", "file-posts"},
	{ruleid.FileRoundTrip, "another member downloads, with a download token, the very bytes uploaded", "XCCOS §4 (getfdtok); docs/protocol.md, File posts", "file-posts"},
	{ruleid.SearchMatch, "cmd:msgsrch by keyword (any case) and author returns exactly the matching posts, newest first", "XCCOS §4 (message search), §5; docs/protocol.md, msgsrch [extension]", ""},
	{ruleid.SearchAccess, "cmd:msgsrch finds nothing in rooms the user may not read; naming a closed room the user is not a member of is refused 403, a disabled room 409", "XCCOS §4 (error replies), §5; docs/protocol.md, msgsrch [extension]", "closed-room"},
}

// RuleByID returns the rule with that ID.
func RuleByID(id string) (Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// SelectRules resolves a --rules list: IDs or ID prefixes ending in "/"
// ("fanout/"), comma-separated; empty selects all.
func SelectRules(list []string) (map[string]bool, error) {
	sel := map[string]bool{}
	if len(list) == 0 {
		for _, r := range Rules {
			sel[r.ID] = true
		}
		return sel, nil
	}
	for _, item := range list {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n := 0
		for _, r := range Rules {
			if r.ID == item || (strings.HasSuffix(item, "/") && strings.HasPrefix(r.ID, item)) {
				sel[r.ID] = true
				n++
			}
		}
		if n == 0 {
			ids := make([]string, len(Rules))
			for i, r := range Rules {
				ids[i] = r.ID
			}
			sort.Strings(ids)
			return nil, &UnknownRuleError{Rule: item, Known: ids}
		}
	}
	return sel, nil
}

// UnknownRuleError is a --rules item that names no rule.
type UnknownRuleError struct {
	Rule  string
	Known []string
}

func (e *UnknownRuleError) Error() string {
	return "unknown rule " + `"` + e.Rule + `"` + " (known: " + strings.Join(e.Known, ", ") + ")"
}

// RunRules are the rules every `gcload run` checks as it goes: the
// per-message rules sipclient enforces and those the delivery accounting
// judges (docs/conformance.md). The others need a probe of their own.
var RunRules = []string{
	ruleid.Register, ruleid.Provisioning, ruleid.LookupURI, ruleid.Cancel487,
	ruleid.Info200Empty, ruleid.InfoContentType, ruleid.WellFormed, ruleid.Namespace, ruleid.Version, ruleid.NoServerCommands,
	ruleid.CommandID, ruleid.ReplyOnce, ruleid.ChatFields, ruleid.ExactlyOnce, ruleid.Order, ruleid.NoSpoofing,
}
