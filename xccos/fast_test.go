package xccos

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseChatAgreesWithParse(t *testing.T) {
	ts := time.Date(2026, 11, 21, 21, 42, 34, 123456700, time.UTC)
	cases := []string{
		string(AppendChat(nil, 18446744073709551615, &Chat{ChanURI: "ma-chan://example.com/room1", Author: "sip:alice@example.com", TS: ts, Text: "hi bob"})),
		string(AppendChat(nil, 1, &Chat{ChanURI: "ma-chan://d/r", Author: "sip:a@d", TS: ts, Text: "a & b < c > \"d\" 'e'\r\nline two", Story: true})),
		`<xccos ver="1" envid="1009" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1" chanUri="ma-chan://example.com/room1" author="sip:alice@example.com" ts="2026-11-21T21:42:34Z"><chat>hi bob (no echo test)</chat></grpchat></xccos>`,
	}
	for _, in := range cases {
		envid, c, ok := ParseChat([]byte(in))
		if !ok {
			t.Fatalf("fast path refused %s", in)
		}
		e, err := Parse([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if envid != e.EnvID || !reflect.DeepEqual(c, *e.Items[0].Chat) {
			t.Fatalf("fast %d %+v\nslow %d %+v", envid, c, e.EnvID, *e.Items[0].Chat)
		}
	}
	// shapes the fast path leaves to Parse, so the checks see them
	for _, in := range []string{
		strings.Replace(cases[2], `ver="1"`, `ver="2"`, 1),
		strings.Replace(cases[2], Namespace, "urn:other", 1),
		strings.Replace(cases[2], `xmlns="urn:parlano:xml:ns:xccos"`, `xmlns="urn:parlano:xml:ns:xccos" xmlns:xsd="x"`, 1),
		strings.Replace(cases[2], `<chat>hi`, `<chat><![CDATA[hi]]>`, 1),
		strings.Replace(cases[2], ` ts="2026-11-21T21:42:34Z"`, ``, 1),
		strings.Replace(cases[2], `ts="2026-11-21T21:42:34Z"`, `ts="yesterday"`, 1),
		strings.Replace(cases[2], `hi bob`, `hi &#98;ob`, 1),
		strings.Replace(cases[2], `envid="1009"`, `envid="99999999999999999999"`, 1),
		strings.Replace(cases[2], `<grpchat`, `<rpl`, 1),
		cases[2][:len(cases[2])-1],
	} {
		if _, _, ok := ParseChat([]byte(in)); ok {
			t.Errorf("fast path accepted %s", in)
		}
	}
}

// FuzzParseChat: whenever the fast path accepts an input, Parse agrees.
func FuzzParseChat(f *testing.F) {
	f.Add([]byte(`<xccos ver="1" envid="1009" xmlns="urn:parlano:xml:ns:xccos"><grpchat id="grpchat" seqid="1" chanUri="ma-chan://example.com/room1" author="sip:alice@example.com" ts="2026-11-21T21:42:34Z"><chat>hi &amp; bob</chat></grpchat></xccos>`))
	f.Fuzz(func(t *testing.T, b []byte) {
		envid, c, ok := ParseChat(b)
		if !ok {
			return
		}
		e, err := Parse(b)
		if err != nil {
			t.Fatalf("fast path accepted what Parse refuses (%v): %q", err, b)
		}
		if len(e.Items) != 1 || e.Items[0].Kind != KindChat || envid != e.EnvID || !reflect.DeepEqual(c, *e.Items[0].Chat) {
			t.Fatalf("fast path differs: %d %+v vs %+v for %q", envid, c, e, b)
		}
	})
}

// BenchmarkParseChatFast measures ParseChatString, what the client calls
// on each delivery (Message.BodyString is a view: no copy); ParseChat of
// a []byte adds the string conversion's copy.
func BenchmarkParseChatFast(b *testing.B) {
	in := string(AppendChat(nil, 1<<50, &Chat{ChanURI: "ma-chan://example.com/b-0", Author: "sip:user12@example.com", TS: time.Now(), Text: strings.Repeat("the quick brown fox ", 6)}))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, _, ok := ParseChatString(in); !ok {
			b.Fatal("refused")
		}
	}
}

// TestParseChatStringAllocs: the delivery fast path allocates nothing for
// a text without entities (its strings are views of the input).
func TestParseChatStringAllocs(t *testing.T) {
	in := string(AppendChat(nil, 1<<50, &Chat{ChanURI: "ma-chan://example.com/b-0", Author: "sip:user12@example.com", TS: time.Now(), Text: strings.Repeat("the quick brown fox ", 6)}))
	if n := testing.AllocsPerRun(100, func() {
		if _, _, ok := ParseChatString(in); !ok {
			t.Fatal("refused")
		}
	}); n != 0 {
		t.Fatalf("ParseChatString allocates %v times per call, want 0", n)
	}
}

// TestParseChatFilePost: the fast path leaves a file post to Parse, which
// keeps its ftdb.
func TestParseChatFilePost(t *testing.T) {
	b := AppendChat(nil, 9, &Chat{ChanURI: "ma-chan://d/r", Author: "sip:a@d", TSRaw: "2010-09-14T14:26:17Z", Text: "f.txt", File: &FTDB{ChannelURI: "ma-chan://d/r", FileURL: "http://h/files/1"}})
	if _, _, ok := ParseChat(b); ok {
		t.Fatalf("the fast path took a file post: %s", b)
	}
	e, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if f := e.Items[0].Chat.File; f == nil || f.FileURL != "http://h/files/1" || f.ChannelURI != "ma-chan://d/r" {
		t.Fatalf("file post parsed as %+v", e.Items[0].Chat)
	}
}
