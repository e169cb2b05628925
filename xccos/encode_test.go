package xccos

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMarshalCanonical(t *testing.T) {
	ts := time.Date(2010, 9, 14, 14, 26, 17, 620635600, time.UTC)
	tests := []struct {
		name string
		env  *Envelope
		want string // between head and </xccos> unless it starts with "<xccos"
	}{
		{"command with empty data", NewCommand(7, "requri", &Data{}), `<cmd id="cmd:requri" seqid="1"><data/></cmd>`},
		{"command without data", NewCommand(7, "getinv", nil), `<cmd id="cmd:getinv" seqid="1"></cmd>`},
		{"data with only unknown elements", NewCommand(7, "x", &Data{Unknown: []string{"foo"}}), `<cmd id="cmd:x" seqid="1"><data/></cmd>`},
		{"reply defaults its text", NewReply(7, "join", 42, 200, "", nil),
			`<rpl id="rpl:join" seqid="1"><commandid seqid="1" envid="42"/><resp code="200">SUCCESS_OK</resp></rpl>`},
		{"error reply", NewReply(7, "join", 42, 403, "not a member", &Data{}),
			`<rpl id="rpl:join" seqid="1"><commandid seqid="1" envid="42"/><resp code="403">not a member</resp><data/></rpl>`},
		{"notice", NewNotice(7, "join", &Data{Users: []UIB{{ID: "9", URI: "sip:bob@example.com", Affiliations: []AIB{{Key: AffMember, Domain: "example.com", Value: "room1"}}}}}),
			`<ntc id="ntc:join" seqid="1"><data><uib id="9" uri="sip:bob@example.com"><aib key="3984" domain="example.com" value="room1"/></uib></data></ntc>`},
		{"chat with TSRaw", NewChat(7, Chat{ChanURI: "ma-chan://d/r", Author: "sip:a@d", TS: ts, TSRaw: "2010-09-14T14:26:17Z", Text: "hi"}),
			`<grpchat id="grpchat" seqid="1" chanUri="ma-chan://d/r" author="sip:a@d" ts="2010-09-14T14:26:17Z"><chat>hi</chat></grpchat>`},
		{"chat with TS only", NewChat(7, Chat{ChanURI: "ma-chan://d/r", Author: "sip:a@d", TS: ts, Text: "hi"}),
			`<grpchat id="grpchat" seqid="1" chanUri="ma-chan://d/r" author="sip:a@d" ts="2010-09-14T14:26:17.6206356Z"><chat>hi</chat></grpchat>`},
		{"file post", NewChat(7, Chat{ChanURI: "ma-chan://d/r", Author: "sip:a@d", TSRaw: "2010-09-14T14:26:17Z", Text: "a&b.pdf", File: &FTDB{ChannelURI: "ma-chan://d/r", FileURL: "http://h/files/x?a=1&b=2"}}),
			`<grpchat id="grpchat" seqid="1" chanUri="ma-chan://d/r" author="sip:a@d" ts="2010-09-14T14:26:17Z"><chat>a&amp;b.pdf</chat><ftdb channelUri="ma-chan://d/r" fileUrl="http://h/files/x?a=1&amp;b=2"/></grpchat>`},
		{"chat without attributes", NewChat(7, Chat{}), `<grpchat id="grpchat" seqid="1"><chat></chat></grpchat>`},
		{"empty seqids, version and namespace", &Envelope{EnvID: 7, Items: []Item{
			{Kind: KindReply, Name: "x", Reply: &ReplyInfo{CommandEnvID: 1}},
			{Kind: KindChat},
			{Kind: 0, Name: "skipped"},
		}}, `<rpl id="rpl:x" seqid="1"><commandid seqid="1" envid="1"/><resp code="0"></resp></rpl><grpchat id="grpchat" seqid="1"><chat></chat></grpchat>`},
		{"given seqid, version and namespace", &Envelope{EnvID: 7, Ver: "2", NS: "urn:x", Items: []Item{{Kind: KindNotice, Name: "part", SeqID: "5"}}},
			`<xccos ver="2" envid="7" xmlns="urn:x"><ntc id="ntc:part" seqid="5"></ntc></xccos>`},
		{"self-closing chanib and uib", NewNotice(7, "part", &Data{Users: []UIB{{URI: "sip:a@d"}}, Channels: []ChanIB{{URI: "ma-chan://example.com/room1"}}}),
			`<ntc id="ntc:part" seqid="1"><data><uib uri="sip:a@d"/><chanib uri="ma-chan://example.com/room1"/></data></ntc>`},
		{"every data block in canonical order", NewReply(7, "all", 42, 200, "", &Data{
			Search:   &MsgQuery{ChanURI: "c", Author: "a", Keyword: "k", From: "f", To: "t", Limit: 5},
			Token:    &Token{Token: "T", ServerURI: "https://d"},
			File:     &FTDB{ChannelURI: "c", FileURL: "u"},
			Invites:  []Inv{{InviteID: "1", Domain: "d"}, {InviteID: "2", ChanURI: "c", Author: "a"}},
			Server:   &SIB{Domain: "d", InfoType: "123", ServerTime: "st", SearchLimit: "999", MessageSizeLimit: "512", StorySizeLimit: "4096", RootURI: "r", DBVersion: "v"},
			History:  &BCQ{Last: 25},
			Query:    &QIB{},
			ChanIDs:  []ChanID{{Key: "0", Domain: "d", Value: "r"}, {}},
			Channels: []ChanIB{{URI: "u", Name: "n", Description: "de", Topic: "t", Info: []KV{{InfoUserCount, "3"}}, Props: []KV{{PropLogged, "true"}}, Affiliations: []AIB{{Key: AffManager, Value: "0"}}, Users: []UIB{{ID: "0"}}, Messages: []Chat{{ChanURI: "u", Text: "m"}}}},
			Users:    []UIB{{ID: "0", URI: "sip:a@d"}},
		}), `<rpl id="rpl:all" seqid="1"><commandid seqid="1" envid="42"/><resp code="200">SUCCESS_OK</resp><data>` +
			`<uib id="0" uri="sip:a@d"/>` +
			`<chanib uri="u" name="n" description="de" topic="t"><info id="urn:parlano:ma:info:ucnt">3</info><prop id="urn:parlano:ma:prop:logged">true</prop>` +
			`<aib key="12276" value="0"/><uib id="0"/><msg id="grpchat" seqid="1" chanUri="u"><chat>m</chat></msg></chanib>` +
			`<chanid key="0" domain="d" value="r"/><chanid key="" domain="" value=""/>` +
			`<qib qtype="" criteria="" extended=""/>` +
			`<bcq><last cnt="25"/></bcq>` +
			`<sib domain="d" infoType="123" serverTime="st" searchLimit="999" messageSizeLimit="512" storySizeLimit="4096" rootUri="r" dbVersion="v"/>` +
			`<inv inviteId="1" domain="d"/><inv inviteId="2" chanUri="c" author="a"/>` +
			`<ftdb channelUri="c" fileUrl="u"/><token token="T" serveruri="https://d"/>` +
			`<msq chanUri="c" author="a" keyword="k" from="f" to="t" limit="5"/>` +
			`</data></rpl>`},
		{"empty msq", NewCommand(7, "msgsrch", &Data{Search: &MsgQuery{}}), `<cmd id="cmd:msgsrch" seqid="1"><data><msq/></data></cmd>`},
		{"escaping", NewChat(7, Chat{ChanURI: "a&b<c>\"d'", Author: "x\ty\rz\n", Text: "a&b<c>\"d'\r\n"}),
			`<grpchat id="grpchat" seqid="1" chanUri="a&amp;b&lt;c&gt;&quot;d'" author="x&#9;y&#13;z&#10;"><chat>a&amp;b&lt;c&gt;"d'` + "\r\n" + `</chat></grpchat>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if !strings.HasPrefix(want, "<xccos") {
				want = envelope(want)
			}
			if got := string(tt.env.Marshal()); got != want {
				t.Errorf("Marshal\n got: %s\nwant: %s", got, want)
			}
			prefix := []byte("prefix:")
			if got := tt.env.Append(prefix); string(got) != "prefix:"+want {
				t.Errorf("Append does not append to dst: %s", got)
			}
		})
	}
}

func TestAwkwardTextRoundTrip(t *testing.T) {
	texts := []string{
		`& < > " '`,
		"line 1\r\nline 2\nline 3\rend",
		"\ttabbed\t",
		"  leading and trailing spaces  ",
		"Grüße, 日本語, Ελληνικά",
		"emoji 😀👍🏽 and a ZWJ sequence 👩‍👩‍👧",
		"]]> looks like the end of CDATA",
		"&amp; is not decoded twice; &#38; neither",
		"<chat>nested</chat>",
		"",
	}
	for _, s := range texts {
		t.Run(s, func(t *testing.T) {
			want := NewChat(18446744073709551615, Chat{ChanURI: "ma-chan://d/" + s, Author: s, TSRaw: "2010-09-14T14:26:17Z", TS: utc("2010-09-14T14:26:17Z"), Text: s})
			want.Items = append(want.Items, Item{Kind: KindCommand, Name: s, SeqID: s, Data: &Data{
				Channels: []ChanIB{{URI: s, Name: s, Description: s, Topic: s, Info: []KV{{s, s}}, Props: []KV{{s, s}}, Messages: []Chat{{ChanURI: s, Author: s, Text: s, File: &FTDB{ChannelURI: s, FileURL: s}}}}},
				Query:    &QIB{QType: s, Criteria: s, Extended: s},
				Search:   &MsgQuery{Keyword: s},
			}})
			want.Items = append(want.Items, Item{Kind: KindReply, Name: "r", SeqID: "1", Reply: &ReplyInfo{CommandSeqID: "1", Text: s}})
			if s == "" {
				// An empty name is not a valid id, and the empty seqid renders "1".
				want.Items[1].Name, want.Items[1].SeqID = "x", "1"
			}
			b := want.Marshal()
			got, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip of %s\n got: %s\nwant: %s", b, dump(got), dump(want))
			}
			if again := got.Marshal(); !bytes.Equal(again, b) {
				t.Errorf("second Marshal differs\n got: %s\nwant: %s", again, b)
			}
		})
	}
}

