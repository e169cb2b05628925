package xccos

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gcload/gcload/internal/sipelog"
)

const head = `<xccos ver="1" envid="7" xmlns="urn:parlano:xml:ns:xccos">`

// envelope wraps inner in the usual root element with envid 7.
func envelope(inner string) string { return head + inner + `</xccos>` }

func reply(name, data string) string {
	return `<rpl id="rpl:` + name + `" seqid="1"><commandid seqid="1" envid="42"/><resp code="200">SUCCESS_OK</resp>` + data + `</rpl>`
}

func TestParseServerShapes(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Envelope
	}{
		{
			name: "64-bit envid and extra namespace declarations",
			in: `<xccos xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ` +
				`ver="1" envid="18446744073709551615" xmlns="urn:parlano:xml:ns:xccos">` +
				`<grpchat id="grpchat" seqid="1" chanUri="ma-chan://example.com/room1" author="sip:bob@example.com" ts="2010-09-14T14:26:17.6206356Z">` +
				`<chat>hello</chat></grpchat></xccos>`,
			want: NewChat(18446744073709551615, Chat{
				ChanURI: "ma-chan://example.com/room1", Author: "sip:bob@example.com",
				TS: utc("2010-09-14T14:26:17.6206356Z"), TSRaw: "2010-09-14T14:26:17.6206356Z", Text: "hello",
			}),
		},
		{
			name: "two rpl siblings",
			in:   envelope(reply("join", `<data/>`) + reply("getinv", ``)),
			want: &Envelope{EnvID: 7, Ver: "1", NS: Namespace, Items: []Item{
				{Kind: KindReply, Name: "join", SeqID: "1", Reply: &ReplyInfo{CommandSeqID: "1", CommandEnvID: 42, Code: 200, Text: SuccessText}, Data: &Data{}},
				{Kind: KindReply, Name: "getinv", SeqID: "1", Reply: &ReplyInfo{CommandSeqID: "1", CommandEnvID: 42, Code: 200, Text: SuccessText}},
			}},
		},
		{
			name: "rpl:getservinfo with sib",
			in: envelope(reply("getservinfo", `<data><sib infoType="123" serverTime="2010-09-14T14:26:17.6206356Z" searchLimit="999" `+
				`messageSizeLimit="512" storySizeLimit="4096" rootUri="ma-cat://example.com/GUID" dbVersion="3ea3a5a8-ef36-46cf-898f-7a5133931d63"/></data>`)),
			want: NewReply(7, "getservinfo", 42, 200, "", &Data{Server: &SIB{
				InfoType: "123", ServerTime: "2010-09-14T14:26:17.6206356Z", SearchLimit: "999",
				MessageSizeLimit: "512", StorySizeLimit: "4096", RootURI: "ma-cat://example.com/GUID",
				DBVersion: "3ea3a5a8-ef36-46cf-898f-7a5133931d63",
			}}),
		},
		{
			name: "rpl:chansrch with info and prop",
			in: envelope(reply("chansrch", `<data><chanib uri="ma-chan://example.com/room1" name="Room One" description="a room">`+
				`<info id="urn:parlano:ma:info:ucnt">3</info><info id="urn:parlano:ma:info:visibilty">private</info>`+
				`<prop id="urn:parlano:ma:prop:filepost">true</prop><prop id="urn:parlano:ma:prop:invite">false</prop>`+
				`<prop id="urn:parlano:ma:prop:logged">true</prop></chanib><chanib uri="ma-chan://example.com/room2"/></data>`)),
			want: NewReply(7, "chansrch", 42, 200, "", &Data{Channels: []ChanIB{
				{
					URI: "ma-chan://example.com/room1", Name: "Room One", Description: "a room",
					Info:  []KV{{InfoUserCount, "3"}, {InfoVisibility, "private"}},
					Props: []KV{{PropFilePost, "true"}, {PropInvite, "false"}, {PropLogged, "true"}},
				},
				{URI: "ma-chan://example.com/room2"},
			}}),
		},
		{
			name: "ntc:part in SIPE's shape",
			in:   envelope(`<ntc id="ntc:part" seqid="1"><data><chanib uri="ma-chan://d/r"><uib uri="sip:bob@d"/></chanib></data></ntc>`),
			want: NewNotice(7, "part", &Data{Channels: []ChanIB{{URI: "ma-chan://d/r", Users: []UIB{{URI: "sip:bob@d"}}}}}),
		},
		{
			name: "notice without seqid keeps it empty",
			in:   envelope(`<ntc id="ntc:join"><data/></ntc>`),
			want: &Envelope{EnvID: 7, Ver: "1", NS: Namespace, Items: []Item{{Kind: KindNotice, Name: "join", Data: &Data{}}}},
		},
		{
			name: "error reply",
			in:   envelope(`<rpl id="rpl:join" seqid="1"><commandid seqid="1" envid="42"/><resp code="404">no such room &lt;r&gt;</resp></rpl>`),
			want: NewReply(7, "join", 42, 404, "no such room <r>", nil),
		},
		{
			name: "file token reply",
			in:   envelope(reply("getftok", `<data><ftdb channelUri="ma-chan://d/r" fileUrl="https://d/f?a=1&amp;b=2"/><token token="T0K" serveruri="https://d/ft"/></data>`)),
			want: NewReply(7, "getftok", 42, 200, "", &Data{
				File:  &FTDB{ChannelURI: "ma-chan://d/r", FileURL: "https://d/f?a=1&b=2"},
				Token: &Token{Token: "T0K", ServerURI: "https://d/ft"},
			}),
		},
		{
			name: "room search command and message search extension",
			in: envelope(`<cmd id="cmd:chansrch" seqid="1"><data><qib qtype="BYNAME" criteria="" extended="false"/>` +
				`<msq chanUri="ma-chan://d/r" author="sip:a@d" keyword="lunch" from="2010-01-01T00:00:00Z" to="2011-01-01T00:00:00Z" limit="50"/></data></cmd>`),
			want: NewCommand(7, "chansrch", &Data{
				Query:  &QIB{QType: "BYNAME", Extended: "false"},
				Search: &MsgQuery{ChanURI: "ma-chan://d/r", Author: "sip:a@d", Keyword: "lunch", From: "2010-01-01T00:00:00Z", To: "2011-01-01T00:00:00Z", Limit: 50},
			}),
		},
		{
			name: "invitation with extension attributes",
			in:   envelope(`<ntc id="ntc:inv" seqid="1"><data><inv inviteId="3" domain="d" chanUri="ma-chan://d/r" author="sip:a@d"/></data></ntc>`),
			want: NewNotice(7, "inv", &Data{Invites: []Inv{{InviteID: "3", Domain: "d", ChanURI: "ma-chan://d/r", Author: "sip:a@d"}}}),
		},
		{
			name: "unknown data elements and attributes are recorded or ignored",
			in:   envelope(`<cmd id="cmd:x" seqid="1" extra="y"><data><foo a="1"><bar/></foo><chanid key="0" domain="d" value="r" color="red"/><ns:baz xmlns:ns="urn:x"/></data></cmd>`),
			want: NewCommand(7, "x", &Data{ChanIDs: []ChanID{{"0", "d", "r"}}, Unknown: []string{"foo", "baz"}}),
		},
		{
			name: "wrong namespace and version are kept, not judged",
			in:   `<xccos ver="2" envid="7" xmlns="urn:other"><cmd id="cmd:requri" seqid="9"><data/></cmd></xccos>`,
			want: &Envelope{EnvID: 7, Ver: "2", NS: "urn:other", Items: []Item{{Kind: KindCommand, Name: "requri", SeqID: "9", Data: &Data{}}}},
		},
		{
			name: "namespace prefixes compare local names",
			in: `<x:xccos xmlns:x="urn:parlano:xml:ns:xccos" ver="1" envid="7"><x:cmd id="cmd:bjoin" seqid="1"><x:data>` +
				`<x:chanid key="0" domain="d" value="r"/></x:data></x:cmd></x:xccos>`,
			want: NewCommand(7, "bjoin", &Data{ChanIDs: []ChanID{{"0", "d", "r"}}}),
		},
		{
			name: "prolog, comments, whitespace, single quotes, CDATA and references",
			in: "\ufeff<?xml version='1.0' encoding='utf-8'?>\n<!-- sent by a test -->\n<xccos ver='1' envid='7' xmlns='urn:parlano:xml:ns:xccos'>\n" +
				"  <grpchat id='grpchat' seqid='1' chanUri='ma-chan://d/r' author=\"sip:a&amp;b@d\" ts='2010-09-14T16:26:17+02:00'>\n" +
				"    <?app ignored?><chat>1 &lt; 2 &amp;&amp; <![CDATA[<b>bold</b> & ]]>&#233;&#x1F600;<!-- x --> &quot;&apos;</chat>\n" +
				"  </grpchat>\n</xccos>\n<!-- trailing comment -->\n",
			want: NewChat(7, Chat{
				ChanURI: "ma-chan://d/r", Author: "sip:a&b@d",
				TS: utc("2010-09-14T14:26:17Z"), TSRaw: "2010-09-14T16:26:17+02:00",
				Text: "1 < 2 && <b>bold</b> & é😀 \"'",
			}),
		},
		{
			name: "literal whitespace in attributes is normalised, references are not",
			in:   envelope("<cmd id=\"cmd:x\" seqid=\"1\"><data><chanib uri=\"a\tb\r\nc\" name=\"a&#9;b&#10;c&#13;\"/></data></cmd>"),
			want: NewCommand(7, "x", &Data{Channels: []ChanIB{{URI: "a b c", Name: "a\tb\nc\r"}}}),
		},
		{
			name: "chat text keeps CR LF",
			in:   envelope("<grpchat id=\"grpchat\" seqid=\"1\" chanUri=\"ma-chan://d/r\"><chat>line 1\r\nline 2</chat></grpchat>"),
			want: NewChat(7, Chat{ChanURI: "ma-chan://d/r", Text: "line 1\r\nline 2"}),
		},
		{
			name: "duplicate singular data blocks keep the first",
			in:   envelope(`<cmd id="cmd:bccontext" seqid="1"><data><bcq><last cnt="25"/></bcq><bcq><last cnt="3"/></bcq></data></cmd>`),
			want: NewCommand(7, "bccontext", &Data{History: &BCQ{Last: 25}}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.in))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse =\n%s\nwant\n%s", dump(got), dump(tt.want))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	deep := head + strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth) + "</xccos>"
	notDeep := head + `<cmd id="cmd:x"><data>` + strings.Repeat("<a>", MaxDepth-3) + strings.Repeat("</a>", MaxDepth-3) + "</data></cmd></xccos>"
	if _, err := Parse([]byte(notDeep)); err != nil {
		t.Fatalf("%d levels: %v", MaxDepth, err)
	}
	big := envelope(`<grpchat id="grpchat"><chat>` + strings.Repeat("x", MaxSize) + `</chat></grpchat>`)

	tests := []struct {
		name    string
		in      string
		want    error
		msg     string // the error message must contain this: what and where
		salvage bool   // the envelope with envid 7 comes back with the error
	}{
		// Not well-formed.
		{"empty input", ``, ErrSyntax, "offset 0: no root element", false},
		{"only a prolog", `<?xml version="1.0"?>`, ErrSyntax, "offset 21: no root element", false},
		{"mismatched tags", envelope(`<cmd id="cmd:x" seqid="1"></rpl>`), ErrSyntax, "offset 84: element <cmd> closed by </rpl>", true},
		{"truncated", head + `<cmd id="cmd:x" seqid="1"><data/>`, ErrSyntax, "offset 91: element <cmd> is not closed", true},
		{"truncated inside a tag", head + `<cmd id="cmd:x`, ErrSyntax, "offset 63: value of attribute id of <cmd> is not terminated", true},
		{"text after the root", envelope(`<cmd id="cmd:x"/>`) + `junk`, ErrSyntax, "offset 83: text after the root element <xccos>", true},
		{"second root", envelope(`<cmd id="cmd:x"/>`) + `<xccos/>`, ErrSyntax, "offset 83: second root element after </xccos>", true},
		{"text before the root", `hello` + envelope(``), ErrSyntax, "offset 0: text before the root element", false},
		{"DOCTYPE", `<!DOCTYPE xccos [<!ENTITY x "y">]>` + envelope(``), ErrSyntax, "offset 0: DOCTYPE is not allowed", false},
		{"undefined entity", envelope(`<grpchat id="grpchat"><chat>a&nbsp;b</chat></grpchat>`), ErrSyntax, "offset 87: undefined entity &nbsp; in <chat>", true},
		{"bare ampersand", envelope(`<grpchat id="grpchat"><chat>fish & chips</chat></grpchat>`), ErrSyntax, "offset 91: '&' in <chat> does not start an entity", true},
		{"NUL character reference", envelope(`<cmd id="cmd:&#0;"/>`), ErrSyntax, "offset 71: character reference &#0; in <cmd> is not an XML character", true},
		{"surrogate character reference", envelope(`<grpchat id="grpchat"><chat>&#xD800;</chat></grpchat>`), ErrSyntax, "&#xD800; in <chat> is not an XML character", true},
		{"'<' in an attribute", envelope(`<cmd id="cmd:<x>"/>`), ErrSyntax, "offset 71: '<' in value of attribute id of <cmd>", true},
		{"unquoted attribute", envelope(`<cmd id=cmd:x/>`), ErrSyntax, "offset 66: value of attribute id of <cmd> is not quoted", true},
		{"duplicate attribute", envelope(`<cmd id="cmd:x" id="cmd:y"/>`), ErrSyntax, "offset 74: attribute id of <cmd> appears twice", true},
		{"unterminated comment", envelope(`<!-- no end`), ErrSyntax, "offset 58: comment is not terminated", true},
		{"unterminated CDATA", envelope(`<grpchat id="grpchat"><chat><![CDATA[x</chat></grpchat>`), ErrSyntax, "offset 86: CDATA section in <chat> is not terminated", true},
		{"too deep", deep, ErrSyntax, "element <a> is nested more than 64 levels deep", true},
		{"too large", big, ErrSyntax, "offset 65536: input of 65647 bytes exceeds the limit of 65536 bytes", true},
		{"bcq cnt not an integer", envelope(`<cmd id="cmd:bccontext"><data><bcq><last cnt="many"/></bcq></data></cmd>`), ErrSyntax, `offset 99: <last> cnt "many" is not an integer`, true},
		{"bcq without cnt", envelope(`<cmd id="cmd:bccontext"><data><bcq><last/></bcq></data></cmd>`), ErrSyntax, "offset 93: <last> has no cnt attribute", true},
		{"bcq without last", envelope(`<cmd id="cmd:bccontext"><data><bcq/></data></cmd>`), ErrSyntax, "offset 88: <bcq> has no <last> child", true},
		{"msq limit not an integer", envelope(`<cmd id="cmd:msgsrch"><data><msq limit="ten"/></data></cmd>`), ErrSyntax, `offset 91: <msq> limit "ten" is not an integer`, true},
		// Well-formed, but not XCCOS.
		{"root is not xccos", `<html><body/></html>`, ErrNotXCCOS, "offset 0: root element is <html>, want <xccos>", false},
		{"envid missing", `<xccos ver="1"><cmd id="cmd:x"/></xccos>`, ErrEnvID, "offset 0: <xccos> has no envid attribute", false},
		{"envid not a number", `<xccos envid="abc"><cmd id="cmd:x"/></xccos>`, ErrEnvID, `offset 7: <xccos> envid "abc" is not an unsigned 64-bit integer`, false},
		{"envid negative", `<xccos envid="-1"><cmd id="cmd:x"/></xccos>`, ErrEnvID, `envid "-1" is not an unsigned 64-bit integer`, false},
		{"envid overflows 64 bits", `<xccos envid="18446744073709551616"><cmd id="cmd:x"/></xccos>`, ErrEnvID, `envid "18446744073709551616" is not`, false},
		{"commandid without envid", envelope(`<rpl id="rpl:x" seqid="1"><commandid seqid="1"/><resp code="200"/></rpl>`), ErrEnvID, "offset 84: <commandid> has no envid attribute", true},
		{"commandid envid not a number", envelope(`<rpl id="rpl:x"><commandid envid="x1"/><resp code="200"/></rpl>`), ErrEnvID, `offset 85: <commandid> envid "x1" is not`, true},
		{"no element", envelope(``), ErrEmpty, "offset 0: <xccos> has no element", true},
		{"self-closing root", `<xccos ver="1" envid="7"/>`, ErrEmpty, "offset 0: <xccos> has no element", true},
		{"only a comment", envelope(` <!-- nothing --> `), ErrEmpty, "<xccos> has no element", true},
		{"unknown top-level element", envelope(`<data/>`), ErrUnknownElement, "offset 58: unknown element <data> in <xccos>", true},
		{"cmd without id", envelope(`<cmd seqid="1"/>`), ErrBadID, "offset 58: <cmd> has no id attribute", true},
		{"cmd with a reply id", envelope(`<cmd id="rpl:join"/>`), ErrBadID, `offset 63: <cmd> id "rpl:join" does not start with "cmd:"`, true},
		{"ntc without a name", envelope(`<ntc id="ntc:"/>`), ErrBadID, `offset 63: <ntc> id "ntc:" has no name after "ntc:"`, true},
		{"grpchat with another id", envelope(`<grpchat id="chat"><chat/></grpchat>`), ErrBadID, `offset 67: <grpchat> id "chat", want "grpchat"`, true},
		{"rpl without commandid", envelope(`<rpl id="rpl:x"><resp code="200"/></rpl>`), ErrBadReply, "offset 58: <rpl> has no <commandid>", true},
		{"rpl without resp", envelope(`<rpl id="rpl:x"><commandid envid="1"/></rpl>`), ErrBadReply, "offset 58: <rpl> has no <resp>", true},
		{"resp without code", envelope(`<rpl id="rpl:x"><commandid envid="1"/><resp/></rpl>`), ErrBadReply, "offset 96: <resp> has no code attribute", true},
		{"resp code not an integer", envelope(`<rpl id="rpl:x"><commandid envid="1"/><resp code="OK"/></rpl>`), ErrBadReply, `offset 102: <resp> code "OK" is not an integer`, true},
		{"grpchat ts not a time", envelope(`<grpchat id="grpchat" ts="yesterday"><chat/></grpchat>`), ErrBadTime, `offset 80: <grpchat> ts "yesterday" is not a timestamp`, true},
		{"history msg ts not a time", envelope(reply("bccontext", `<data><chanib uri="u"><msg id="grpchat" ts="2010-13-01T00:00:00Z"/></chanib></data>`)), ErrBadTime, `<msg> ts "2010-13-01T00:00:00Z" is not a timestamp`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := Parse([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "xccos: ") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			var xe *Error
			if !errors.As(err, &xe) || xe.Offset < 0 {
				t.Errorf("error %v is not an *Error with an offset", err)
			}
			if tt.salvage {
				if env == nil || env.EnvID != 7 {
					t.Errorf("envelope with the error = %+v, want envid 7", env)
				}
			} else if env != nil {
				t.Errorf("envelope with the error = %+v, want nil", env)
			}
		})
	}
}

