package xccos

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gcload/gcload/internal/sipelog"
)

// logEnvelope is the XCCOS body of one INFO of the captured SIPE session.
type logEnvelope struct {
	name string // "C->S line 126"
	body []byte
}

// logEnvelopes returns the bodies of the INFO requests sent in direction dir.
func logEnvelopes(dir sipelog.Direction) []logEnvelope {
	var out []logEnvelope
	for _, b := range sipelog.Blocks() {
		if b.Dir == dir && strings.HasPrefix(b.StartLine(), "INFO ") {
			out = append(out, logEnvelope{fmt.Sprintf("%s line %d", b.Dir, b.Line), b.Body()})
		}
	}
	return out
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func room1Chat(author, ts, text string) Chat {
	return Chat{ChanURI: "ma-chan://example.com/room1", Author: author, TS: utc(ts), TSRaw: ts, Text: text}
}

// The client's envelopes, by envid. SIPE numbers its envelopes from a
// random start per channel session.
var wantClient = map[uint64]*Envelope{
	1100549430: NewCommand(1100549430, "requri", &Data{}),
	1100549431: NewCommand(1100549431, "bjoin", &Data{ChanIDs: []ChanID{{Key: "0", Domain: "example.com", Value: "room1"}}}),
	1100549432: NewCommand(1100549432, "getinv", &Data{Invites: []Inv{{InviteID: "1", Domain: "example.com"}}}),
	1100549433: NewCommand(1100549433, "bccontext", &Data{
		Channels: []ChanIB{{URI: "ma-chan://example.com/room1"}},
		History:  &BCQ{Last: 25},
	}),
	1100549434: NewChat(1100549434, room1Chat("sip:alice@example.com", "2026-11-21T21:42:34Z", "hi bob (no echo test)")),
	505417529:  NewCommand(505417529, "requri", &Data{}),
	505417530:  NewCommand(505417530, "bjoin", &Data{ChanIDs: []ChanID{{Key: "0", Domain: "example.com", Value: "room1"}}}),
	505417531:  NewCommand(505417531, "getinv", &Data{Invites: []Inv{{InviteID: "1", Domain: "example.com"}}}),
	505417532: NewCommand(505417532, "bccontext", &Data{
		Channels: []ChanIB{{URI: "ma-chan://example.com/room1"}},
		History:  &BCQ{Last: 25},
	}),
}

func bjoinReply(envid, cmd uint64, users ...UIB) *Envelope {
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	return NewReply(envid, "bjoin", cmd, 200, "", &Data{
		Users: users,
		Channels: []ChanIB{{
			URI: "ma-chan://example.com/room1", Name: "Room One", Topic: "test topic",
			Affiliations: []AIB{{Key: AffMember, Value: strings.Join(ids, ",")}},
		}},
	})
}

func historyReply(envid, cmd uint64) *Envelope {
	return NewReply(envid, "bccontext", cmd, 200, "", &Data{Channels: []ChanIB{{
		URI:      "ma-chan://example.com/room1",
		Messages: []Chat{room1Chat("sip:bob@example.com", "2010-09-14T14:26:17Z", "older message")},
	}}})
}

var (
	alice = UIB{ID: "0", URI: "sip:alice@example.com"}
	bob   = UIB{ID: "1", URI: "sip:bob@example.com"}
	gcs1  = &Data{Users: []UIB{{URI: "sip:gcs1@example.com"}}}
)

// The mock server's envelopes, by envid.
var wantServer = map[uint64]*Envelope{
	1000: NewReply(1000, "requri", 1100549430, 200, "", gcs1),
	1001: bjoinReply(1001, 1100549431, alice),
	1002: NewReply(1002, "getinv", 1100549432, 200, SuccessText, &Data{}),
	1003: historyReply(1003, 1100549433),
	1004: NewReply(1004, "requri", 505417529, 200, "", gcs1),
	1005: bjoinReply(1005, 505417530, alice, bob),
	1006: NewNotice(1006, "join", &Data{Users: []UIB{{
		ID: "9", URI: "sip:bob@example.com",
		Affiliations: []AIB{{Key: AffMember, Domain: "example.com", Value: "room1"}},
	}}}),
	1007: NewReply(1007, "getinv", 505417531, 200, "", &Data{}),
	1008: historyReply(1008, 505417532),
	1009: NewChat(1009, room1Chat("sip:alice@example.com", "2026-11-21T21:42:34Z", "hi bob (no echo test)")),
}

func TestLogClientGoldenRoundTrip(t *testing.T) {
	envs := logEnvelopes(sipelog.ClientToServer)
	if len(envs) != len(wantClient) {
		t.Fatalf("log has %d client INFOs, want %d", len(envs), len(wantClient))
	}
	for _, le := range envs {
		t.Run(le.name, func(t *testing.T) {
			env, err := Parse(le.body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := env.Marshal(); !bytes.Equal(got, le.body) {
				t.Errorf("Marshal differs from the client's bytes\n got: %s\nwant: %s", got, le.body)
			}
			want, ok := wantClient[env.EnvID]
			if !ok {
				t.Fatalf("unexpected envid %d", env.EnvID)
			}
			if !reflect.DeepEqual(env, want) {
				t.Errorf("Parse =\n%s\nwant\n%s", dump(env), dump(want))
			}
			// The builder renders the same bytes as the real client.
			if got := want.Marshal(); !bytes.Equal(got, le.body) {
				t.Errorf("builder renders\n%s\nwant\n%s", got, le.body)
			}
		})
	}
}

func TestLogClientValues(t *testing.T) {
	envs := logEnvelopes(sipelog.ClientToServer)
	var kinds []string
	for _, le := range envs {
		env, err := Parse(le.body)
		if err != nil {
			t.Fatalf("%s: %v", le.name, err)
		}
		it := env.Items[0]
		kinds = append(kinds, it.Kind.String()+":"+it.Name)
	}
	want := "cmd:requri cmd:bjoin cmd:getinv cmd:bccontext cmd:requri cmd:bjoin cmd:getinv cmd:bccontext grpchat:grpchat"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("client items %q, want %q", got, want)
	}

	first, _ := Parse(envs[0].body)
	if first.EnvID != 1100549430 || first.Ver != "1" || first.NS != Namespace {
		t.Errorf("first envelope: envid %d ver %q ns %q", first.EnvID, first.Ver, first.NS)
	}
	if d := first.Items[0].Data; d == nil || !d.empty() {
		t.Errorf("cmd:requri data = %+v, want empty non-nil", d)
	}
	bjoin, _ := Parse(envs[1].body)
	if got := bjoin.Items[0].Data.ChanIDs[0].Value; got != "room1" {
		t.Errorf("bjoin chanid value %q, want room1", got)
	}
	hist, _ := Parse(envs[3].body)
	if got := hist.Items[0].Data.History.Last; got != 25 {
		t.Errorf("bccontext bcq last %d, want 25", got)
	}
	post, _ := Parse(envs[8].body)
	c := post.Items[0].Chat
	if c.Author != "sip:alice@example.com" || c.TSRaw != "2026-11-21T21:42:34Z" ||
		!c.TS.Equal(time.Date(2026, 11, 21, 21, 42, 34, 0, time.UTC)) || c.Text != "hi bob (no echo test)" {
		t.Errorf("grpchat = %+v", c)
	}
}

func TestLogServerEnvelopes(t *testing.T) {
	envs := logEnvelopes(sipelog.ServerToClient)
	if len(envs) != len(wantServer) {
		t.Fatalf("log has %d server INFOs, want %d", len(envs), len(wantServer))
	}
	for _, le := range envs {
		t.Run(le.name, func(t *testing.T) {
			env, err := Parse(le.body)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want, ok := wantServer[env.EnvID]
			if !ok {
				t.Fatalf("unexpected envid %d", env.EnvID)
			}
			if !reflect.DeepEqual(env, want) {
				t.Errorf("Parse =\n%s\nwant\n%s", dump(env), dump(want))
			}
			// The mock server wrote <data></data>; canonical form is <data/>.
			canon := bytes.ReplaceAll(le.body, []byte("<data></data>"), []byte("<data/>"))
			if got := env.Marshal(); !bytes.Equal(got, canon) {
				t.Errorf("Marshal\n got: %s\nwant: %s", got, canon)
			}
		})
	}
}

func TestLogServerValues(t *testing.T) {
	byName := map[string]*Envelope{}
	for _, le := range logEnvelopes(sipelog.ServerToClient) {
		env, err := Parse(le.body)
		if err != nil {
			t.Fatalf("%s: %v", le.name, err)
		}
		byName[env.Items[0].Kind.String()+":"+env.Items[0].Name] = env // the last of each name
	}
	bj := byName["rpl:bjoin"].Items[0]
	if r := bj.Reply; r.CommandEnvID != 505417530 || r.Code != 200 || r.Text != SuccessText || r.CommandSeqID != "1" {
		t.Errorf("rpl:bjoin reply = %+v", r)
	}
	if n := len(bj.Data.Users); n != 2 {
		t.Errorf("rpl:bjoin has %d uib, want 2", n)
	}
	if got := bj.Data.Channels[0].Affiliations[0]; got.Key != AffMember || got.Value != "0,1" {
		t.Errorf("rpl:bjoin aib = %+v, want key 3984 value 0,1", got)
	}
	join := byName["ntc:join"].Items[0]
	if u := join.Data.Users[0]; u.URI != "sip:bob@example.com" || u.Affiliations[0].Value != "room1" {
		t.Errorf("ntc:join uib = %+v", u)
	}
	hist := byName["rpl:bccontext"].Items[0].Data.Channels[0].Messages
	if len(hist) != 1 || hist[0].Text != "older message" || hist[0].Author != "sip:bob@example.com" ||
		!hist[0].TS.Equal(time.Date(2010, 9, 14, 14, 26, 17, 0, time.UTC)) {
		t.Errorf("rpl:bccontext messages = %+v", hist)
	}
	if c := byName["grpchat:grpchat"].Items[0].Chat; c.Text != "hi bob (no echo test)" || c.ChanURI != "ma-chan://example.com/room1" {
		t.Errorf("grpchat delivery = %+v", c)
	}
	if d := byName["rpl:getinv"].Items[0].Data; d == nil || !d.empty() {
		t.Errorf("rpl:getinv data = %+v, want empty non-nil", d)
	}
}

// dump renders an envelope with its pointers followed, for failure messages.
func dump(e *Envelope) string {
	if e == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "envid=%d ver=%q ns=%q\n", e.EnvID, e.Ver, e.NS)
	for _, it := range e.Items {
		fmt.Fprintf(&b, "  %s name=%q seqid=%q\n", it.Kind, it.Name, it.SeqID)
		if it.Reply != nil {
			fmt.Fprintf(&b, "    reply %+v\n", *it.Reply)
		}
		if it.Chat != nil {
			fmt.Fprintf(&b, "    chat %+v\n", *it.Chat)
		}
		if d := it.Data; d != nil {
			fmt.Fprintf(&b, "    data users=%+v channels=%+v chanids=%+v invites=%+v unknown=%q\n",
				d.Users, d.Channels, d.ChanIDs, d.Invites, d.Unknown)
			for _, p := range []any{d.Query, d.History, d.Server, d.File, d.Token, d.Search} {
				if !reflect.ValueOf(p).IsNil() {
					fmt.Fprintf(&b, "    %T %+v\n", p, reflect.ValueOf(p).Elem().Interface())
				}
			}
		}
	}
	return b.String()
}