func TestAppendChat(t *testing.T) {
	c := Chat{ChanURI: "ma-chan://example.com/room1", Author: "sip:alice@example.com", TSRaw: "2026-11-21T21:42:34Z", Text: "hi <bob> & co"}
	want := NewChat(1009, c).Marshal()
	if got := AppendChat(nil, 1009, &c); !bytes.Equal(got, want) {
		t.Errorf("AppendChat\n got: %s\nwant: %s", got, want)
	}
	const empty = `<xccos ver="1" envid="3" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1"><chat></chat></grpchat></xccos>`
	if got := AppendChat(nil, 3, nil); string(got) != empty {
		t.Errorf("AppendChat(nil chat) = %s", got)
	}
	buf := make([]byte, 0, 512)
	c.TSRaw, c.TS = "", time.Now()
	if n := testing.AllocsPerRun(100, func() { buf = AppendChat(buf[:0], 18446744073709551615, &c) }); n != 0 {
		t.Errorf("AppendChat allocates %v times per call, want 0", n)
	}
}

func TestChanURI(t *testing.T) {
	if got := ChanURI("example.com", "room1"); got != "ma-chan://example.com/room1" {
		t.Errorf("ChanURI = %q", got)
	}
	tests := []struct {
		uri, domain, id string
		ok              bool
	}{
		{"ma-chan://example.com/room1", "example.com", "room1", true},
		{"ma-chan://d/a/b", "d", "a/b", true},
		{"ma-chan://example.com/", "", "", false},
		{"ma-chan:///room1", "", "", false},
		{"ma-chan://example.com", "", "", false},
		{"sip:room1@example.com", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		d, id, ok := SplitChanURI(tt.uri)
		if d != tt.domain || id != tt.id || ok != tt.ok {
			t.Errorf("SplitChanURI(%q) = %q, %q, %v; want %q, %q, %v", tt.uri, d, id, ok, tt.domain, tt.id, tt.ok)
		}
	}
}

func TestTextLen(t *testing.T) {
	for s, want := range map[string]int{"": 0, "abc": 3, "é": 1, "😀": 1, "a\r\nb": 4, strings.Repeat("ü", StoryThreshold): StoryThreshold} {
		if got := TextLen(s); got != want {
			t.Errorf("TextLen(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindCommand: "cmd", KindReply: "rpl", KindNotice: "ntc", KindChat: "grpchat", 0: "unknown"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}

func TestStoryAttribute(t *testing.T) {
	ts := time.Date(2026, 11, 21, 21, 42, 34, 0, time.UTC)
	e := NewChat(5, Chat{ChanURI: "ma-chan://d/r", Author: "sip:a@d", TS: ts, Text: "long", Story: true})
	b := e.Marshal()
	want := `<xccos ver="1" envid="5" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1" chanUri="ma-chan://d/r" author="sip:a@d" ts="2026-11-21T21:42:34.0000000Z" story="true"><chat>long</chat></grpchat></xccos>`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
	got, err := Parse(b)
	if err != nil || !got.Items[0].Chat.Story {
		t.Fatalf("story lost in the round trip: %v %+v", err, got)
	}
	if c, _ := Parse([]byte(`<xccos ver="1" envid="5" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1" ts="2026-11-21T21:42:34Z"><chat>x</chat></grpchat></xccos>`)); c.Items[0].Chat.Story {
		t.Fatal("a post without the attribute is a story")
	}
}