func TestParseErrorKeepsEarlierItems(t *testing.T) {
	in := envelope(reply("join", `<data/>`) + `<rpl id="rpl:part"><resp code="200"/></rpl>`)
	env, err := Parse([]byte(in))
	if !errors.Is(err, ErrBadReply) {
		t.Fatalf("error = %v, want ErrBadReply", err)
	}
	if env == nil || env.EnvID != 7 || len(env.Items) != 1 || env.Items[0].Name != "join" {
		t.Fatalf("envelope = %s, want envid 7 with the rpl:join item", dump(env))
	}
}

func TestErrorElement(t *testing.T) {
	_, err := Parse([]byte(envelope(`<cmd id="cmd:x" seqid="1"></rpl>`)))
	var xe *Error
	if !errors.As(err, &xe) {
		t.Fatalf("error %v is not an *Error", err)
	}
	if xe.Element != "cmd" || xe.Offset != 84 || xe.Err != ErrSyntax {
		t.Errorf("Error = %+v, want element cmd at offset 84", *xe)
	}
	if got, want := err.Error(), "xccos: offset 84: element <cmd> closed by </rpl>"; got != want {
		t.Errorf("message %q, want %q", got, want)
	}
}

func TestParseTruncatedLogEnvelopes(t *testing.T) {
	for _, le := range append(logEnvelopes(sipelog.ClientToServer), logEnvelopes(sipelog.ServerToClient)...) {
		full, err := Parse(le.body)
		if err != nil {
			t.Fatalf("%s: %v", le.name, err)
		}
		rootEnd := bytes.IndexByte(le.body, '>') + 1
		for i := range len(le.body) {
			env, err := Parse(le.body[:i])
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("%s cut at %d: error %v, want ErrSyntax", le.name, i, err)
			}
			if salvaged := env != nil && env.EnvID == full.EnvID; salvaged != (i >= rootEnd) {
				t.Fatalf("%s cut at %d: envelope %+v (root tag ends at %d)", le.name, i, env, rootEnd)
			}
		}
	}
}

func TestParseDoesNotRetainInput(t *testing.T) {
	in := []byte(envelope(`<grpchat id="grpchat" seqid="1" chanUri="ma-chan://d/r" author="sip:a@d"><chat>hello</chat></grpchat>`))
	env, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'X'
	}
	if c := env.Items[0].Chat; c.Text != "hello" || c.Author != "sip:a@d" || env.NS != Namespace {
		t.Errorf("parsed values changed with the input: %+v", c)
	}
}
